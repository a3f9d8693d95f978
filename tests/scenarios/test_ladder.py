"""Ladder diagrams and the HTML report: well-formed SVG, one column per actor, one arrow
per event, the failing step in red, and hostile text escaped everywhere."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from scenarios.cli import main
from scenarios.htmlreport import page
from scenarios.ladder import AT_CLIENT, EXCHANGE, FAR, PROVIDER, TAPI, actors, rows, svg, svg_text
from scenarios.runner import Result, run_case
from scenarios.suite import discover

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "</svg><script>alert('x')</script>&amp;\x00\x1b\ud800"

CALL = """\
spec: "1"
scenarios:
  - name: call and shut down
    world:
      modems: {A: {number: "1001"}}
      far: {"5550100": "answer,echo"}
      lines: [A]
    steps:
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: ladder
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {hApp: hLineApp}
      - call: lineOpen
        args: [$hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM]
        save: {hLine: hLine}
      - call: lineMakeCall
        args:
          hLine: $hLine
          lpszDestAddress: "5550100"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
        save: {made: return, hCall: hCall}
      - messages:
          - {msg: LINE_REPLY, dwParam1: $made}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_CONNECTED,
             dwParam2: any}
        ignore:
          - {msg: LINE_CALLSTATE, dwParam1: LINECALLSTATE_DIALING}
          - {msg: LINE_CALLSTATE, dwParam1: LINECALLSTATE_PROCEEDING}
        app: $hApp
        within: 1m
      - call: lineShutdown
        args: [$hApp]
