"""Ladder diagrams (message sequence charts) of one scenario case, as SVG.

`rows(result)` merges the runner's events (`scenarios.events`) with the AT transcript
into one ordered list of `Row`s: an arrow from one actor to another, or a step note.
Actors are columns, left to right: the apps (one per HLINEAPP, ``app 1 NAME``), the
``AT client`` (the runner itself, for ``send:`` steps on a modem that is not a line),
``TAPI``, ``provider``, one ``modem X`` per modem, the ``exchange`` and the ``far end``.
Time runs down in telephony seconds: each row is one event, the left margin shows its
time when it changed, and a gap of a second or more is drawn as a wider space marked
with how long it was.

- an API call is app -> TAPI, its return TAPI -> app, a message TAPI -> app, a TSPI
  request (``open``, ``make_call``, ``drop`` …) TAPI -> provider, a provider event
  provider -> TAPI;
- an AT command line is DTE -> modem (the DTE is the provider for a modem that is a
  line, the AT client otherwise), a result or information line modem -> DTE (the echo
  is left out), data after CONNECT one arrow per run ``[data N bytes]``;
- a line signal (``DCD``, ``RI``, ``DSR``, ``CTS``, carrier) is modem -> DTE, ``DTR``,
  ``RTS`` and the DTE rate DTE -> modem (dashed);
- an exchange record is modem <-> exchange, or exchange <-> far end for numbers that
  are no modem's.

The failing step's arrows are red, and after its last one a red box gives the cause,
the step, what was expected and what came (for a teardown failure: at the end).

`svg(result)` builds the drawing with `xml.etree.ElementTree`, so every text is escaped;
characters XML cannot hold at all (control characters) are first written as
``\\xNN`` like the transcript format does. The element has its own ``xmlns``: the
same tree is inlined in the HTML report and written as a ``.svg`` file that opens alone.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from emulator.transcript import escape_bytes
from scenarios.events import APP
from scenarios.runner import Result

SVG_NS = "http://www.w3.org/2000/svg"
AT_CLIENT = "AT client"
TAPI = "TAPI"
PROVIDER = "provider"
EXCHANGE = "exchange"
FAR = "far end"

COLUMN = 170  # px between lifelines
LEFT = 80  # the time margin
TOP = 50  # below the actor boxes
ROW = 22
GAP = 16  # extra space for a gap of a second or more
MAX_ROWS = 3000  # a very long data transfer: the rest is counted, not drawn

_MODEM_TO_DTE = ("DCD", "RI", "DSR", "CTS", "carrier", "dropped")
_DTE_TO_MODEM = ("DTR", "RTS", "DTE rate")
_FROM_LINE = ("attach", "detach", "dial ", "off hook", "hangup", "abandon", "reject", "far ")
_RESULT_END_DATA = re.compile(r"^(NO CARRIER|OK|ERROR|BUSY|NO ANSWER|NO DIALTONE|\d)$")
# XML 1.0 characters (anything else, even escaped, makes the document ill-formed).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """`text` with every character XML cannot carry written as ``\\xNN``/``\\uNNNN``."""

    def esc(m: re.Match[str]) -> str:
        o = ord(m.group())
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"

    return _NOT_XML.sub(esc, text)


@dataclass
class Row:
    """One line of the diagram: an arrow (`src` != `dst`) or a note across (`kind`
    ``step``). `failing` marks the failing step's arrows."""

    t: float
    kind: str  # call return com comreturn message provider at result data signal exchange step
    src: str
    dst: str
    label: str
    step: int = 0
    failing: bool = False

    @property
    def arrow(self) -> bool:
        return self.kind != "step"


class _Lines:
    """AT bytes of one modem and direction, cut into lines."""

    def __init__(self) -> None:
        self.buf = ""

    def feed(self, text: str) -> list[str]:
        self.buf += text
        parts = re.split(r"[\r\n]", self.buf)
        self.buf = parts.pop()
        return [p for p in parts if p.strip()]


def _world(result: Result) -> dict[str, Any]:
    for e in result.events:
        if e.get("kind") == "world":
            return e
    modems = sorted({str(r["modem"]) for r in result.records if r["kind"] != "exchange"})
    return {"modems": dict.fromkeys(modems), "lines": [], "far": []}


def _text(data: Any) -> str:
    return data.decode("latin-1") if isinstance(data, bytes) else str(data)


