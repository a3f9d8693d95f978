"""The vendor's loop with real processes and ptys: `linelab run --port LINK --record DIR`
against a modem in another process keeps the provider's real AT dialogue; `linelab
replay` serves that recording on a new pty; the same scenario run against the replay
passes, and the replay says the client followed the recording to the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_modem_cli import DEADLINE, linelab, read_ready, runtime_dir, stop

from emulator.transcript import read_transcript
from scenarios.report import record_name

__all__ = ["runtime_dir"]  # the fixture, used by name

SCENARIO = """\
spec: "1"
scenarios:
  - name: a busy number on a real line
    world: {modems: {A: {number: "1001"}}, lines: [A]}
    steps:
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: vendor
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {hApp: hLineApp}
      - call: lineOpen
        args: [$hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM]
        save: {hLine: hLine}
      - call: lineMakeCall
        args:
          hLine: $hLine
          lpszDestAddress: "5550101"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
        save: {made: return, hCall: hCall}
      - messages:
          - {msg: LINE_REPLY, dwParam1: $made}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_DISCONNECTED,
             dwParam2: LINEDISCONNECTMODE_BUSY}
        ignore:
          - {msg: LINE_CALLSTATE, dwParam1: LINECALLSTATE_DIALING}
          - {msg: LINE_CALLSTATE, dwParam1: LINECALLSTATE_PROCEEDING}
        app: $hApp
        within: 30s
      - call: lineShutdown
        args: [$hApp]
  - name: raw AT on a real modem
    world: {modems: {A: {number: "1001"}}}
    steps:
      - send: "ATI3\\r"
        modem: A
        expect: OK
"""
RUN_DEADLINE = 120.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linelab", "run", *args],
        capture_output=True, text=True, timeout=RUN_DEADLINE, check=False,
    )  # fmt: skip


def test_record_a_port_replay_it_and_run_against_the_replay(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    scenario = tmp_path / "port.scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    link, recorded = tmp_path / "modem", tmp_path / "recorded"
    modem = linelab("modem", str(link), "--far", "5550101=busy", env=runtime_dir)
    try:
        read_ready(modem, 1)
        done = run(str(scenario), "--port", str(link), "--record", str(recorded))
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        stop(modem)

    # The provider's side of the real dialogue, named after the scenario's modem.
    path = recorded / record_name("port::a busy number on a real line")
    records = read_transcript(path)
    sent = b"".join(r.data for r in records if r.kind == "dte>modem" and isinstance(r.data, bytes))
    got = b"".join(r.data for r in records if r.kind == "modem>dte" and isinstance(r.data, bytes))
    assert {r.modem for r in records} == {"A"}
    assert sent.startswith(b"ATZ\r") and b"DT5550101\r" in sent and sent.endswith(b"ATH\r")
    assert b"\r\nBUSY\r\n" in got and got.endswith(b"OK\r\n")  # ATH answered: close waited
    assert ("line", "DTR=1") in {(r.kind, r.data) for r in records}
    assert [r.t for r in records] == sorted(r.t for r in records) and records[0].t < 1.0
    raw = read_transcript(recorded / record_name("port::raw AT on a real modem"))
    assert b"".join(r.data for r in raw if r.kind == "dte>modem" and isinstance(r.data, bytes)) \
        == b"ATI3\r"  # fmt: skip
    assert b"OK\r\n" in b"".join(r.data for r in raw if isinstance(r.data, bytes))

    # The recording as the modem: the same scenario passes against it.
    replayed = tmp_path / "replayed"
    replay = subprocess.Popen(
        [sys.executable, "-m", "linelab", "replay", str(path), str(replayed), "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert replay.stdout is not None and replay.stderr is not None
        ready = replay.stdout.readline()
        assert ready.startswith(f"READY link={replayed} "), ready + replay.stderr.read()
        done = run(str(scenario), "-k", "busy", "--port", str(replayed))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PASS port::a busy number on a real line" in done.stdout
        replay.terminate()
        _, err = replay.communicate(timeout=DEADLINE)
        assert replay.returncode == 0, err
        assert "played to the end" in err and "departed" not in err
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.communicate()