"""


def _result(**kw: Any) -> Result:
    base: dict[str, Any] = dict(id="x::y", path="x", line=1, tags=[], source=None,
                                status="passed")  # fmt: skip
    base.update(kw)
    return Result(**base)


def _ran(tmp_path: Path, text: str = CALL, *, keep: bool = True) -> Result:
    path = tmp_path / "ladder.scenario.yaml"
    path.write_text(text, encoding="utf-8")
    (case,) = discover([str(path)])
    return run_case(case, keep_records=keep)


def _arrows(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if "arrow" in g.get("class", "").split()]


def test_a_real_run_draws_every_actor_and_one_arrow_per_event(tmp_path: Path) -> None:
    result = _ran(tmp_path)
    assert result.status == "passed", result.report()
    kinds = [e["kind"] for e in result.events]
    assert kinds[0] == "world" and kinds.count("call") == 4 and kinds.count("return") == 4
    assert kinds.count("message") >= 4 and "provider" in kinds

    root = ET.fromstring(svg_text(result).split("\n", 1)[1])  # well-formed, standalone
    assert root.tag == f"{NS}svg"
    drawn = rows(result)
    assert actors(result, drawn) == ["app 1 ladder", TAPI, PROVIDER, "modem A", EXCHANGE, FAR]
    columns = [t.text for g in root.iter(f"{NS}g") if g.get("class") == "actor"
               for t in g.iter(f"{NS}text")]  # fmt: skip
    assert columns == ["app 1 ladder", TAPI, PROVIDER, "modem A", EXCHANGE, FAR]

    arrows = _arrows(root)
    assert len(arrows) == sum(r.arrow for r in drawn)
    by_kind: dict[str, int] = {}
    for g in arrows:
        by_kind[g.get("data-kind", "")] = by_kind.get(g.get("data-kind", ""), 0) + 1
    events = [e for e in result.events if e["kind"] not in ("world", "step")]
    assert "tspi" in kinds
    tspi = [e["label"] for e in result.events if e["kind"] == "tspi"]
    assert tspi[0] == "open()" and tspi[-1] == "close()"
    assert any(t.startswith("make_call(") and "'5550100'" in t for t in tspi), tspi
    for kind in ("call", "return", "message", "provider", "tspi"):
        assert by_kind[kind] == sum(e["kind"] == kind for e in events), kind
    labels = [t.text or "" for g in arrows for t in g.iter(f"{NS}text")]
    assert any(t.startswith("ATX4DT5550100") or "DT5550100" in t for t in labels)
    assert "CONNECT 33600" in labels and "DCD=1" in labels
    assert "dial 1001 -> 5550100" in labels
    assert not [g for g in root.iter(f"{NS}g") if "failing" in g.get("class", "")]


def test_events_are_only_kept_when_asked_for(tmp_path: Path) -> None:
    result = _ran(tmp_path, keep=False)
    assert result.status == "passed" and result.events == [] and result.records == []


def test_the_failing_step_is_red_with_expected_and_actual(tmp_path: Path) -> None:
    text = CALL.replace('lpszDestAddress: "5550100"', 'lpszDestAddress: "5550101"').replace(
        '"5550100": "answer,echo"', '"5550101": busy'
    )
    result = _ran(tmp_path, text)
    assert result.status == "failed" and result.cause == "unexpected message"
    root = ET.fromstring(ET.tostring(svg(result)))
    failing = [g for g in _arrows(root) if "failing" in g.get("class", "").split()]
    assert failing and all(
        line.get("stroke") == "#c00" for g in failing for line in g.iter(f"{NS}line")
    )
    texts = [t.text or "" for g in failing for t in g.iter(f"{NS}title")]  # the full label
    assert any("LINECALLSTATE_DISCONNECTED" in t or "LINECALLSTATE_BUSY" in t for t in texts)
    (box,) = [g for g in root.iter(f"{NS}g") if g.get("class") == "failure"]
    lines = [t.text or "" for t in box.iter(f"{NS}text")]
    assert lines[0].startswith("FAILED (unexpected message) at ")
    assert any(t.startswith("expected: LINE_CALLSTATE") for t in lines)
    assert any(t.startswith("actual:   LINE_CALLSTATE") for t in lines)


def test_hostile_text_is_escaped_in_the_svg_and_the_page() -> None:
    events: list[dict[str, Any]] = [
        {"kind": "world", "t": 0.0, "at": 0, "modems": {HOSTILE: "1"}, "lines": [], "far": []},
        {"kind": "step", "t": 0.0, "at": 0, "step": 1, "label": HOSTILE, "where": "x:1"},
        {"kind": "call", "t": 0.0, "at": 0, "step": 1, "label": HOSTILE, "actor": HOSTILE},
        {"kind": "return", "t": 0.5, "at": 1, "step": 1, "label": "0", "actor": HOSTILE},
    ]
    records: list[dict[str, Any]] = [
        {"t": 0.1, "modem": HOSTILE, "kind": "dte>modem", "data": b"AT</svg>\x00\xff\r"},
        {"t": 0.2, "modem": "1", "kind": "exchange", "data": HOSTILE},
    ]
    result = _result(id="x::" + HOSTILE, status="failed", cause="time-out",
                     message=HOSTILE, expected=HOSTILE, actual=HOSTILE, step="x:1",
                     step_title=HOSTILE, events=events, records=records)  # fmt: skip
    text = svg_text(result)
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == f"{NS}svg" and "<script>" not in text
    assert len(_arrows(root)) == 4  # call, return, the AT line, the exchange record
    labels = [t.text or "" for t in root.iter(f"{NS}text")]
    assert "AT</svg>\\x00\\xff" in labels  # the transcript's escape, then XML's
    assert any("</svg><script>alert('x')</script>&amp;\\x00\\x1b\\ud800" in t for t in labels)

    html = page([result], target="<b>target</b>")
    assert "<script>alert" not in html and "</svg><script>" not in html
    assert html.count("<script>") == 1 and "&lt;b&gt;target&lt;/b&gt;" in html
    assert "\x00" not in html and "\x1b" not in html
    svg_part = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    ET.fromstring(svg_part)  # the inline copy is well-formed XML too


def test_an_at_only_scenario_has_the_at_client_and_no_tapi(tmp_path: Path) -> None:
    text = """\
spec: "1"
scenarios:
  - name: at only
    world: {modems: {A: {number: "1001", profile: generic}}}
    steps:
      - send: "ATI3\\r"
        modem: A
        expect: OK
