"""pyserial URL handlers supplied by linelab (``vmodem://``).

pyserial finds a handler for ``scheme://`` by importing ``<package>.protocol_<scheme>``
for each package in ``serial.protocol_handler_packages``; `emulator.register_url_handler`
adds this package there.
"""
