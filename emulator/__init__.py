"""linelab's virtual Hayes/V.250 modem: the sans-I/O engine, profiles, caller ID, the
virtual exchange and the transports that put modems on ptys and ports.

Not to be confused with the unrelated PyPI package also called ``emulator``.
"""
