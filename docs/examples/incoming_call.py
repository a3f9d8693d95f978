"""A TAPI incoming call with caller ID, as a Windows TAPI program would take it:
initialise, open the line as owner of data calls, wait until the line is in service
(the modem initialised), take the offered call, read its caller ID, answer, drop, wait
for IDLE, deallocate, close, shut down.

The line must be one that something can ring: a modem on a pty, for example
``linelab modem /tmp/modem`` with ``LINELAB_CONFIG=lines.yaml`` naming ``port:
/tmp/modem`` (docs/tapi-modem-line.md). Once this program says "ready", ring it with
caller ID from another shell:

    python docs/examples/incoming_call.py
    linelab call /tmp/modem --from 5551234 --name "Alice Example"
"""

import sys

from tapi import (
    LINE_APPNEWCALL,
    LINE_CALLINFO,
    LINE_CALLSTATE,
    LINE_LINEDEVSTATE,
    LINE_REPLY,
    LINECALLINFOSTATE_CALLERID,
    LINECALLPARTYID_ADDRESS,
    LINECALLPARTYID_BLOCKED,
    LINECALLPARTYID_NAME,
    LINECALLPARTYID_OUTOFAREA,
    LINECALLPRIVILEGE_OWNER,
    LINECALLSTATE_CONNECTED,
    LINECALLSTATE_DISCONNECTED,
    LINECALLSTATE_IDLE,
    LINECALLSTATE_OFFERING,
    LINEDEVSTATE_INSERVICE,
    LINEDEVSTATUSFLAGS_INSERVICE,
    LINEINITIALIZEEXOPTION_USEEVENT,
    LINEINITIALIZEEXPARAMS,
    LINEMEDIAMODE_DATAMODEM,
    LINEMESSAGE,
    TAPI_VERSION2_2,
    callstate_name,
    lineAnswer,
    lineClose,
    lineDeallocateCall,
    lineDrop,
    lineGetCallInfo,
    lineGetLineDevStatus,
    lineGetMessage,
    lineInitializeEx,
    lineOpen,
    lineSetStatusMessages,
    lineShutdown,
    result_name,
)

TIMEOUT_MS = 120_000


def next_message(hLineApp: int) -> LINEMESSAGE:
    """The next message; a failed request ends the program."""
    rc, msg = lineGetMessage(hLineApp, TIMEOUT_MS)
    if rc != 0 or msg is None:
        raise SystemExit(f"lineGetMessage: {result_name(rc)}")
    if msg.dwMessageID == LINE_REPLY and msg.dwParam2 != 0:
        raise SystemExit(f"request {msg.dwParam1} failed: {result_name(msg.dwParam2)}")
    return msg


def wait_for_state(hLineApp: int, hCall: int, *wanted: int) -> int:
    """Read messages until hCall reaches one of the `wanted` call states."""
    while True:
        msg = next_message(hLineApp)
        if msg.dwMessageID == LINE_CALLSTATE and msg.hDevice == hCall:
            print("call state:", callstate_name(msg.dwParam1))
            if msg.dwParam1 in wanted:
                return msg.dwParam1


def caller_of(hCall: int) -> str | None:
    """The caller ID lineGetCallInfo shows, or None while the modem has sent none."""
    rc, info = lineGetCallInfo(hCall)
    if rc != 0:
        raise SystemExit(f"lineGetCallInfo: {result_name(rc)}")
    flags = info.dwCallerIDFlags
    if flags & (LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME):
        return f"{info.CallerID} {info.CallerIDName}".strip()
    if flags & LINECALLPARTYID_BLOCKED:
        return "(private)"
    if flags & LINECALLPARTYID_OUTOFAREA:
        return "(out of area)"
    return None


def wait_until_in_service(hLineApp: int, hLine: int) -> None:
    """Ask for LINE_LINEDEVSTATE(INSERVICE), then look: the modem provider puts the line
    in service once the modem is initialised. A ring before that would lose its caller
    ID to the modem's reset."""
    lineSetStatusMessages(hLine, LINEDEVSTATE_INSERVICE, 0)
    rc, status = lineGetLineDevStatus(hLine)
    if rc != 0:
        raise SystemExit(f"lineGetLineDevStatus: {result_name(rc)}")
    if status.dwDevStatusFlags & LINEDEVSTATUSFLAGS_INSERVICE:
        return
    while True:
        msg = next_message(hLineApp)
        if msg.dwMessageID == LINE_LINEDEVSTATE and msg.dwParam1 & LINEDEVSTATE_INSERVICE:
            return


def main() -> int:
    params = LINEINITIALIZEEXPARAMS(dwOptions=LINEINITIALIZEEXOPTION_USEEVENT)
    rc, hLineApp, _devs, _version, params = lineInitializeEx(
        None, None, "incoming call example", TAPI_VERSION2_2, params
    )
    if rc != 0:
        raise SystemExit(f"lineInitializeEx: {result_name(rc)}")
    try:
        rc, hLine = lineOpen(
            hLineApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM
        )
        if rc != 0:
            raise SystemExit(f"lineOpen: {result_name(rc)}")
        wait_until_in_service(hLineApp, hLine)
        print("ready: waiting for a call", flush=True)
        hCall = 0
        while not hCall:  # LINE_APPNEWCALL gives the owner its handle for the new call
            msg = next_message(hLineApp)
            if msg.dwMessageID == LINE_APPNEWCALL:
                hCall = msg.dwParam2
        wait_for_state(hLineApp, hCall, LINECALLSTATE_OFFERING)
        # The modem sends caller ID between the first and second ring: until then,
        # LINE_CALLINFO(CALLERID) says when it is there.
        caller = caller_of(hCall)
        while caller is None:
            msg = next_message(hLineApp)
            if msg.dwMessageID == LINE_CALLINFO and msg.dwParam1 & LINECALLINFOSTATE_CALLERID:
                caller = caller_of(hCall)
        print("caller ID:", caller, flush=True)
        request_id = lineAnswer(hCall)
        if request_id < 0:
            raise SystemExit(f"lineAnswer: {result_name(request_id)}")
        state = wait_for_state(
            hLineApp, hCall, LINECALLSTATE_CONNECTED, LINECALLSTATE_DISCONNECTED
        )
        if state == LINECALLSTATE_CONNECTED:
            print("answered", flush=True)
        lineDrop(hCall)
        wait_for_state(hLineApp, hCall, LINECALLSTATE_IDLE)
        lineDeallocateCall(hCall)
        lineClose(hLine)
    finally:
        lineShutdown(hLineApp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
