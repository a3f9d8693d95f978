"""The telephony server's wire format (docs/server.md, "Wire format").

Every frame is a 4-byte big-endian unsigned length followed by that many bytes of UTF-8
JSON holding one object. Frames larger than `MAX_FRAME` are refused. The first frame
each way is the handshake::

    client -> {"hello": "linelab-tapi", "versions": [1], "pid": 1234}
    server -> {"hello": "linelab-tapi", "version": 1}          (or {"error": "..."})

then requests and their answers, matched by ``id``::

    client -> {"id": 7, "call": "lineOpen", "args": [...], "kwargs": {...}}
    server -> {"id": 7, "result": ...}                    (or {"id": 7, "error": "..."})

and, unasked, ``{"event": "ready", "hLineApp": N}`` when an app's queue becomes
non-empty. Values are JSON values; the rest are tagged objects: ``{"$bytes": base64}``,
``{"$struct": "LINECALLPARAMS", "fields": {...}}`` (only the structures of
`tapi.structs`, and only their declared fields), ``{"$out": true}`` (`tapi.OUT`), and
``{"$tuple": [...]}`` (the 2.x out-parameter tuple) and ``{"$uuid": "..."}`` (a
GUID). Nothing is ever unpickled or
evaluated: a decoder builds only these types.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
import uuid
from typing import Any

from linelab.errors import LinelabError
from tapi import structs
from tapi.core.args import OUT

#: The wire versions this code speaks.
VERSIONS: tuple[int, ...] = (1,)
VERSION = 1
HELLO = "linelab-tapi"
#: The largest frame either side accepts (bytes of JSON).
MAX_FRAME = 1 << 20
HEADER = struct.Struct(">I")

_STRUCTS: dict[str, type[Any]] = {
    name: getattr(structs, name)
    for name in structs.__all__
    if dataclasses.is_dataclass(getattr(structs, name))
}


class ProtocolError(LinelabError):
    """A frame that is not valid: too big, not JSON, or not what the protocol allows."""


def encode(value: Any, *, strict: bool = True) -> Any:
    """A Python value as a JSON value. An object the format cannot carry raises
    ProtocolError when `strict`, else becomes None (a server's file handle, for one:
    it means nothing in another process)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if value is OUT:
        return {"$out": True}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, strict=strict) for v in value]}
    if isinstance(value, list):
        return [encode(v, strict=strict) for v in value]
    name = type(value).__name__
    if dataclasses.is_dataclass(value) and _STRUCTS.get(name) is type(value):
        fields = {
            f.name: encode(getattr(value, f.name), strict=strict)
            for f in dataclasses.fields(value)
        }
        return {"$struct": name, "fields": fields}
    if strict:
        raise ProtocolError(f"cannot send a {name} over the wire")
    return None


def decode(value: Any) -> Any:
    """A JSON value back as the Python value `encode` was given."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        raise ProtocolError(f"unexpected JSON value {value!r:.80}")
    if value.keys() == {"$out"}:
        return OUT
    if value.keys() == {"$bytes"} and isinstance(value["$bytes"], str):
        try:
            return base64.b64decode(value["$bytes"], validate=True)
        except ValueError as exc:
            raise ProtocolError(f"bad base64: {exc}") from None
    if value.keys() == {"$uuid"} and isinstance(value["$uuid"], str):
        try:
            return uuid.UUID(value["$uuid"])
        except ValueError as exc:
            raise ProtocolError(f"bad GUID: {exc}") from None
    if value.keys() == {"$tuple"} and isinstance(value["$tuple"], list):
        return tuple(decode(v) for v in value["$tuple"])
    if value.keys() == {"$struct", "fields"}:
        cls = _STRUCTS.get(value["$struct"]) if isinstance(value["$struct"], str) else None
        fields = value["fields"]
        if cls is None or not isinstance(fields, dict):
            raise ProtocolError(f"unknown structure {value['$struct']!r:.80}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - known
        if unknown:
            raise ProtocolError(f"{cls.__name__} has no field {sorted(unknown)[0]!r:.80}")
        try:
            return cls(**{k: decode(v) for k, v in fields.items()})
        except TypeError as exc:
            raise ProtocolError(f"{cls.__name__}: {exc}") from None
    raise ProtocolError(f"unknown tagged object with keys {sorted(value)!r:.80}")


def frame(message: dict[str, Any]) -> bytes:
    """One message as a frame (length prefix and JSON)."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes is over the {MAX_FRAME}-byte limit")
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length a header announces (ProtocolError when over `MAX_FRAME`)."""
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes announced; the limit is {MAX_FRAME}")
    return int(length)


def parse(body: bytes) -> dict[str, Any]:
    """A frame's body as a message object (ProtocolError when it is not one)."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"frame is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message
