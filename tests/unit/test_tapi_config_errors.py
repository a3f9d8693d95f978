"""A bad or missing line configuration is LINEERR_INIFILECORRUPT from lineInitialize(Ex)
with the located message logged, never a Python exception out of the flat API
(issue 13, item 4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import tapi
from tapi import constants as C
from tapi.structs import LINEINITIALIZEEXPARAMS

V22 = C.TAPI_VERSION2_2


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The default stack is built afresh from $LINELAB_CONFIG, and closed afterwards."""
    previous = tapi.set_default_stack(None)
    try:
        yield monkeypatch
    finally:
        built = tapi.set_default_stack(previous)
        if built is not None:
            built.close()


def params() -> LINEINITIALIZEEXPARAMS:
    return LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)


def test_missing_config_file(
    configured: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nonexist.yaml"
    configured.setenv("LINELAB_CONFIG", str(missing))
    with caplog.at_level(logging.ERROR):
        result = tapi.lineInitializeEx(None, None, "app", V22, params())
    assert result == (C.LINEERR_INIFILECORRUPT, None, None, None, None)
    assert f"{missing}: cannot read" in caplog.text
    # Every later call still answers with a code, never an exception.
    assert tapi.lineInitialize(None, lambda *a: None, "app")[0] == C.LINEERR_INIFILECORRUPT
    # Nothing was initialised: the rest of the API says so (rules.md §2).
    assert tapi.lineShutdown(0x10001) == C.LINEERR_UNINITIALIZED
    assert tapi.lineOpen(0x10001, 0, V22, 0, 0, 1, 0)[0] == C.LINEERR_UNINITIALIZED


def test_corrupt_config_file_names_file_line_and_key(
    configured: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "lines.yaml"
    bad.write_text(
        'spec: "1"\nlines:\n  - name: Desk\n    port: /dev/ttyUSB0\n    baudrate: fast\n'
    )
    configured.setenv("LINELAB_CONFIG", str(bad))
    with caplog.at_level(logging.ERROR):
        rc, *_ = tapi.lineInitializeEx(None, None, "app", V22, params())
    assert rc == C.LINEERR_INIFILECORRUPT
    assert f"{bad}:5:" in caplog.text and "baudrate" in caplog.text


def test_a_good_config_still_works(configured: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = tmp_path / "lines.yaml"
    good.write_text('spec: "1"\nlines:\n  - {name: Desk, port: /nonexistent/ttyUSB9}\n')
    configured.setenv("LINELAB_CONFIG", str(good))
    rc, h_app, count, _v, _p = tapi.lineInitializeEx(None, None, "app", V22, params())
    assert (rc, count) == (0, 1)
    assert h_app is not None and tapi.lineShutdown(h_app) == 0
