"""Line-device configuration (docs/ARCHITECTURE.md, "The command line and configuration").

The line devices of a stack are listed in one versioned YAML file::

    spec: "1"
    lines:
      - name: Office modem              # LINEDEVCAPS line name
        port: /dev/ttyUSB0              # a path or any pyserial URL: rfc2217://, vmodem://
        number: "5551001"               # optional: this line's own number (who can call it)
        baudrate: 115200
        init: "ATM0L0"                  # optional extra init string (rules.md §8.1 Init)
        reset: true                     # send ATZ first
        one_line_init: true             # the set-up after ATZ as one command line
        call_setup_fail_timer: 60       # S7, seconds
        dial:
          method: tone                  # tone | pulse
          blind: false                  # X3 instead of X4 (no NO DIALTONE)
          options: [dialtone, quiet, billing]   # which of W @ $ the modem accepts
        timeouts:                       # seconds on the stack's clock
          command: 3                    # command -> OK
          dial: 65                      # ATD -> result (S7 + 5)
          answer: 25                    # ATA -> CONNECT
          guard: 1                      # +++ guard time, each side
          dtr_low: 0.5                  # DTR low for a hang-up
          no_response: 60               # anything -> give up

Every value has a range: ``baudrate`` 50-4,000,000, ``call_setup_fail_timer`` 1-255,
each time-out a finite number of seconds from 0 to 86,400; ``name`` and ``port`` are
non-empty printable text, ``number`` is 1-32 of the digits, ``*`` and ``#`` (what
another line dials to reach this one: `linelab run` needs it for its call scenarios,
docs/line-config.md), and ``init`` (sent to the modem as one command line) is at
most 250 characters of printable ASCII, so a CR or LF can never smuggle in a second
command. Anything else is a SpecError naming the file, the line and the key.

The file is found through an explicit path (``--config``), then ``$LINELAB_CONFIG``,
then ``~/.config/linelab/lines.yaml``. With none of these, the lines come from the
entry-point group ``linelab.default_lines``: each entry point names a callable that
returns `LineConfig`s (or mappings with the keys above). The linelab distribution
registers one in `scenarios` that starts an in-process virtual modem, so that tapi
itself never imports the emulator.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linelab.errors import LinelabError
from linelab.specfile import SpecMap, load_spec, parse_spec
from linelab.vtime import TimeSource
from tapi import constants as C

if TYPE_CHECKING:
    from tapi.stack import Stack

ENTRY_POINT_GROUP = "linelab.default_lines"
ENV_VAR = "LINELAB_CONFIG"
#: ``server[:SOCKET]`` sends the flat API to a telephony server (docs/server.md).
TAPI_ENV_VAR = "LINELAB_TAPI"

_DIAL_OPTIONS = {
    "dialtone": C.LINEDEVCAPFLAGS_DIALDIALTONE,
    "quiet": C.LINEDEVCAPFLAGS_DIALQUIET,
    "billing": C.LINEDEVCAPFLAGS_DIALBILLING,
}


# Ranges of what a line config may say (docs/ARCHITECTURE.md, "Errors by fault").
MAX_TIMEOUT = 86_400.0  # a day: any longer is a typo
_TIMEOUT_NAMES = ("command", "dial", "answer", "guard", "dtr_low", "no_response")
MAX_NAME = 256
MAX_PORT = 4096
# The init string goes to the modem as one command line: printable ASCII only, so a CR
# or LF cannot smuggle a second command, and short enough for any command buffer.
MAX_INIT = 250
_INIT_CHARS = "printable ASCII (no CR, LF or other control characters)"
_NAME_CHARS = "printable text (no control characters)"
MAX_NUMBER = 32
_NUMBER = re.compile(rf"[0-9*#]{{1,{MAX_NUMBER}}}")


def check_number(value: str) -> str | None:
    """None if `value` is a line number (1-32 digits, * and #), else what is wrong."""
    if _NUMBER.fullmatch(value):
        return None
    return f"a line number is 1-{MAX_NUMBER} of the digits 0-9, * and #, not {value!r}"


@dataclass(frozen=True)
class Timeouts:
    """Provider time-outs in seconds of the stack's clock (rules.md §8.4)."""

    command: float = 3.0
    dial: float = 65.0
    answer: float = 25.0
    guard: float = 1.0
    dtr_low: float = 0.5
    no_response: float = 60.0


@dataclass(frozen=True)
class LineConfig:
    """One configured line device."""

    name: str
    port: str
    provider: str = "modem"
    baudrate: int = 115200
    init: str = ""
    reset: bool = True
    one_line_init: bool = True
    call_setup_fail_timer: int = 60
    dial_method: str = "tone"
    blind: bool = False
    dial_options: int = 0
    timeouts: Timeouts = field(default_factory=Timeouts)
    source: str = ""
    number: str | None = None  # this line's own number (what another line dials)

    @property
    def dev_cap_flags(self) -> int:
        """LINEDEVCAPFLAGS_*: CLOSEDROP plus the accepted dial modifiers (rules.md §8.5)."""
        return C.LINEDEVCAPFLAGS_CLOSEDROP | self.dial_options


def _text(entry: SpecMap, key: str, default: str | None, chars: str, most: int) -> str:
    """A text value of at most `most` characters, each described by `chars`."""
    value: str = entry.text(key) if default is None else entry.text(key, default)
    if len(value) > most:
        raise entry.error(key, f"must be at most {most} characters, not {len(value)}")
    if default is None and not value:
        raise entry.error(key, "must not be empty")
    ok = value.isascii() and value.isprintable() if chars == _INIT_CHARS else value.isprintable()
    if not ok:
        raise entry.error(key, f"must be {chars}")
    return value


def _line(entry: SpecMap, index: int) -> LineConfig:
    dial = entry.mapping("dial", {})
    options = 0
    raw_options = dial.raw("options", [])
    if not isinstance(raw_options, list):
        raise dial.error("options", "must be a list of dialtone, quiet, billing")
    for option in raw_options:
        if not isinstance(option, str) or option not in _DIAL_OPTIONS:
            raise dial.error("options", f"unknown dial option {option!r}")
        options |= _DIAL_OPTIONS[option]
    method = dial.choice("method", ("tone", "pulse"), "tone")
    blind = dial.flag("blind", False)
    dial.reject_unknown()
    t = entry.mapping("timeouts", {})
    defaults = Timeouts()
    timeouts = Timeouts(
        **{
            name: t.number(name, getattr(defaults, name), low=0.0, high=MAX_TIMEOUT)
            for name in _TIMEOUT_NAMES
        }
    )
    t.reject_unknown()
    number = entry.text("number", None)
    if number is not None and (problem := check_number(number)) is not None:
        raise entry.error("number", problem)
    config = LineConfig(
        name=_text(entry, "name", None, _NAME_CHARS, MAX_NAME),
        port=_text(entry, "port", None, _NAME_CHARS, MAX_PORT),
        provider=entry.choice("provider", ("modem",), "modem"),
        baudrate=entry.integer("baudrate", 115200, low=50, high=4_000_000),
        init=_text(entry, "init", "", _INIT_CHARS, MAX_INIT),
        reset=entry.flag("reset", True),
        one_line_init=entry.flag("one_line_init", True),
        call_setup_fail_timer=entry.integer("call_setup_fail_timer", 60, low=1, high=255),
        dial_method=method,
        blind=blind,
        dial_options=options,
        timeouts=timeouts,
        source=f"{entry.path}:{entry.line}",
        number=number,
    )
    entry.reject_unknown()
    return config


def _lines(root: SpecMap) -> list[LineConfig]:
    items = root.items("lines")
    configs = [_line(item.as_map(), i) for i, item in enumerate(items)]
    _server(root)
    root.reject_unknown()
    names = [c.name for c in configs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise items[i].error(f"duplicate line name {name!r}")
    return configs


def _server(root: SpecMap) -> str | None:
    """The optional ``server: {socket: PATH}`` section: use a telephony server."""
    section = root.mapping("server", None)
    if section is None:
        return None
    socket: str | None = section.text("socket", None)
    section.reject_unknown()
    return socket


def server_socket(path: str | Path | None = None) -> str | None:
    """The telephony server this process's flat API goes to, or None for in-process
    (docs/server.md): ``LINELAB_TAPI=server[:SOCKET]`` (``inprocess`` forces in-process),
    else ``server.socket`` in the line config. ``""`` means the default socket."""
    env = os.environ.get(TAPI_ENV_VAR, "")
    if env == "server":
        return ""
    if env.startswith("server:"):
        return env[len("server:") :]
    if env:
        return None
    found = find_config(path)
    if found is None or not found.exists():
        return None
    return _server(load_spec(found, kind="line config").root)


def load_lines(path: str | Path) -> list[LineConfig]:
    """Read a lines file; raises SpecError naming the file, the line and the key."""
    return _lines(load_spec(path, kind="line config").root)


def parse_lines(text: str, path: str = "<lines>") -> list[LineConfig]:
    """`load_lines` for YAML text already in memory."""
    return _lines(parse_spec(text, path, kind="line config").root)


def find_config(path: str | Path | None = None) -> Path | None:
    """The config file to use: `path`, else $LINELAB_CONFIG, else the user's file if it
    exists. An explicitly named file that does not exist is still returned (so that
    loading it reports the error)."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    user = Path.home() / ".config" / "linelab" / "lines.yaml"
    return user if user.exists() else None


def _coerce(item: Any, origin: str) -> LineConfig:
    if isinstance(item, LineConfig):
        return item
    if isinstance(item, Mapping):
        import yaml

        text = yaml.safe_dump({"spec": "1", "lines": [dict(item)]}, sort_keys=False)
        return parse_lines(text, origin)[0]
    raise LinelabError(f"{origin}: a default line must be a LineConfig or a mapping")


def default_lines() -> list[LineConfig]:
    """The lines of the `linelab.default_lines` entry points (no config file case)."""
    configs: list[LineConfig] = []
    for ep in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        factory = ep.load()
        items: Iterable[Any] = factory()
        configs.extend(_coerce(item, f"entry point {ep.name}") for item in items)
    return configs


def configured_lines(path: str | Path | None = None) -> list[LineConfig]:
    """The lines of the config file (see `find_config`), else the default lines."""
    found = find_config(path)
    if found is not None:
        return load_lines(found)
    return default_lines()


def default_stack(
    path: str | Path | None = None,
    *,
    time: TimeSource | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Stack:
    """A Stack whose devices are the configured lines, driven by the modem provider."""
    from tapi.providers.modem import provider_for
    from tapi.stack import Stack

    configs = configured_lines(path)
    stack = Stack(time=time, loop=loop)
    if configs:
        stack.add_provider(provider_for(configs, time=stack.time))
    return stack