def rows(result: Result) -> list[Row]:
    """The case's events and transcript as ordered rows (see module doc)."""
    world = _world(result)
    modems: dict[str, str | None] = dict(world.get("modems") or {})
    lines = set(world.get("lines") or [])
    by_number = {num: name for name, num in modems.items() if num}
    out: list[Row] = []
    step = 0
    typed: dict[tuple[str, str], _Lines] = {}
    last_cmd: dict[str, str] = {}
    online: dict[str, bool] = {}

    def dte(modem: str) -> str:
        return PROVIDER if modem in lines else AT_CLIENT

    def record(rec: dict[str, Any]) -> None:
        t, name, kind, data = float(rec["t"]), str(rec["modem"]), rec["kind"], rec["data"]
        mcol = f"modem {name}"
        if kind == "exchange":
            text = _text(data)
            if name in by_number:
                other, who = EXCHANGE, f"modem {by_number[name]}"
            else:
                other, who = EXCHANGE, FAR
            outward = text.startswith(_FROM_LINE)
            src, dst = (who, other) if outward else (other, who)
            out.append(Row(t, "exchange", src, dst, text, step))
            return
        if kind == "line":
            text = _text(data)
            src, dst = (dte(name), mcol) if text.startswith(_DTE_TO_MODEM) else (mcol, dte(name))
            if text.startswith("DCD=0") or text.startswith("carrier lost"):
                online[name] = False
            out.append(Row(t, "signal", src, dst, text, step))
            return
        text = _text(data)
        if online.get(name):
            src, dst = (dte(name), mcol) if kind == "dte>modem" else (mcol, dte(name))
            # A result line ends data mode (NO CARRIER, or OK after +++).
            stripped = [p.strip() for p in re.split(r"[\r\n]", text) if p.strip()]
            if kind == "modem>dte" and stripped and _RESULT_END_DATA.match(stripped[-1]):
                online[name] = False
                out.append(Row(t, "result", src, dst, stripped[-1], step))
                return
            prev = out[-1] if out else None
            if prev and prev.kind == "data" and (prev.src, prev.dst) == (src, dst):
                count = int(prev.label.split()[1]) + len(data)
                prev.label = f"[data {count} bytes]"
            else:
                out.append(Row(t, "data", src, dst, f"[data {len(data)} bytes]", step))
            return
        splitter = typed.setdefault((name, kind), _Lines())
        for line in splitter.feed(text):
            shown = escape_bytes(line.encode("latin-1"))
            if kind == "dte>modem":
                last_cmd[name] = line
                out.append(Row(t, "at", dte(name), mcol, shown, step))
            else:
                if (
                    line == last_cmd.get(name)
                    or line.strip() == (last_cmd.get(name) or "").strip()
                ):
                    continue  # the echo
                if line.startswith("CONNECT"):
                    online[name] = True
                out.append(Row(t, "result", mcol, dte(name), shown, step))

    events = [e for e in result.events if e.get("kind") != "world"]
    records = list(result.records)
    done = 0
    for e in events:
        while done < min(int(e.get("at", 0)), len(records)):
            record(records[done])
            done += 1
        kind = e["kind"]
        step = int(e.get("step", step))
        app = str(e.get("actor") or APP)
        t = float(e["t"])
        label = str(e.get("label", ""))
        if kind == "step":
            out.append(Row(t, "step", "", "", label, step))
        elif kind in ("call", "com"):
            out.append(Row(t, kind, app, TAPI, label, step))
        elif kind in ("return", "comreturn", "message"):
            out.append(Row(t, kind, TAPI, app, label, step))
        elif kind == "provider":
            out.append(Row(t, kind, PROVIDER, TAPI, label, step))
        elif kind == "tspi":
            out.append(Row(t, kind, TAPI, PROVIDER, label, step))
    for rec in records[done:]:
        record(rec)
    for (name, kind), splitter in typed.items():
        if splitter.buf.strip():
            src, dst = (
                (dte(name), f"modem {name}")
                if kind == "dte>modem"
                else (f"modem {name}", dte(name))
            )
            shown = escape_bytes(splitter.buf.encode("latin-1")) + " …"
            t = float(records[-1]["t"]) if records else 0.0
            out.append(Row(t, "at" if kind == "dte>modem" else "result", src, dst, shown, step))
    _mark_failing(result, out)
    return out


