"""pppd over a modem-to-modem call: both ends negotiate IPCP over the virtual line.

This is the one interop test that may skip: pppd needs the kernel's PPP driver
(/dev/ppp), which some kernels and containers lack.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from interop_helpers import FIXTURES, FileWatch, Programs, StartModem, require_program

pytestmark = pytest.mark.interop

PPP_DEVICE = Path("/dev/ppp")
PPP_MAJOR = 108


def ppp_unavailable() -> str | None:
    """Why this kernel cannot run pppd, or None when /dev/ppp opens.

    Creates /dev/ppp (char 108,0) when absent and loads ppp_generic when modprobe
    exists, as a PPP-capable system would; removes the node again if it is useless.
    """
    created = False
    if not PPP_DEVICE.exists():
        try:
            os.mknod(PPP_DEVICE, 0o600 | stat.S_IFCHR, os.makedev(PPP_MAJOR, 0))
            created = True
        except OSError as exc:
            return f"the kernel has no PPP: /dev/ppp is absent and mknod failed ({exc.strerror})"
    modprobe = shutil.which("modprobe", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if modprobe is not None:
        subprocess.run([modprobe, "ppp_generic"], capture_output=True, timeout=30, check=False)
    try:
        fd = os.open(PPP_DEVICE, os.O_RDWR)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                PPP_DEVICE.unlink()
        how = "modprobe ppp_generic did not help" if modprobe else "no modprobe to load it"
        return (
            f"the kernel has no PPP: opening /dev/ppp failed ({exc.strerror}); {how}, "
            "so pppd cannot run here"
        )
    os.close(fd)
    return None


def pppd_argv(pppd: str, link: str, chat_script: str, log: Path, addresses: str) -> list[str]:
    chat = require_program("chat")
    return [
        pppd, link, "115200", "nodetach", "noauth", "local", "lock", "nocrtscts",
        "maxfail", "1", "noccp", "nodefaultroute", "lcp-echo-interval", "0",
        "connect", f"{chat} -v -f {FIXTURES / chat_script}",
        "logfile", str(log), "debug", addresses,
    ]  # fmt: skip


def test_pppd_links_up_over_a_modem_call(
    linelab_modem: StartModem, programs: Programs, tmp_path: Path
) -> None:
    pppd = require_program("pppd")
    require_program("chat")
    reason = ppp_unavailable()
    if reason is not None:
        pytest.skip(reason)
    modems = linelab_modem(["ttyLL0", "ttyLL1=1002"])
    answer_log, dial_log = tmp_path / "answer.log", tmp_path / "dial.log"
    answer_watch, dial_watch = FileWatch(answer_log), FileWatch(dial_log)
    try:
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                 "stderr": subprocess.DEVNULL}  # fmt: skip
        programs.start(
            pppd_argv(
                pppd, modems[1].link, "pppd-answer.chat", answer_log, "10.203.0.2:10.203.0.1"
            ),
            **quiet,
        )
        programs.start(
            pppd_argv(pppd, modems[0].link, "pppd-dial.chat", dial_log, "10.203.0.1:10.203.0.2"),
            **quiet,
        )
        dial_watch.wait_for(r"local  IP address 10\.203\.0\.1", deadline=45)
        dial_watch.wait_for(r"remote IP address 10\.203\.0\.2", deadline=10)
        answer_watch.wait_for(r"local  IP address 10\.203\.0\.2", deadline=10)
        answer_watch.wait_for(r"remote IP address 10\.203\.0\.1", deadline=10)
    finally:
        answer_watch.close()
        dial_watch.close()
    assert "ATDT1002\\x0d" in modems.dte_text("ttyLL0")
    assert "ATA\\x0d" in modems.dte_text("ttyLL1")
