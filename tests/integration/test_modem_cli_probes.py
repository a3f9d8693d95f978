"""`linelab modem`'s readiness probes (emulator.commands.modem.probe_all): several in
flight at once, never more than the window, READY lines still in argument order, and
the first failure cancels the rest with their descriptors closed. Real ptys, one loop
in this process; counted, never timed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from emulator.commands import modem as modem_cmd
from emulator.commands.modem import ModemCommandError, probe_all
from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def run_probes(
    tmp_path: Path, count: int, window: int, monkeypatch: pytest.MonkeyPatch, fail_at: int = -1
) -> tuple[int, list[int]]:
    """Probe `count` modems with `window`; (most in flight at once, order finished)."""
    host = ModemHost(asyncio.get_running_loop())
    ports = [PtyPort(host.add_modem(f"m{i}"), tmp_path / f"m{i}") for i in range(count)]
    real = modem_cmd.probe
    flight = {"now": 0, "most": 0}
    finished: list[int] = []

    async def counted(port: PtyPort, timeout: float = modem_cmd.READY_TIMEOUT) -> None:
        flight["now"] += 1
        flight["most"] = max(flight["most"], flight["now"])
        try:
            await real(port, timeout)
            index = ports.index(port)
            if index == fail_at:
                raise ModemCommandError(f"m{index}: planted failure")
            finished.append(index)
        finally:
            flight["now"] -= 1

    monkeypatch.setattr(modem_cmd, "probe", counted)
    try:
        await probe_all(ports, [f"READY m{i}\n" for i in range(count)], window)
    finally:
        assert flight["now"] == 0  # nothing left running, whatever happened
        for port in ports:
            port.close()
        host.close()
    return flight["most"], finished


@pytest.mark.timeout(60)
def test_probes_overlap_within_the_window_and_lines_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    most, finished = asyncio.run(run_probes(tmp_path, 12, 3, monkeypatch))
    assert most == 3  # overlapping, and never more than the window
    assert sorted(finished) == list(range(12))
    assert capsys.readouterr().out == "".join(f"READY m{i}\n" for i in range(12))


@pytest.mark.timeout(60)
def test_a_failed_probe_cancels_the_rest_and_closes_their_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = open_fds()
    with pytest.raises(ModemCommandError, match="m5: planted failure"):
        asyncio.run(run_probes(tmp_path, 12, 4, monkeypatch, fail_at=5))
    out = capsys.readouterr().out
    # Only lines of modems before the failed one, in order; none after it.
    assert out == "".join(f"READY m{i}\n" for i in range(len(out.splitlines())))
    assert len(out.splitlines()) <= 5
    assert open_fds() <= before  # no probe's slave descriptor (nor a pty) stays open
