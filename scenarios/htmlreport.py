"""`linelab run --report DIR`: one self-contained HTML page and a ladder diagram per case.

``DIR/index.html`` needs nothing but itself (inline CSS and JavaScript, inline SVG; no
network, no CDN, no fonts to fetch): the counts, the summary table with filters
(status, tag, text; the URL's ``#status=failed&tag=x&text=y`` sets them too), and per
case its details (cause, step, expected, actual, skip reason) and its ladder diagram
(`scenarios.ladder`). ``DIR/ladders/<id>.svg`` holds each diagram again as a file
that opens on its own. Every text from a case (ids, names, AT lines, messages) is
hostile input: it goes through `html.escape` (attributes quoted) or ElementTree, after
`ladder.clean` wrote what XML cannot carry as ``\\xNN``; data only ever sits in
attributes and text, never in the script.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from scenarios.ladder import clean, svg
from scenarios.report import STATUSES, counts, record_name
from scenarios.runner import Result

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
.counts span { margin-right: 1.2em; font-weight: 600; }
.passed { color: #176b2c; } .failed { color: #b00; } .skipped { color: #777; }
.todo { color: #a60; }
#filters { margin: 1em 0; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .5em; text-align: left;
  vertical-align: top; }
th { background: #f3f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.scenario-row.failed td:first-child { font-weight: 700; }
section.scenario { border-top: 2px solid #dde; margin-top: 2em; padding-top: .5em; }
section.scenario.failed { border-top-color: #c00; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
pre.expected { border-left: 4px solid #176b2c; } pre.actual { border-left: 4px solid #c00; }
.ladder { overflow-x: auto; border: 1px solid #eee; }
.tag { background: #eef; border-radius: 3px; padding: 0 .3em; margin-right: .3em;
  font-size: .9em; }
[hidden] { display: none !important; }
"""

SCRIPT = """
(function () {
  var rows = document.querySelectorAll('tr.scenario-row');
  var status = document.getElementById('f-status');
  var tag = document.getElementById('f-tag');
  var text = document.getElementById('f-text');
  function apply() {
    var shown = 0;
    var words = text.value.toLowerCase();
    rows.forEach(function (tr) {
      var ok = (!status.value || tr.dataset.status === status.value) &&
        (!tag.value || tr.dataset.tags.split(' ').indexOf(tag.value) >= 0) &&
        (!words || tr.dataset.text.indexOf(words) >= 0);
      tr.hidden = !ok;
      var section = document.getElementById(tr.dataset.section);
      if (section) { section.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = String(shown);
  }
  var params = new URLSearchParams(window.location.hash.slice(1));
  if (params.has('status')) { status.value = params.get('status'); }
  if (params.has('tag')) { tag.value = params.get('tag'); }
  if (params.has('text')) { text.value = params.get('text'); }
  [status, tag, text].forEach(function (el) { el.addEventListener('input', apply); });
  apply();
  document.body.setAttribute('data-ready', String(rows.length));
})();
"""


def _e(text: object) -> str:
    return html.escape(clean(str(text)), quote=True)


def svg_name(case_id: str) -> str:
    return record_name(case_id).removesuffix(".jsonl") + ".svg"


