"""A complete TAPI data call with linelab's flat API, as a Windows TAPI program would
make it: initialise, open, dial with LINECALLPARAMS for a data modem, wait for
CONNECTED, get the call's comm port ("comm/datamodem"), write and read through it, drop,
wait for IDLE, deallocate, close, shut down.

Run it as it is: with no line configuration the line is linelab's built-in virtual
modem, whose exchange answers 5550100 and echoes data. Point it at a real modem with
``LINELAB_CONFIG=lines.yaml`` (docs/tapi-modem-line.md) and a number that answers.

    python docs/examples/data_call.py [NUMBER]
"""

import sys

from tapi import (
    LINE_CALLSTATE,
    LINE_REPLY,
    LINEBEARERMODE_VOICE,
    LINECALLPARAMS,
    LINECALLPRIVILEGE_NONE,
    LINECALLSELECT_CALL,
    LINECALLSTATE_CONNECTED,
    LINECALLSTATE_DISCONNECTED,
    LINECALLSTATE_IDLE,
    LINEINITIALIZEEXOPTION_USEEVENT,
    LINEINITIALIZEEXPARAMS,
    LINEMEDIAMODE_DATAMODEM,
    TAPI_VERSION2_2,
    callstate_name,
    lineClose,
    lineDeallocateCall,
    lineDrop,
    lineGetID,
    lineGetMessage,
    lineInitializeEx,
    lineMakeCall,
    lineOpen,
    lineShutdown,
    result_name,
)

TIMEOUT_MS = 60_000


def wait_for_state(hLineApp: int, hCall: int, *wanted: int) -> int:
    """Read messages until hCall reaches one of the `wanted` call states."""
    while True:
        rc, msg = lineGetMessage(hLineApp, TIMEOUT_MS)
        if rc != 0 or msg is None:
            raise SystemExit(f"lineGetMessage: {result_name(rc)}")
        if msg.dwMessageID == LINE_REPLY and msg.dwParam2 != 0:
            raise SystemExit(f"request {msg.dwParam1} failed: {result_name(msg.dwParam2)}")
        if msg.dwMessageID == LINE_CALLSTATE and msg.hDevice == hCall:
            print("call state:", callstate_name(msg.dwParam1))
            if msg.dwParam1 in wanted:
                return msg.dwParam1


def main(number: str) -> int:
    params = LINEINITIALIZEEXPARAMS(dwOptions=LINEINITIALIZEEXOPTION_USEEVENT)
    rc, hLineApp, dwNumDevs, _version, params = lineInitializeEx(
        None, None, "data call example", TAPI_VERSION2_2, params
    )
    if rc != 0:
        raise SystemExit(f"lineInitializeEx: {result_name(rc)}")
    print(f"{dwNumDevs} line device(s)")
    try:
        rc, hLine = lineOpen(
            hLineApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_NONE, LINEMEDIAMODE_DATAMODEM
        )
        if rc != 0:
            raise SystemExit(f"lineOpen: {result_name(rc)}")
        call_params = LINECALLPARAMS(
            dwMediaMode=LINEMEDIAMODE_DATAMODEM, dwBearerMode=LINEBEARERMODE_VOICE
        )
        request_id, hCall = lineMakeCall(hLine, number, 0, call_params)
        if request_id < 0:
            raise SystemExit(f"lineMakeCall: {result_name(request_id)}")
        state = wait_for_state(
            hLineApp, hCall, LINECALLSTATE_CONNECTED, LINECALLSTATE_DISCONNECTED
        )
        if state == LINECALLSTATE_CONNECTED:
            rc, varstring = lineGetID(
                0, 0, hCall, LINECALLSELECT_CALL, lpszDeviceClass="comm/datamodem"
            )
            if rc != 0:
                raise SystemExit(f"lineGetID: {result_name(rc)}")
            port = varstring.hComm  # a pyserial-style port for the call's data
            if port is None:  # through linelab tapisrv: the port stays in the server
                print("no comm port in this process: the data phase is skipped")
            else:
                port.timeout = 10
                port.write(b"hello over the line\r\n")
                print("echoed:", port.read(21))
        lineDrop(hCall)  # DISCONNECTED is not the end: drop to go IDLE
        wait_for_state(hLineApp, hCall, LINECALLSTATE_IDLE)
        lineDeallocateCall(hCall)
        lineClose(hLine)
    finally:
        lineShutdown(hLineApp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "5550100"))
