"""The TAPI core: handle tables, the resource hierarchy, message routing (see `state`)."""
