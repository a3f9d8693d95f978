"""TAPI 3.x objects over the flat TAPI 2.x API (docs/tapi3.md).

::

    from tapi.tapi3 import TAPI, TE_CALLNOTIFICATION, TE_CALLSTATE
    with TAPI(stack) as t:                      # Initialize ... Shutdown
        t.event_filter = TE_CALLNOTIFICATION | TE_CALLSTATE
        address = t.addresses()[0]
        with address.create_call("5550100") as call:
            call.connect()                      # synchronous: CS_CONNECTED or TapiError
            ...
        # leaving the block released the call (disconnecting it first)

Each method also exists under Microsoft's name with the HRESULT convention
(``hr = t.Initialize()``, ``hr, lRegister = t.RegisterCallNotifications(...)``).
"""

from tapi.tapi3.constants import *  # noqa: F403
from tapi.tapi3.errors import TapiError, check
from tapi.tapi3.events import (
    AddressEvent,
    CallInfoChangeEvent,
    CallNotificationEvent,
    CallStateEvent,
    TapiEvent,
    TapiObjectEvent,
)
from tapi.tapi3.objects import TAPI, Address, BasicCallControl, Call, CallInfo

__all__ = [
    "TAPI",
    "Address",
    "AddressEvent",
    "BasicCallControl",
    "Call",
    "CallInfo",
    "CallInfoChangeEvent",
    "CallNotificationEvent",
    "CallStateEvent",
    "TapiError",
    "TapiEvent",
    "TapiObjectEvent",
    "check",
]
