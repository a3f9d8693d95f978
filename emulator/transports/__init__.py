"""What owns file descriptors and threads: the modem host (one event loop for many
modems), ptys, ``vmodem://``, RFC 2217, the port hub, the control socket, TCP trunks
and the socket-owner lookup. Transports are thin adapters around `emulator.core`."""
