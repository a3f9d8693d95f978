"""The `linelab run --report` page in a real browser: headless Chromium loads it from a
file:// URL with JavaScript on, and the DOM it ends with is checked (every scenario in
the table, the filter from the URL applied by the script, the failing step marked in
the ladder diagram). A screenshot is kept as a CI artifact: in ``$LINELAB_ARTIFACTS``,
or ``artifacts/`` at the repository root (tools/test-all says so)."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from interop_helpers import REPO, require_program

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

BROWSER_DEADLINE = 120.0
# --no-sandbox: Chromium refuses to run as root with its sandbox (CI runs as root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
         "--no-first-run", "--disable-extensions", "--virtual-time-budget=5000"]  # fmt: skip

SCENARIOS = """\
spec: "1"
scenarios:
  - name: the modem answers ATI3
    tags: [at]
    world: {modems: {A: {number: "1001", profile: generic}}}
    steps:
      - send: "ATI3\\r"
        modem: A
        expect: OK
  - name: a dial to a busy number connects
    tags: [at, dial]
    world:
      modems: {A: {number: "1001", profile: generic}}
      far: {"5550101": busy}
    steps:
      - send: "ATDT5550101\\r"
        modem: A
        expect: CONNECT
        within: 1m
  - name: lineInitializeEx with a hostile name
    tags: [tapi2]
    world: {modems: {A: {number: "1001"}}, lines: [A]}
    steps:
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: "</svg><script>document.title='owned'</script>&amp;"
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {hApp: hLineApp}
      - call: lineShutdown
        args: [$hApp]
"""


class Dom(HTMLParser):
    """The elements of a dumped DOM: (tag, attributes, text inside) in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self.open: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, []))
        self.open.append(len(self.elements) - 1)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            i = self.open.pop()
            if self.elements[i][0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for i in self.open:
            self.elements[i][2].append(data)

    def find(self, tag: str, cls: str | None = None) -> list[tuple[dict[str, str], str]]:
        return [
            (a, "".join(t))
            for name, a, t in self.elements
            if name == tag and (cls is None or cls in a.get("class", "").split())
        ]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    browser = require_program("chromium")
    done = subprocess.run(
        [browser, *FLAGS, *args],
        capture_output=True, text=True, timeout=BROWSER_DEADLINE, check=False,
        env=dict(os.environ, HOME=os.environ.get("HOME", "/root")),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump(url: str) -> Dom:
    dom = Dom()
    dom.feed(chromium("--dump-dom", url).stdout)
    return dom


def artifacts() -> Path:
    out = Path(os.environ.get("LINELAB_ARTIFACTS") or REPO / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "browser.scenario.yaml").write_text(SCENARIOS, encoding="utf-8")
    report = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "linelab", "run", str(source), "--report", str(report)],
        capture_output=True, text=True, timeout=BROWSER_DEADLINE, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr  # one scenario fails, as meant
    index = report / "index.html"
    assert index.is_file()

    # All of it, after the script ran: three rows, none hidden, the title untouched.
    dom = dump(index.as_uri())
    (body, _), = dom.find("body")  # fmt: skip
    assert body.get("data-ready") == "3"
    rows = dom.find("tr", "scenario-row")
    assert [a["data-status"] for a, _ in rows] == ["failed", "passed", "passed"]  # by id
    assert not any("hidden" in a for a, _ in rows)
    assert [t for _, t in dom.find("b") if t.isdigit()] == ["3"]
    assert next(t for _, t in dom.find("title")) == "linelab run report"  # no script ran
    assert not dom.find("script", None)[1:]  # only the report's own script element

    # The failing scenario's ladder: the failing step's arrows red, the failure box
    # with what was expected and what came.
    failed = [a for a, _ in dom.find("section", "failed")]
    assert [a["data-id"] for a in failed] == ["browser::a dial to a busy number connects"]
    failing = [t for a, t in dom.find("g", "failing") if "arrow" in a["class"].split()]
    assert any("ATDT5550101" in t for t in failing), failing
    assert any("BUSY" in t for t in failing), failing
    (box,) = [t for _, t in dom.find("g", "failure")]
    assert "FAILED (time-out)" in box and "expected: 'CONNECT'" in box and "BUSY" in box
    hostile = [t for a, t in dom.find("g", "arrow") if "lineInitializeEx(" in t]
    assert any("<script>document.title='owned'</script>" in t for t in hostile), hostile

    # The filter in the URL, applied by the script: only the failed row is shown.
    dom = dump(index.as_uri() + "#status=failed")
    shown = [a["data-status"] for a, _ in dom.find("tr", "scenario-row") if "hidden" not in a]
    assert shown == ["failed"]
    assert [t for _, t in dom.find("b") if t.isdigit()] == ["1"]

    # The diagram alone: the .svg file opens in the browser with the failure marked.
    (svg_file,) = (report / "ladders").glob("browser--a_dial*.svg")
    dom = dump(svg_file.as_uri())
    assert dom.elements[0][0] in ("svg", "html")
    assert dom.find("g", "failure") and dom.find("g", "failing")

    # The screenshot, for people: a CI artifact.
    shot = artifacts() / "report.png"
    shot.unlink(missing_ok=True)
    chromium("--window-size=1280,2400", f"--screenshot={shot}", index.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
