"""linelab's Python implementation of the Microsoft TAPI 2.x line API.

Not to be confused with the unrelated PyPI package also called ``tapi``.

Everything a TAPI programmer expects is importable from here: the flat functions
(``lineInitializeEx``, ``lineOpen`` …, acting on the default `Stack`), the structures
(``LINEMESSAGE``, ``LINECALLPARAMS`` …) and the constants with their exact values
(``LINEERR_INVALAPPHANDLE``, ``LINEMAPPER`` …)::

    from tapi import lineInitializeEx, LINEINITIALIZEEXPARAMS, LINEINITIALIZEEXOPTION_USEEVENT
    params = LINEINITIALIZEEXPARAMS(dwOptions=LINEINITIALIZEEXOPTION_USEEVENT)
    rc, hLineApp, dwNumDevs, dwAPIVersion, params = lineInitializeEx(
        None, None, "my app", 0x00020002, params)
"""

from tapi.api import *  # noqa: F403
from tapi.api import FUNCTIONS
from tapi.constants import *  # noqa: F403
from tapi.constants import __all__ as _constants
from tapi.core.args import OUT
from tapi.stack import Stack, get_default_stack, set_default_stack, using_stack
from tapi.structs import *  # noqa: F403
from tapi.structs import __all__ as _structs

__all__ = [
    *FUNCTIONS,
    *_constants,
    *_structs,
    "OUT",
    "Stack",
    "get_default_stack",
    "set_default_stack",
    "using_stack",
]
