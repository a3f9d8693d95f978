"""``vmodem://NAME[?profile=P&number=N]`` for pyserial (see `emulator.vmodem`)."""

from __future__ import annotations

from emulator.vmodem import VModemSerial as Serial

__all__ = ["Serial"]
