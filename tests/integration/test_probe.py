"""`linelab probe --port URL`: identify a modem and write a profile the emulator loads.
Against the emulator (on a pty and over RFC 2217) and against an independent AT
responder linelab did not write (tests/responder/oddmodem.py: lenient, other codes,
slower, echo quirks, a clamping register). Real processes and ptys; every wait has a
deadline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_modem_cli import DEADLINE, Port, linelab, read_ready, runtime_dir, stop

from emulator.core.profile import load_profile

__all__ = ["runtime_dir"]  # the fixture, used by name
ODDMODEM = Path(__file__).resolve().parents[1] / "responder" / "oddmodem.py"
PROBE_DEADLINE = 120.0


def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linelab", "probe", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=PROBE_DEADLINE,
        check=False,
    )


@pytest.fixture
def oddmodem(tmp_path: Path) -> Iterator[Path]:
    link = tmp_path / "odd"
    proc = subprocess.Popen(
        [sys.executable, str(ODDMODEM), str(link)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"READY {link}"
        yield link
    finally:
        proc.terminate()
        proc.communicate(timeout=DEADLINE)


def test_probe_the_emulator_and_emulate_what_it_found(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link, out = tmp_path / "modem", tmp_path / "probed.yaml"
    proc = linelab("modem", str(link), "--profile", "hayes", env=runtime_dir)
    try:
        read_ready(proc, 1)
        done = probe("--port", str(link), "--out", str(out))
        assert done.returncode == 0, done.stderr
    finally:
        code, _, err = stop(proc)
        assert code == 0, err
    probed, hayes = load_profile(out), load_profile("hayes")
    fields = ("manufacturer", "model", "revision", "serial", "capabilities")
    assert [getattr(probed, f) for f in fields] == [getattr(hayes, f) for f in fields]
    assert probed.info == hayes.info
    for n in (0, 2, 6, 7, 11, 12, 25):  # defaults and ranges, found by binary search
        assert probed.registers[n] == hayes.registers[n], n
    assert probed.unknown_commands == "error"
    # The probed profile serves: a modem built from it answers as the original did.
    again = tmp_path / "again"
    proc = linelab("modem", str(again), "--profile", str(out), env=runtime_dir)
    try:
        read_ready(proc, 1)
        port = Port(str(again))
        try:
            port.send(b"ATI3\r")
            assert b"linelab Hayes-compatible V.34 modem 1.0" in port.expect(b"OK")
            port.send(b"ATS11=49\r")
            assert port.expect(b"\r\n", DEADLINE) and b"ERROR" in port.expect(b"ERROR")
        finally:
            port.close()
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def test_probe_an_independent_modem(oddmodem: Path, tmp_path: Path) -> None:
    out = tmp_path / "odd.yaml"
    done = probe("--port", str(oddmodem), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "# S10 clamps out-of-range values instead of refusing them" in text
    odd = load_profile(out)
    assert (odd.manufacturer, odd.model, odd.revision) == ("ODDBALL", "OM-56", "2.0.1")
    assert odd.info[3] == ("Oddball Modem v2",)
    assert odd.unknown_commands == "ok"  # lenient
    reg = odd.registers
    assert (reg[7].default, reg[7].low, reg[7].high) == (45, 1, 60)
    assert (reg[11].default, reg[11].low, reg[11].high) == (70, 50, 150)
    assert (reg[6].default, reg[6].low, reg[6].high) == (3, 2, 10)
    assert reg[10].high == 100  # where it clamps
    assert odd.defaults["E"] == 1


@pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning")
def test_probe_over_rfc2217(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    link = tmp_path / "modem"
    proc = linelab("modem", str(link), "--profile", "conexant", "--rfc2217", "0", env=runtime_dir)
    try:
        (ready,) = read_ready(proc, 1)
        done = probe("--port", f"rfc2217://{ready.fields['rfc2217']}")
        assert done.returncode == 0, done.stderr
        assert "spec: '1'" in done.stdout and "base: generic" in done.stdout
        assert "probed rfc2217://" in done.stderr
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def test_no_modem_answers(tmp_path: Path) -> None:
    master, slave = os.openpty()  # a port with nobody behind it
    try:
        done = probe("--port", os.ttyname(slave), "--timeout", "0.2")
        assert done.returncode == 3
        assert "does not answer AT" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        os.close(master)
        os.close(slave)
    done = probe("--port", str(tmp_path / "nothing"))
    assert done.returncode == 3
    assert "cannot open" in done.stderr


def test_probe_lacks_adds_what_the_vendor_declares(oddmodem: Path, tmp_path: Path) -> None:
    out = tmp_path / "odd.yaml"
    done = probe(
        "--port", str(oddmodem), "--out", str(out), "--lacks", "stored-profile,line-characters"
    )
    assert done.returncode == 0, done.stderr
    assert set(load_profile(out).lacks) == {
        "repeat", "overflow", "v0-info", "stored-profile", "line-characters"
    }  # fmt: skip
    assert "# declared lacking (--lacks): stored-profile, line-characters" in out.read_text()


def test_probe_lacks_refuses_an_unknown_behaviour(tmp_path: Path) -> None:
    done = probe("--port", str(tmp_path / "none"), "--lacks", "stored-profile,nvram")
    assert done.returncode == 2
    assert "nvram: each must be one of repeat, overflow" in done.stderr
    assert "Traceback" not in done.stderr
