"""The ``linelab.default_lines`` entry point: one line on a built-in virtual modem.

With no line configuration (no ``--config``, no ``$LINELAB_CONFIG``, no
``~/.config/linelab/lines.yaml``), `tapi.config` asks this entry point for its lines,
so that the TAPI stack works with no hardware. `tapi` never imports `emulator`; this
module, in `scenarios`, may.

The line is ``vmodem://linelab-default`` on the process's default modem host
(`emulator.transports.vmodem.default_host()`: a service thread on real time, unless a scenario run
installed its own host). Importing `emulator` registers the ``vmodem://`` pyserial
handler. The exchange gets a few scripted far ends to call (docs/tapi-modem-line.md):

====================  ====================================
number                behaviour
====================  ====================================
``5550100``           answers and echoes data
``5550101``           busy
``5550102``           rings, never answers (S7 then ends the attempt)
``5550103``           answers, hangs up after 10 s
====================  ====================================
"""

from __future__ import annotations

from emulator import register_url_handler
from emulator.transports.vmodem import default_host
from tapi.config import LineConfig

MODEM_NAME = "linelab-default"
PORT = f"vmodem://{MODEM_NAME}"
LINE_NAME = "linelab virtual modem"

FAR_ENDS: dict[str, str] = {
    "5550100": "answer,echo",
    "5550101": "busy",
    "5550102": "noanswer",
    "5550103": "answer,hangup=10s",
}


def default_lines() -> list[LineConfig]:
    """One `LineConfig` for the built-in virtual modem; sets up its far ends.

    This is the callable registered as ``scenarios.default_lines:default_lines`` in
    the entry-point group ``linelab.default_lines``; `tapi.config.default_lines()` calls
    it with no arguments."""
    register_url_handler()
    host = default_host()
    exchange = host.exchange
    for number, behaviour in FAR_ENDS.items():
        host.call(exchange.set_far, number, behaviour)
    return [LineConfig(name=LINE_NAME, port=PORT, source="entry point linelab.default_lines")]


__all__ = ["FAR_ENDS", "LINE_NAME", "PORT", "default_lines"]