def _mark_failing(result: Result, out: list[Row]) -> None:
    if result.status not in ("failed", "todo") or not result.step:
        return
    steps = [r.step for r in out if r.kind == "step" and r.label.startswith(result.step + ":")]
    if not steps:
        return
    failing = steps[-1]
    for r in out:
        if r.step == failing and r.arrow:
            r.failing = True


def actors(result: Result, drawn: list[Row]) -> list[str]:
    """The columns, left to right: those that take part, and every modem."""
    world = _world(result)
    order = [a for r in drawn if r.arrow for a in (r.src, r.dst)]
    used = set(order)
    modems = [f"modem {m}" for m in (world.get("modems") or {})]
    known = {AT_CLIENT, TAPI, PROVIDER, EXCHANGE, FAR, *modems}
    cols = list(dict.fromkeys(a for a in order if a not in known and not a.startswith("modem ")))
    cols += [c for c in (AT_CLIENT, TAPI, PROVIDER) if c in used]
    cols += modems + sorted(m for m in used if m.startswith("modem ") and m not in modems)
    cols += [c for c in (EXCHANGE, FAR) if c in used]
    return cols


def _fit(text: str, width: int) -> str:
    chars = max(8, width // 7)  # DejaVu Sans Mono at 11 px: 6.6 px a character
    return text if len(text) <= chars else text[: chars - 1] + "…"


def svg(result: Result) -> ET.Element:
    """The ladder diagram of `result` (see module doc)."""
    drawn = rows(result)
    hidden = max(0, len(drawn) - MAX_ROWS)
    drawn = drawn[:MAX_ROWS]
    cols = actors(result, drawn)
    x = {name: LEFT + COLUMN // 2 + i * COLUMN for i, name in enumerate(cols)}
    width = LEFT + COLUMN * max(1, len(cols))

    # Rows' y positions, with the gaps and the failure box.
    ys: list[int] = []
    y = TOP + ROW
    previous = 0.0
    gaps: list[tuple[int, float]] = []
    for r in drawn:
        if r.t - previous >= 1.0:
            gaps.append((y, r.t - previous))
            y += GAP
        previous = max(previous, r.t)
        ys.append(y)
        y += ROW
    failure = _failure_lines(result)
    fail_at = len(drawn)
    if failure:
        flagged = [i for i, r in enumerate(drawn) if r.failing]
        fail_at = flagged[-1] + 1 if flagged else len(drawn)
    box_h = 10 + 16 * len(failure) if failure else 0
    if failure:
        for i in range(fail_at, len(drawn)):
            ys[i] += box_h + 10
        y += box_h + 10
    height = y + ROW * (2 if hidden else 1)

    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "class": "ladder",
            "width": str(width),
            "height": str(height),
            "viewBox": f"0 0 {width} {height}",
            "font-family": "DejaVu Sans Mono, monospace",
            "font-size": "11",
        },
    )
    ET.SubElement(root, "title").text = clean(f"{result.id}: {result.status}")
    defs = ET.SubElement(root, "defs")
    for name, colour in (("arrow", "#333"), ("arrow-fail", "#c00")):
        marker = ET.SubElement(
            defs,
            "marker",
            {
                "id": name,
                "viewBox": "0 0 10 10",
                "refX": "10",
                "refY": "5",
                "markerWidth": "7",
                "markerHeight": "7",
                "orient": "auto-start-reverse",
            },
        )
        ET.SubElement(marker, "path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": colour})
    ET.SubElement(
        root,
        "rect",
        {"x": "0", "y": "0", "width": str(width), "height": str(height), "fill": "#fff"},
    )
    # Actors and lifelines.
    for name in cols:
        cx = x[name]
        g = ET.SubElement(root, "g", {"class": "actor"})
        ET.SubElement(
            g,
            "rect",
            {
                "x": str(cx - COLUMN // 2 + 8),
                "y": "6",
                "width": str(COLUMN - 16),
                "height": "24",
                "rx": "4",
                "fill": "#e8eef7",
                "stroke": "#345",
            },
        )
        label = ET.SubElement(g, "text", {"x": str(cx), "y": "22", "text-anchor": "middle"})
        label.text = clean(_fit(name, COLUMN - 20))
        ET.SubElement(g, "title").text = clean(name)
        ET.SubElement(
            root,
            "line",
            {
                "class": "lifeline",
                "x1": str(cx),
                "y1": "30",
                "x2": str(cx),
                "y2": str(height - 4),
                "stroke": "#99a",
                "stroke-dasharray": "3 3",
            },
        )
    for gy, seconds in gaps:
        t = ET.SubElement(root, "text", {"x": "4", "y": str(gy + 4), "fill": "#777"})
        t.text = f"… {seconds:.1f} s"
    shown_t: float | None = None
    for r, ry in zip(drawn, ys, strict=True):
        if shown_t is None or r.t != shown_t:
            tt = ET.SubElement(root, "text", {"x": "4", "y": str(ry), "fill": "#555"})
            tt.text = f"{r.t:9.3f}"
            shown_t = r.t
        if not r.arrow:
            g = ET.SubElement(root, "g", {"class": "step" + (" failing" if r.failing else "")})
            ET.SubElement(
                g,
                "line",
                {
                    "x1": str(LEFT),
                    "y1": str(ry + 4),
                    "x2": str(width - 4),
                    "y2": str(ry + 4),
                    "stroke": "#dde",
                },
            )
            st = ET.SubElement(g, "text", {"x": str(LEFT + 4), "y": str(ry), "fill": "#669"})
            st.text = clean(_fit("step " + r.label, width - LEFT - 10))
            ET.SubElement(g, "title").text = clean(r.label)
            continue
        _arrow(root, r, x[r.src], x[r.dst], ry)
    if failure:
        fy = (ys[fail_at] if fail_at < len(ys) else y) - box_h - 10 - ROW // 2
        g = ET.SubElement(root, "g", {"class": "failure"})
        ET.SubElement(
            g,
            "rect",
            {
                "x": str(LEFT),
                "y": str(fy),
                "width": str(width - LEFT - 8),
                "height": str(box_h),
                "fill": "#fee",
                "stroke": "#c00",
            },
        )
        for i, line in enumerate(failure):
            ft = ET.SubElement(
                g, "text", {"x": str(LEFT + 6), "y": str(fy + 16 + 16 * i), "fill": "#c00"}
            )
            ft.text = clean(_fit(line, width - LEFT - 20))
        ET.SubElement(g, "title").text = clean("\n".join(failure))
    if hidden:
        more = ET.SubElement(root, "text", {"x": str(LEFT), "y": str(height - 8), "fill": "#777"})
        more.text = f"… {hidden} more events not drawn"
    return root


def _arrow(root: ET.Element, r: Row, x1: int, x2: int, y: int) -> None:
    colour = "#c00" if r.failing else "#333"
    g = ET.SubElement(
        root,
        "g",
        {"class": f"arrow {r.kind}" + (" failing" if r.failing else ""), "data-kind": r.kind},
    )
    attrs = {
        "x1": str(x1),
        "y1": str(y),
        "x2": str(x2 - 2 if x2 > x1 else x2 + 2),
        "y2": str(y),
        "stroke": colour,
        "marker-end": "url(#arrow-fail)" if r.failing else "url(#arrow)",
    }
    if r.kind in ("signal", "return", "comreturn"):
        attrs["stroke-dasharray"] = "5 3"
    if r.failing:
        attrs["stroke-width"] = "2"
    ET.SubElement(g, "line", attrs)
    span = abs(x2 - x1)
    text = ET.SubElement(
        g,
        "text",
        {"x": str((x1 + x2) // 2), "y": str(y - 4), "text-anchor": "middle", "fill": colour},
    )
    text.text = clean(_fit(r.label, span - 6))
    ET.SubElement(g, "title").text = clean(f"{r.t:.3f} s  {r.src} -> {r.dst}: {r.label}")


def _failure_lines(result: Result) -> list[str]:
    if result.status not in ("failed", "todo") or not result.cause:
        return []
    where = f" at {result.step}" if result.step else ""
    out = [f"FAILED ({result.cause}){where}: {result.step_title or ''}".rstrip(": ")]
    out.append(result.message)
    for head, text in (("expected: ", result.expected), ("actual:   ", result.actual)):
        parts = text.splitlines()[:6] if text else []
        for i, part in enumerate(parts):
            out.append((head if i == 0 else " " * len(head)) + part)
    return out


def svg_text(result: Result) -> str:
    """The diagram as a standalone ``.svg`` document."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(svg(result), "unicode") + "\n"


__all__ = ["Row", "actors", "clean", "rows", "svg", "svg_text"]
