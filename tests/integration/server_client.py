"""A TAPI client process for the telephony server tests: it uses the module-level flat
functions (so ``LINELAB_TAPI=server:SOCKET`` is what sends them to the server), prints
one line per step on stdout, and waits where a test wants to kill it.

    python server_client.py owner NUMBER     dial on line 0, print CONNECTED, then block
                                             in lineGetMessage
    python server_client.py pending NUMBER   lineMakeCall, print PENDING at once, block
    python server_client.py blocked          print BLOCKED, block in lineGetMessage
    python server_client.py monitor          monitor line 0, print every message
    python server_client.py churn SEED       open/close apps and lines at random, one step
                                             per line on stdin
"""

from __future__ import annotations

import random
import sys

import tapi
from tapi import constants as C

V22 = C.TAPI_VERSION2_2


def say(*words: object) -> None:
    print(*words, flush=True)


def init(name: str) -> int:
    params = tapi.LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, _n, _v, _p = tapi.lineInitializeEx(None, None, name, V22, params)
    assert rc == 0 and h is not None, rc
    return h


def open_line(h: int, privilege: int) -> int:
    rc, hLine = tapi.lineOpen(h, 0, V22, 0, 0, privilege, C.LINEMEDIAMODE_DATAMODEM)
    assert rc == 0 and hLine is not None, rc
    return hLine


def main(argv: list[str]) -> None:
    what = argv[0]
    if what in ("owner", "pending"):
        h = init(what)
        hLine = open_line(h, C.LINECALLPRIVILEGE_OWNER)
        params = tapi.LINECALLPARAMS(dwMediaMode=C.LINEMEDIAMODE_DATAMODEM)
        rid, hCall = tapi.lineMakeCall(hLine, argv[1], 0, params)
        assert rid > 0, rid
        if what == "pending":
            say("PENDING", rid)
            sys.stdin.read()
            return
        while True:
            rc, m = tapi.lineGetMessage(h, C.INFINITE)
            assert rc == 0 and m is not None, rc
            if m.dwMessageID == C.LINE_CALLSTATE and m.dwParam1 == C.LINECALLSTATE_CONNECTED:
                say("CONNECTED", hCall)
                break
        tapi.lineGetMessage(h, C.INFINITE)  # killed in here
    elif what == "blocked":
        h = init(what)
        open_line(h, C.LINECALLPRIVILEGE_OWNER)
        say("BLOCKED")
        tapi.lineGetMessage(h, C.INFINITE)
    elif what == "monitor":
        h = init(what)
        open_line(h, C.LINECALLPRIVILEGE_MONITOR)
        say("MONITORING")
        while True:
            rc, m = tapi.lineGetMessage(h, C.INFINITE)
            if rc != 0 or m is None:
                say("ERROR", rc)
                return
            say(C.message_name(m.dwMessageID), m.hDevice, m.dwParam1, m.dwParam2, m.dwParam3)
    elif what == "churn":
        churn(random.Random(int(argv[1])))
    else:
        raise SystemExit(f"unknown {what}")


def churn(rng: random.Random) -> None:
    apps: dict[int, list[int]] = {}
    say("CHURNING")
    for step, _line in enumerate(sys.stdin, 1):  # a step per line sent; EOF: just exit
        choice = rng.random()
        if not apps or choice < 0.3:
            h = init(f"churn{step}")
            apps[h] = []
        elif choice < 0.6:
            h = rng.choice(list(apps))
            apps[h].append(open_line(h, C.LINECALLPRIVILEGE_MONITOR))
        elif choice < 0.8:
            h = rng.choice(list(apps))
            if apps[h]:
                assert tapi.lineClose(apps[h].pop()) == 0
        else:
            h = rng.choice(list(apps))
            assert tapi.lineShutdown(h) == 0
            del apps[h]
        say("STEP", step, len(apps))


if __name__ == "__main__":
    main(sys.argv[1:])
