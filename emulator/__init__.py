"""linelab's virtual Hayes/V.250 modem: the sans-I/O engine, profiles, caller ID, the
virtual exchange and the transports that put modems on ptys and ports.

Not to be confused with the unrelated PyPI package also called ``emulator``.
"""

from __future__ import annotations

import serial as _serial

URL_HANDLER_PACKAGE = "emulator.urlhandler"


def register_url_handler() -> None:
    """Let pyserial's ``serial_for_url`` open ``vmodem://NAME`` (`emulator.transports.vmodem`).

    Done once when `emulator` is imported; calling it again is harmless (idempotent)."""
    if URL_HANDLER_PACKAGE not in _serial.protocol_handler_packages:
        _serial.protocol_handler_packages.append(URL_HANDLER_PACKAGE)


register_url_handler()
