"""The telephony server: one process owns the providers (a `tapi.Stack`) and serves the
flat TAPI 2.x API to many client processes over a Unix socket (docs/server.md).

- `tapi.server.protocol`: the wire format (length-prefixed JSON, versioned, never pickle);
- `tapi.server.server`: the asyncio server (`linelab tapisrv`);
- `tapi.server.client`: `ServerStack`, the same flat methods as `tapi.Stack`, remotely.
"""
