"""``vmodem://NAME[?profile=P&number=N]`` for pyserial (see `emulator.transports.vmodem`)."""

from __future__ import annotations

from emulator.transports.vmodem import VModemSerial as Serial

__all__ = ["Serial"]
