"""Calls beyond the process over TCP, as tcpser users expect.

- **Dial out** (`TcpTrunk`, ``linelab modem --tcp NUMBER=HOST:PORT``): a number on the
  exchange that is a TCP endpoint. Dialling it opens a connection to HOST:PORT; once
  connected the far end answers and the connection's bytes are the call's data. A
  refused or failed connection ends the attempt (the modem says NO CARRIER).
- **Ring in** (`TcpListener`, ``linelab modem --listen PORT[=LINK]``): an incoming TCP
  connection (on loopback by default) rings a modem, with caller ID "out of area"; when
  the modem answers (ATA, or S0 auto-answer) the bytes flow. A busy modem, or one that
  never answers, closes the connection.

Bytes cross unchanged in both ways: there is no telnet option handling. Either side
ending the call ends the other: the connection closing is a far-end hang-up (NO
CARRIER), and the modem hanging up (ATH, DTR drop, carrier loss) closes the
connection after the data sent before it. Back-pressure holds in both directions: the
modem is told to wait while the socket's send buffer is full, and reading from the
socket pauses while the modem has no room, so nothing is dropped.

Everything here runs on the host's event loop (`emulator.transports.host.ModemHost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any, cast

from emulator.network.subscriberline import (
    Busy,
    CallerGone,
    CallerId,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    LineEvent,
    RemoteHangup,
    Ringback,
    Unobtainable,
)
from emulator.transports.host import ModemHost
from linelab.errors import LinelabError

log = logging.getLogger(__name__)

#: Bytes a connection may hold unsent before the modem is told to wait.
SEND_LIMIT = 64 * 1024
#: Bytes read from a socket and held for the modem before reading pauses.
RECEIVE_LIMIT = 64 * 1024
#: Real seconds between tries to hand held bytes to a modem that had no room.
ROOM_POLL = 0.005
#: Rings an incoming TCP call waits for the modem to answer before it gives up.
RING_LIMIT = 10
#: Caller ID of a call that comes in over TCP: the network cannot say who it is.
TCP_CALLER = CallerId(number_absent="O", name_absent="O")

_ENDS = (RemoteHangup, CarrierLost, CallerGone, Busy, Unobtainable)


_PORT = re.compile(r"[0-9]{1,5}")


def parse_address(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` -> (host, port). Raises LinelabError."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host.removeprefix("[").removesuffix("]") or default_host
    if _PORT.fullmatch(port) is None or not 0 <= int(port) <= 65535:
        raise LinelabError(f"{text!r}: want HOST:PORT with a port from 0 to 65535")
    return host, int(port)


class _Bridge(asyncio.Protocol):
    """One TCP connection carrying the data of one call on one exchange line."""

    def __init__(self, host: ModemHost) -> None:
        self.host = host
        self.line: Any = None  # emulator.network.exchange.ExchangeLine, once known
        self.transport: asyncio.Transport | None = None
        self.connected = False  # the call is connected: data may flow
        self.ended = False
        self._held = bytearray()  # from the socket, waiting for room at the modem
        self._eof = False
        self._retry: asyncio.TimerHandle | None = None
        self.rings = 0

    # -- the socket side ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, so no
        # isinstance check: it has the same methods).
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=SEND_LIMIT)

    def data_received(self, data: bytes) -> None:
        self._held += data
        self._push()

    def eof_received(self) -> bool:
        self._eof = True
        self._push()
        return True  # keep our side open until the held bytes reached the modem

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self.transport = None
        self._push()

    def resume_writing(self) -> None:
        self.host.schedule_service()  # the modem may send again

    # -- the exchange side (LinePeer) ----------------------------------------------------
    def line_event(self, event: LineEvent) -> None:
        if isinstance(event, Connected):
            self.connected = True
            self._push()
        elif isinstance(event, Data):
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(event.data)
        elif isinstance(event, Ringback):
            # Only an incoming TCP call hears ringback: it gives up after RING_LIMIT.
            self.rings += 1
            if self.rings > RING_LIMIT and self.line is not None:
                self.ended = True
                self.line.hangup()
                self.host.schedule_service()
                self._close()
        elif isinstance(event, _ENDS):
            self.ended = True
            self.connected = False
            self._close()

    def rx_room(self) -> int:
        transport = self.transport
        if transport is None or transport.is_closing() or not self.connected:
            return 0
        return max(0, SEND_LIMIT - transport.get_write_buffer_size())

    # -- internals --------------------------------------------------------------------------
    def _push(self) -> None:
        """Hand held socket bytes to the modem as its room allows; at the end of the
        stream (once they are all across), hang up."""
        self._retry = None
        line = self.line
        if self.ended or line is None:
            if self._eof and line is None:
                self._close()
            return
        if self.connected and self._held:
            room = line.send_room()
            if room > 0:
                chunk = bytes(self._held[:room])
                del self._held[: len(chunk)]
                line.send(chunk)
                self.host.schedule_service()
        if self._held and self.connected:
            self._pause()
            if self._retry is None:
                self._retry = asyncio.get_running_loop().call_later(ROOM_POLL, self._push)
            return
        if len(self._held) >= RECEIVE_LIMIT:
            self._pause()
            return
        if self._eof:
            self.ended = True
            line.hangup()
            self.host.schedule_service()
            self._close()
            return
        if self.transport is not None:
            self.transport.resume_reading()

    def _pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.transport is not None:
            self.transport.close()  # after the bytes already written


class TcpTrunk:
    """A number on the exchange that is a TCP endpoint (see module doc): one call at a
    time; a second caller gets BUSY from the exchange."""

    def __init__(self, host: ModemHost, number: str, address: tuple[str, int]) -> None:
        self.host = host
        self.address = address
        self.bridge: _Bridge | None = None
        self._connecting: asyncio.Task[None] | None = None
        self.line = host.exchange.attach(self, number)
        host.exchange._record(number, f"tcp {number} -> {address[0]}:{address[1]}")

    def line_event(self, event: LineEvent) -> None:
        if isinstance(event, IncomingCall):
            fresh = self.bridge = _Bridge(self.host)
            fresh.line = self.line
            self._connecting = asyncio.get_running_loop().create_task(self._connect(fresh))
            return
        bridge = self.bridge
        if bridge is None:
            return
        if isinstance(event, CallerGone) and self._connecting is not None:
            self._connecting.cancel()
        bridge.line_event(event)
        if bridge.ended:
            self.bridge = None

    def rx_room(self) -> int:
        return self.bridge.rx_room() if self.bridge is not None else 0

    async def _connect(self, bridge: _Bridge) -> None:
        host, port = self.address
        try:
            await asyncio.get_running_loop().create_connection(lambda: bridge, host, port)
        except OSError as exc:
            log.info("tcp %s: cannot connect to %s:%s: %s", self.line.number, host, port, exc)
            self.host.exchange._record(self.line.number, f"tcp connect failed: {exc}")
            if self.bridge is bridge:
                self.bridge = None
            self.line.reject()
            self.host.schedule_service()
            return
        finally:
            self._connecting = None
        if bridge.ended:  # the caller gave up while we connected
            bridge._close()
            return
        self.line.answer()
        self.host.schedule_service()

    def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self.bridge is not None:
            self.bridge._close()


class TcpListener:
    """Incoming TCP connections ring modem `to` (a number); see module doc."""

    def __init__(self, host: ModemHost, to: str) -> None:
        self.host = host
        self.to = to
        self.server: asyncio.AbstractServer | None = None
        self._bridges: set[_Bridge] = set()

    async def start(self, bind: str, port: int) -> int:
        """Listen on `bind`:`port` (0: any free port); returns the port."""
        self.server = await asyncio.get_running_loop().create_server(self._accept, bind, port)
        sockets = self.server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    def _accept(self) -> _Bridge:
        listener = self

        class _Incoming(_Bridge):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                listener._bridges.add(self)
                peer = transport.get_extra_info("peername")
                exchange = listener.host.exchange
                self.line = exchange.call_from(self, listener.to, TCP_CALLER)
                exchange._record(self.line.number, f"tcp from {peer} -> {listener.to}")
                listener.host.schedule_service()

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                listener._bridges.discard(self)

        return _Incoming(self.host)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for bridge in list(self._bridges):
            if bridge.line is not None and not bridge.ended:
                bridge.ended = True
                with contextlib.suppress(LinelabError):
                    bridge.line.hangup()
            bridge._close()
        self._bridges.clear()


__all__ = ["TCP_CALLER", "TcpListener", "TcpTrunk", "parse_address"]
