"""Caller ID (Bellcore/Telcordia on-hook data, Bell 202 FSK): the wire messages and
the modem's text forms.

A real modem demodulates the message sent between the first and second ring and
prints it: formatted (``+VCID=1``: ``DATE = MMDD``, ``TIME = HHMM``, ``NMBR = …``,
``NAME = …``) or as hex (``+VCID=2``). Here the formatted lines are rendered from the
same decoded message the hex comes from, so the two forms always agree.

Wire formats (everything after the 0x55 channel-seizure preamble and mark signal):

- SDMF: type 0x04, length, 8 ASCII digits MMDDHHMM, the number or ``O``/``P``,
  checksum. SDMF carries no name.
- MDMF: type 0x80, length, then parameters (type, length, data): 0x01 date-time
  (8 digits), 0x02 number, 0x04 reason the number is absent (``O``/``P``), 0x07 name
  (at most 15 characters), 0x08 reason the name is absent. Written in that order.
- checksum: the two's complement of the byte sum, so all bytes sum to 0 mod 256.

Choices made here (docs/profiles.md, "Caller ID"):

- `unformatted_hex()` sends MDMF when there is a name or a name-absent reason, and
  SDMF otherwise (number-only service), as networks do.
- A caller with neither a number nor a reason is sent as number unavailable (``O``).
- A name longer than 15 characters is cut to 15, as the network would.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime

from emulator.network.subscriberline import CallerId
from linelab.errors import LinelabError

SDMF_TYPE = 0x04
MDMF_TYPE = 0x80
PARAM_DATETIME = 0x01
PARAM_NUMBER = 0x02
PARAM_NUMBER_ABSENT = 0x04
PARAM_NAME = 0x07
PARAM_NAME_ABSENT = 0x08
NAME_MAX = 15
NUMBER_MAX = 20
ABSENT_REASONS = ("P", "O")  # P = private (blocked), O = out of area / unavailable


class CallerIdError(ValueError):
    """Caller ID bytes that do not decode: bad type, length or checksum."""


@dataclass(frozen=True)
class CallerIdMessage:
    """One decoded caller ID message. `date` is MMDD and `time` HHMM (24 h); `extra`
    holds MDMF parameters this module does not interpret, as (type, data)."""

    date: str
    time: str
    number: str | None = None
    number_absent: str | None = None
    name: str | None = None
    name_absent: str | None = None
    extra: tuple[tuple[int, bytes], ...] = ()

    def caller(self) -> CallerId:
        """The CallerId this message describes."""
        return CallerId(self.number, self.name, self.number_absent, self.name_absent)


# -- from a CallerId to a message ---------------------------------------------------


def check_caller(caller: CallerId) -> None:
    """Raise LinelabError when `caller` cannot be sent as caller ID (the exchange calls
    this when a call is placed, so a bad value is reported to whoever gave it)."""
    for field in ("number_absent", "name_absent"):
        reason = getattr(caller, field)
        if reason is not None and reason not in ABSENT_REASONS:
            raise LinelabError(f"caller ID {field} must be 'P' (private) or 'O', not {reason!r}")
    if caller.number is not None:
        if not caller.number or len(caller.number) > NUMBER_MAX:
            raise LinelabError(f"caller ID number must have 1 to {NUMBER_MAX} characters")
        if not _printable(caller.number):
            raise LinelabError(f"caller ID number must be printable ASCII: {caller.number!r}")
    if caller.name is not None and (not caller.name or not _printable(caller.name)):
        raise LinelabError(f"caller ID name must be printable ASCII text: {caller.name!r}")


def message_for(caller: CallerId, when: datetime) -> CallerIdMessage:
    """The message the network sends for `caller` at wall-clock time `when`."""
    check_caller(caller)
    number_absent = caller.number_absent
    if caller.number is None and number_absent is None:
        number_absent = "O"
    return CallerIdMessage(
        date=f"{when.month:02d}{when.day:02d}",
        time=f"{when.hour:02d}{when.minute:02d}",
        number=caller.number,
        number_absent=None if caller.number is not None else number_absent,
        name=None if caller.name is None else caller.name[:NAME_MAX],
        name_absent=None if caller.name is not None else caller.name_absent,
    )


def checksum(body: bytes) -> int:
    """The byte that makes the mod-256 sum of `body` plus itself zero."""
    return -sum(body) & 0xFF


def _frame(kind: int, payload: bytes) -> bytes:
    if len(payload) > 255:
        raise LinelabError("caller ID message longer than 255 bytes")
    body = bytes([kind, len(payload)]) + payload
    return body + bytes([checksum(body)])


def encode_sdmf(msg: CallerIdMessage) -> bytes:
    """SDMF bytes of `msg` (its name, if any, is not carried)."""
    number = msg.number if msg.number is not None else (msg.number_absent or "O")
    return _frame(SDMF_TYPE, (msg.date + msg.time + number).encode("ascii"))


def encode_mdmf(msg: CallerIdMessage) -> bytes:
    """MDMF bytes of `msg`: date-time, number (or reason), name (or reason), extras."""
    params: list[tuple[int, bytes]] = [(PARAM_DATETIME, (msg.date + msg.time).encode("ascii"))]
    if msg.number is not None:
        params.append((PARAM_NUMBER, msg.number.encode("ascii")))
    elif msg.number_absent is not None:
        params.append((PARAM_NUMBER_ABSENT, msg.number_absent.encode("ascii")))
    if msg.name is not None:
        params.append((PARAM_NAME, msg.name.encode("ascii")))
    elif msg.name_absent is not None:
        params.append((PARAM_NAME_ABSENT, msg.name_absent.encode("ascii")))
    params.extend(msg.extra)
    payload = b"".join(bytes([kind, len(data)]) + data for kind, data in params)
    return _frame(MDMF_TYPE, payload)


def sdmf(caller: CallerId, when: datetime) -> bytes:
    """The full SDMF message (type, length, data, checksum) for `caller`."""
    return encode_sdmf(message_for(caller, when))


def mdmf(caller: CallerId, when: datetime) -> bytes:
    """The full MDMF message (type, length, parameters, checksum) for `caller`."""
    return encode_mdmf(message_for(caller, when))


def wire_message(caller: CallerId, when: datetime) -> bytes:
    """What the network sends: MDMF when there is a name or a name-absent reason,
    SDMF (number-only service) otherwise."""
    if caller.name is not None or caller.name_absent is not None:
        return mdmf(caller, when)
    return sdmf(caller, when)


def unformatted_hex(caller: CallerId, when: datetime) -> str:
    """What ``+VCID=2`` prints: the whole wire message in uppercase hex, no spaces."""
    return wire_message(caller, when).hex().upper()


def formatted_lines(caller: CallerId, when: datetime) -> list[str]:
    """What ``+VCID=1`` prints, one item per line: DATE, TIME, NMBR, then NAME when
    there is a name or a name-absent reason."""
    return render(parse_message(wire_message(caller, when)))


def render(msg: CallerIdMessage) -> list[str]:
    """The formatted lines of a decoded message; unknown MDMF items print as
    ``MESG = <hex>`` (type, length and data), as Rockwell-family modems do."""
    lines = [f"DATE = {msg.date}", f"TIME = {msg.time}"]
    number = msg.number if msg.number is not None else msg.number_absent
    if number is not None:
        lines.append(f"NMBR = {number}")
    name = msg.name if msg.name is not None else msg.name_absent
    if name is not None:
        lines.append(f"NAME = {name}")
    for kind, data in msg.extra:
        lines.append(f"MESG = {bytes([kind, len(data)]).hex().upper()}{data.hex().upper()}")
    return lines


# -- decoding ------------------------------------------------------------------------


def _body(data: bytes, kind: int, what: str) -> bytes:
    if len(data) < 3:
        raise CallerIdError(f"{what} too short ({len(data)} bytes)")
    if data[0] != kind:
        raise CallerIdError(f"not {what}: message type 0x{data[0]:02X}")
    if data[1] != len(data) - 3:
        raise CallerIdError(f"{what} length byte says {data[1]}, message has {len(data) - 3}")
    if sum(data) & 0xFF:
        raise CallerIdError(
            f"{what} checksum 0x{data[-1]:02X} is wrong (expected 0x{checksum(data[:-1]):02X})"
        )
    return data[2:-1]


def _datetime(raw: bytes, what: str) -> tuple[str, str]:
    text = raw.decode("ascii", "replace")
    if len(raw) != 8 or not text.isdigit() or not text.isascii():
        raise CallerIdError(f"{what} date-time must be 8 digits MMDDHHMM, not {text!r}")
    return text[:4], text[4:]


def _text(raw: bytes, what: str) -> str:
    text = raw.decode("ascii", "replace")
    if not raw.isascii() or not _printable(text):
        raise CallerIdError(f"{what} is not printable ASCII: {raw!r}")
    return text


def _reason(raw: bytes, what: str) -> str:
    text = raw.decode("ascii", "replace")
    if text not in ABSENT_REASONS:
        raise CallerIdError(f"{what} must be 'P' or 'O', not {text!r}")
    return text


def parse_sdmf(data: bytes) -> CallerIdMessage:
    """Decode an SDMF message and verify its checksum (CallerIdError if bad)."""
    body = _body(bytes(data), SDMF_TYPE, "SDMF")
    if len(body) < 9:
        raise CallerIdError("SDMF needs a date-time and a number")
    date, time = _datetime(body[:8], "SDMF")
    number = _text(body[8:], "SDMF number")
    if number in ABSENT_REASONS:
        return CallerIdMessage(date, time, number_absent=number)
    return CallerIdMessage(date, time, number=number)


def parse_mdmf(data: bytes) -> CallerIdMessage:
    """Decode an MDMF message and verify its checksum (CallerIdError if bad)."""
    body = _body(bytes(data), MDMF_TYPE, "MDMF")
    fields: dict[int, bytes] = {}
    extra: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
            raise CallerIdError(f"MDMF parameter at offset {pos + 2} runs past the end")
        kind, size = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + size]
        pos += 2 + size
        known = (PARAM_DATETIME, PARAM_NUMBER, PARAM_NUMBER_ABSENT, PARAM_NAME, PARAM_NAME_ABSENT)
        if kind in known:
            if kind in fields:
                raise CallerIdError(f"MDMF parameter 0x{kind:02X} appears twice")
            fields[kind] = value
        else:
            extra.append((kind, value))
    if PARAM_DATETIME not in fields:
        raise CallerIdError("MDMF has no date-time parameter")
    date, time = _datetime(fields[PARAM_DATETIME], "MDMF")

    def get(kind: int, what: str, reason: bool = False) -> str | None:
        if kind not in fields:
            return None
        return _reason(fields[kind], what) if reason else _text(fields[kind], what)

    return CallerIdMessage(
        date,
        time,
        number=get(PARAM_NUMBER, "MDMF number"),
        number_absent=get(PARAM_NUMBER_ABSENT, "MDMF number-absent reason", reason=True),
        name=get(PARAM_NAME, "MDMF name"),
        name_absent=get(PARAM_NAME_ABSENT, "MDMF name-absent reason", reason=True),
        extra=tuple(extra),
    )


def parse_message(data: bytes) -> CallerIdMessage:
    """Decode SDMF or MDMF, chosen by the message type byte."""
    if data[:1] == bytes([SDMF_TYPE]):
        return parse_sdmf(data)
    if data[:1] == bytes([MDMF_TYPE]):
        return parse_mdmf(data)
    kind = f"0x{data[0]:02X}" if data else "nothing"
    raise CallerIdError(f"not a caller ID message: type {kind}")


def parse_hex(text: str) -> CallerIdMessage:
    """Decode what ``+VCID=2`` printed (hex digits; spaces allowed)."""
    try:
        data = binascii.unhexlify("".join(text.split()))
    except (binascii.Error, ValueError) as exc:
        raise CallerIdError(f"not hex caller ID data: {text!r}") from exc
    return parse_message(data)


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()
