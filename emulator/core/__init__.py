"""The modem itself, sans-I/O: the AT engine (`engine`), its command-line parser
(`commandline`: the AT command line), S-registers, result codes, states, profiles and
the trace records it emits (`tracerecord`). Nothing here reads a file descriptor,
sleeps or starts a thread (docs/ARCHITECTURE.md, rule 2)."""
