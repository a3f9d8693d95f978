"""``python -m linelab``: the same as the ``linelab`` console script.

`linelab` imports neither `emulator`, `tapi` nor `scenarios` (ARCHITECTURE.md rule 1),
so the command is found the way the installed script finds it: through the
distribution's ``console_scripts`` entry point named ``linelab``.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points


def main() -> int:
    (script,) = entry_points(group="console_scripts", name="linelab")
    status: int = script.load()()
    return status


if __name__ == "__main__":
    sys.exit(main())
