"""The sans-I/O TAPI core: `tapi.core.core.TapiCore`, built from small parts (handle
tables, message queues, routing, the handle tree and its cleanup rules, call states,
assisted-telephony recipients, provider events); `tapi.core.state` explains how they
fit. No lock, thread or wait in here: `tapi.Stack` is the driver that adds them."""