"""
    result = _ran(tmp_path, text)
    drawn = rows(result)
    assert actors(result, drawn) == [AT_CLIENT, "modem A", EXCHANGE]
    assert [(r.src, r.dst, r.label) for r in drawn if r.kind in ("at", "result")] == [
        (AT_CLIENT, "modem A", "ATI3"),  # the echo is left out
        ("modem A", AT_CLIENT, "linelab generic V.250 modem 1.0"),
        ("modem A", AT_CLIENT, "OK"),
    ]


def test_run_report_writes_the_page_and_a_standalone_svg_per_scenario(tmp_path: Path) -> None:
    report = tmp_path / "report"
    shutdown = Path(__file__).resolve().parents[2] / "scenarios/library/shutdown.scenario.yaml"
    assert (
        main(["run", str(shutdown), "-k", "lineShutdown or lineClose", "--report", str(report)])
        == 0
    )
    svgs = sorted(p.name for p in (report / "ladders").glob("*.svg"))
    assert svgs == [
        "shutdown--lineClose_drops_the_call_and_frees_its_handle.svg",
        "shutdown--lineShutdown_ends_a_connected_call_and_closes_its_line.svg",
    ]
    for name in svgs:
        assert ET.parse(report / "ladders" / name).getroot().tag == f"{NS}svg"
    html = (report / "index.html").read_text(encoding="utf-8")
    assert html.count('class="scenario-row passed"') == 2
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html.replace("https://learn.microsoft.com", "")
    assert "<link" not in html and "src=" not in html  # nothing to fetch


TWO_APPS = """\
spec: "1"
scenarios:
  - name: two apps
    world: {modems: {A: {number: "1001"}}, lines: [A]}
    steps:
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: first
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {one: hLineApp}
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: second
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {two: hLineApp}
      - call: lineOpen
        args: [$two, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_NONE, LINEMEDIAMODE_DATAMODEM]
        save: {hLine: hLine}
      - call: lineClose
        args: [$hLine]
      - call: lineShutdown
        args: [$one]
      - call: lineShutdown
        args: [$two]
"""


def test_each_app_is_a_column_and_its_calls_start_there(tmp_path: Path) -> None:
    result = _ran(tmp_path, TWO_APPS)
    assert result.status == "passed", result.report()
    drawn = rows(result)
    assert actors(result, drawn)[:3] == ["app 1 first", "app 2 second", TAPI]
    calls = [(r.src, r.label.split("(")[0]) for r in drawn if r.kind == "call"]
    assert calls == [
        ("app 1 first", "lineInitializeEx"),
        ("app 2 second", "lineInitializeEx"),
        ("app 2 second", "lineOpen"),
        ("app 2 second", "lineClose"),  # through the hLine app 2 opened
        ("app 1 first", "lineShutdown"),
        ("app 2 second", "lineShutdown"),
    ]


def test_a_teardown_failure_is_boxed_at_the_end(tmp_path: Path) -> None:
    leak = (
        TWO_APPS.replace("      - call: lineShutdown\n        args: [$two]\n", "")
        .replace("{two: hLineApp}", "{two: hLineApp}")
        .replace(
            "      - call: lineClose\n        args: [$hLine]\n",
            "      - call: lineClose\n        args: [$hLine]\n      - call: lineGetMessage\n"
            "        args: [$two, 0]\n        returns: LINEERR_OPERATIONFAILED\n",
        )
    )
    result = _ran(tmp_path, leak)
    assert result.status == "failed" and result.cause == "teardown leak", result.report()
    root = ET.fromstring(ET.tostring(svg(result)))
    assert not [g for g in _arrows(root) if "failing" in g.get("class", "")]
    children = list(root)
    (box,) = [g for g in children if g.get("class") == "failure"]
    texts = [t.text or "" for t in box.iter(f"{NS}text")]
    assert texts[0] == "FAILED (teardown leak): teardown"
    box_y = float(box.find(f"{NS}rect").get("y", "0"))  # type: ignore[union-attr]
    last = max(float(line.get("y1", "0")) for g in _arrows(root) for line in g.iter(f"{NS}line"))
    assert box_y > last  # below every arrow


def test_report_with_jobs_2_draws_the_same_diagrams(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    shutdown = str(
        Path(__file__).resolve().parents[2] / "scenarios/library/shutdown.scenario.yaml"
    )
    assert main(["run", shutdown, "-k", "lineShutdown or lineClose", "--report", str(one)]) == 0
    args = ["run", shutdown, "-k", "lineShutdown or lineClose", "--jobs", "2"]
    assert main([*args, "--report", str(two)]) == 0

    def arrows(report: Path) -> dict[str, list[str]]:
        # Sorted: the app's thread and the loop's interleave differently from run to run.
        return {
            p.name: sorted(g.get("data-kind", "") for g in _arrows(ET.parse(p).getroot()))
            for p in (report / "ladders").glob("*.svg")
        }

    got = arrows(one)
    assert got == arrows(two) and all(len(kinds) > 20 for kinds in got.values())
