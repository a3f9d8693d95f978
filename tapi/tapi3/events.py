"""The event objects of the 3.x layer (ITCallNotificationEvent, ITCallStateEvent,
ITCallInfoChangeEvent, ITAddressEvent, ITTAPIObjectEvent).

Each carries `event_type` (its TAPI_EVENT bit, the first argument of
ITTAPIEventNotification::Event) and its data as attributes, plus Microsoft's getters
(``get_Call()``, ``get_State()`` …) in the flat form: ``(hr, value)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tapi import constants as C

if TYPE_CHECKING:
    from tapi.tapi3.objects import TAPI, Address, Call


@dataclass(frozen=True, eq=False)
class TapiEvent:
    """Base of every event: `event_type` is its TE_* value."""

    event_type: ClassVar[int] = 0

    @property
    def type_name(self) -> str:
        return _TE_NAMES.get(self.event_type, hex(self.event_type))


@dataclass(frozen=True, eq=False)
class CallNotificationEvent(TapiEvent):
    """TE_CALLNOTIFICATION: the layer made a call object for this app (an incoming or
    monitored call). `event` is CNE_OWNER or CNE_MONITOR; `callback_instance` is the
    lCallbackInstance of the registration it came through."""

    event_type: ClassVar[int] = C.TE_CALLNOTIFICATION
    call: Call
    event: int
    callback_instance: int

    def get_Call(self) -> tuple[int, Call]:
        return C.S_OK, self.call

    def get_Event(self) -> tuple[int, int]:
        return C.S_OK, self.event

    def get_CallbackInstance(self) -> tuple[int, int]:
        return C.S_OK, self.callback_instance


@dataclass(frozen=True, eq=False)
class CallStateEvent(TapiEvent):
    """TE_CALLSTATE: the call's CALL_STATE changed; `cause` is its CALL_STATE_EVENT_CAUSE."""

    event_type: ClassVar[int] = C.TE_CALLSTATE
    call: Call
    state: int
    cause: int
    callback_instance: int

    def get_Call(self) -> tuple[int, Call]:
        return C.S_OK, self.call

    def get_State(self) -> tuple[int, int]:
        return C.S_OK, self.state

    def get_Cause(self) -> tuple[int, int]:
        return C.S_OK, self.cause

    def get_CallbackInstance(self) -> tuple[int, int]:
        return C.S_OK, self.callback_instance


@dataclass(frozen=True, eq=False)
class CallInfoChangeEvent(TapiEvent):
    """TE_CALLINFOCHANGE: one piece of the call's information changed (`cause`: CIC_*)."""

    event_type: ClassVar[int] = C.TE_CALLINFOCHANGE
    call: Call
    cause: int
    callback_instance: int

    def get_Call(self) -> tuple[int, Call]:
        return C.S_OK, self.call

    def get_Cause(self) -> tuple[int, int]:
        return C.S_OK, self.cause

    def get_CallbackInstance(self) -> tuple[int, int]:
        return C.S_OK, self.callback_instance


@dataclass(frozen=True, eq=False)
class AddressEvent(TapiEvent):
    """TE_ADDRESS: `event` is AE_RINGING (with the ring count in `ring_count`) or AE_STATE
    (`state`: AS_INSERVICE / AS_OUTOFSERVICE)."""

    event_type: ClassVar[int] = C.TE_ADDRESS
    address: Address
    event: int
    ring_count: int = 0
    state: int = C.AS_INSERVICE

    def get_Address(self) -> tuple[int, Address]:
        return C.S_OK, self.address

    def get_Event(self) -> tuple[int, int]:
        return C.S_OK, self.event


@dataclass(frozen=True, eq=False)
class TapiObjectEvent(TapiEvent):
    """TE_TAPIOBJECT: TE_ADDRESSCREATE (a device appeared: LINE_CREATE), TE_ADDRESSREMOVE
    (LINE_REMOVE) or TE_ADDRESSCLOSE (the provider closed a line the layer had open:
    LINE_CLOSE)."""

    event_type: ClassVar[int] = C.TE_TAPIOBJECT
    tapi: TAPI
    event: int
    address: Address | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get_TAPIObject(self) -> tuple[int, TAPI]:
        return C.S_OK, self.tapi

    def get_Event(self) -> tuple[int, int]:
        return C.S_OK, self.event

    def get_Address(self) -> tuple[int, Address | None]:
        return C.S_OK, self.address


_TE_NAMES = {
    C.TE_CALLNOTIFICATION: "TE_CALLNOTIFICATION",
    C.TE_CALLSTATE: "TE_CALLSTATE",
    C.TE_CALLINFOCHANGE: "TE_CALLINFOCHANGE",
    C.TE_ADDRESS: "TE_ADDRESS",
    C.TE_TAPIOBJECT: "TE_TAPIOBJECT",
}
