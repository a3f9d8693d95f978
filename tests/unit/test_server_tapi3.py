"""The TAPI 3.x objects (tapi.tapi3) over the telephony server: `TAPI` takes any object
with the flat 2.x methods, so a `ServerStack` serves it unchanged."""

from __future__ import annotations

from test_server_api import Served, served

from tapi.tapi3 import TAPI, CallNotificationEvent
from tapi.tapi3 import constants as K

__all__ = ["served"]


def test_tapi3_objects_through_the_server(served: Served) -> None:
    client = served.client()
    t = TAPI(client, app_name="tapi3 via server")
    assert t.initialize() == K.S_OK
    t.event_filter = K.TE_CALLNOTIFICATION | K.TE_CALLSTATE
    t.register_call_notifications(t.addresses()[0], owner=True)
    served.lines[0].incoming()
    while True:
        event = t.get_event(10.0)
        assert event is not None, "no call notification through the server"
        if isinstance(event, CallNotificationEvent):
            break
    call = event.call
    assert call.Answer() == K.S_OK
    assert call.state == K.CS_CONNECTED
    assert served.stack.hierarchy().counts()["calls"] == 1
    assert call.Disconnect(K.DC_NORMAL) == K.S_OK
    t.shutdown()
    assert served.stack.hierarchy().is_empty()
    client.close()