def page(results: list[Result], *, target: str, names: dict[str, str] | None = None) -> str:
    """The HTML page (see module doc). `names` maps ids to their ``ladders/`` file."""
    names = names or {}
    c = counts(results)
    tags = sorted({t for r in results for t in r.tags})
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>linelab run report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>linelab run</h1>",
        f"<p>{len(results)} scenario{'s' if len(results) != 1 else ''} against {_e(target)}"
        f" · generated {_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC'))}</p>",
        '<p class="counts">'
        + "".join(f'<span class="{s}" id="count-{s}">{s} {c[s]}</span>' for s in STATUSES)
        + "</p>",
    ]
    telephony = sum(r.telephony_seconds for r in results)
    wall = sum(r.seconds for r in results)
    by_cause = Counter(r.cause for r in results if r.status == "failed" and r.cause)
    if by_cause:
        out.append(
            "<p>failures by cause: "
            + ", ".join(f"{_e(k)} {v}" for k, v in sorted(by_cause.items()))
            + "</p>"
        )
    out.append(f"<p>telephony time {telephony:.1f} s in {wall:.2f} s of wall-clock time</p>")
    out.append('<div id="filters">')
    out.append('<label>status <select id="f-status"><option value="">all</option>')
    out.extend(f'<option value="{s}">{s}</option>' for s in STATUSES)
    out.append("</select></label>")
    out.append('<label>tag <select id="f-tag"><option value="">all</option>')
    out.extend(f'<option value="{_e(t)}">{_e(t)}</option>' for t in tags)
    out.append("</select></label>")
    out.append('<label>text <input id="f-text" type="search" placeholder="id, cause, step">')
    out.append("</label>")
    out.append(f'<span>showing <b id="shown">{len(results)}</b> of {len(results)}</span>')
    out.append("</div>")
    out.append('<table id="summary"><thead><tr><th>status</th><th>scenario</th>')
    out.append('<th>tags</th><th>cause / reason</th><th class="num">telephony s</th>')
    out.append('<th class="num">wall s</th></tr></thead><tbody>')
    for i, r in enumerate(results):
        why = r.cause if r.status == "failed" else r.reason or ""
        text = " ".join([r.id, why or "", r.message, r.step or "", *r.tags]).lower()
        out.append(
            f'<tr class="scenario-row {r.status}" data-status="{r.status}" '
            f'data-tags="{_e(" ".join(r.tags))}" data-text="{_e(text)}" '
            f'data-section="s{i}">'
            f'<td class="{r.status}">{r.status}</td>'
            f'<td><a href="#s{i}">{_e(r.id)}</a></td>'
            f"<td>{''.join(f'<span class=tag>{_e(t)}</span>' for t in r.tags)}</td>"
            f"<td>{_e(why)}</td>"
            f'<td class="num">{r.telephony_seconds:.1f}</td>'
            f'<td class="num">{r.seconds:.2f}</td></tr>'
        )
    out.append("</tbody></table>")
    for i, r in enumerate(results):
        out.append(_section(i, r, names.get(r.id)))
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def _section(i: int, r: Result, svg_file: str | None) -> str:
    out = [
        f'<section class="scenario {r.status}" id="s{i}" data-status="{r.status}" '
        f'data-id="{_e(r.id)}">',
        f'<h2><span class="{r.status}">{r.status.upper()}</span> {_e(r.id)}</h2>',
        f"<p>{_e(r.path)}:{r.line}"
        + (f" · source: {_e(r.source)}" if r.source else "")
        + f" · telephony {r.telephony_seconds:.3f} s · wall {r.seconds:.3f} s</p>",
    ]
    if r.status in ("skipped", "todo") and r.reason:
        out.append(f'<p class="reason">{r.status}: {_e(r.reason)}</p>')
    if r.cause:
        at = f" at step {_e(r.step)}: {_e(r.step_title or '')}" if r.step else ""
        out.append(f'<p class="failure-cause failed">{_e(r.cause)}{at}</p>')
        out.append(f"<p>{_e(r.message)}</p>")
        if r.expected:
            out.append(f'<p>expected</p><pre class="expected">{_e(r.expected)}</pre>')
        if r.actual:
            out.append(f'<p>actual</p><pre class="actual">{_e(r.actual)}</pre>')
        if r.queued:
            out.append(f"<p>queued messages</p><pre>{_e(r.queued)}</pre>")
        if r.hierarchy:
            out.append(f"<p>hierarchy</p><pre>{_e(r.hierarchy)}</pre>")
    if r.status != "skipped" and (r.events or r.records):
        drawing = ET.tostring(svg(r), "unicode")
        link = f' (<a href="ladders/{_e(svg_file)}">{_e(svg_file)}</a>)' if svg_file else ""
        out.append(f"<p>ladder diagram{link}</p>")
        out.append(f'<div class="ladder">{drawing}</div>')
    out.append("</section>")
    return "\n".join(out)


def write_report(directory: str | Path, results: list[Result], *, target: str) -> Path:
    """Write ``index.html`` and ``ladders/*.svg`` into `directory`; return the page."""
    out = Path(directory)
    ladders = out / "ladders"
    ladders.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    used: set[str] = set()
    for r in results:
        if r.status == "skipped" or not (r.events or r.records):
            continue
        name = svg_name(r.id)
        if name in used:
            name = f"{name.removesuffix('.svg')}-{len(used)}.svg"
        used.add(name)
        names[r.id] = name
        tree = ET.ElementTree(svg(r))
        tree.write(str(ladders / name), encoding="utf-8", xml_declaration=True)
    index = out / "index.html"
    index.write_text(page(results, target=target, names=names), encoding="utf-8")
    return index


__all__ = ["page", "svg_name", "write_report"]
