"""Shared foundations of linelab: the project error type, the versioned-YAML loader
and the injected clock.

`emulator`, `tapi` and `scenarios` all import this package; it imports none of them,
so the one-way dependency rule of docs/ARCHITECTURE.md holds.
"""

from linelab.errors import LinelabError as LinelabError
from linelab.errors import SpecError as SpecError

__all__ = ["LinelabError", "SpecError"]
