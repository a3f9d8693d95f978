"""The virtual telephone network, sans-I/O: the exchange, scripted far ends, caller ID,
`subscriberline` (the subscriber line between a modem and the exchange: the
modem/exchange boundary) and `sim` (modems and an exchange wired in memory)."""
