"""What a run says: the summary table, JUnit XML, JSON and the ``--trace`` transcript."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from emulator.core.tracerecord import TraceRecord
from emulator.transcript import TranscriptWriter
from scenarios.runner import CAUSES, Result

STATUSES = ("passed", "failed", "skipped", "todo")


def counts(results: list[Result]) -> dict[str, int]:
    got = Counter(r.status for r in results)
    return {s: got.get(s, 0) for s in STATUSES}


def causes(results: list[Result]) -> dict[str, int]:
    got = Counter(r.cause for r in results if r.status == "failed")
    return {c: got[c] for c in CAUSES if got.get(c)}


def summary(results: list[Result], *, target: str, interrupted: bool = False) -> str:
    """The table printed at the end of a run."""
    c = counts(results)
    lines = []
    skipped = [r for r in results if r.status == "skipped"]
    if skipped:
        lines.append("skipped:")
        lines.extend(f"  {r.id}: {r.reason}" for r in skipped)
    todo = [r for r in results if r.status == "todo"]
    if todo:
        lines.append("todo (known to fail on this target):")
        lines.extend(f"  {r.id}: {r.reason} ({r.cause}: {r.message})" for r in todo)
    head = f"{len(results)} scenario{'s' if len(results) != 1 else ''} against {target}"
    if interrupted:
        head += " (interrupted: the summary so far)"
    lines.append(head)
    width = max(len(s) for s in STATUSES)
    lines.extend(f"  {s:<{width}}  {c[s]:>4}" for s in STATUSES)
    by_cause = causes(results)
    if by_cause:
        lines.append("failures by cause:")
        cw = max(len(k) for k in by_cause)
        lines.extend(f"  {k:<{cw}}  {v:>4}" for k, v in by_cause.items())
    telephony = sum(r.telephony_seconds for r in results)
    wall = sum(r.seconds for r in results)
    lines.append(f"telephony time {telephony:.1f} s in {wall:.2f} s of wall-clock time")
    return "\n".join(lines)


def write_json(path: str | Path, results: list[Result], *, target: str, exit_status: int) -> None:
    rows = []
    for r in results:
        row = r.to_dict()
        row.pop("records", None)
        row.pop("events", None)
        rows.append(row)
    doc: dict[str, Any] = {
        "target": target,
        "exit_status": exit_status,
        "counts": counts(results),
        "causes": causes(results),
        "results": rows,
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def junit_tree(results: list[Result], *, suite: str = "linelab run") -> ET.Element:
    """JUnit XML as CI systems read it: one testsuite, one testcase per scenario case.
    A failure's message names the cause and the step; the full report is its text and
    the AT transcript the testcase's system-out."""
    c = counts(results)
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(c["failed"]),
        errors="0",
        skipped=str(c["skipped"] + c["todo"]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        classname, _, name = r.id.partition("::")
        tc = ET.SubElement(
            ts,
            "testcase",
            classname=classname,
            name=name,
            time=f"{r.seconds:.3f}",
        )
        if r.status == "failed":
            at = f" at {r.step}" if r.step else ""
            failure = ET.SubElement(
                tc, "failure", message=f"{r.cause}{at}: {r.message}", type=r.cause or "failure"
            )
            failure.text = r.report()
        elif r.status in ("skipped", "todo"):
            ET.SubElement(tc, "skipped", message=f"{r.status}: {r.reason}")
        # Readers' schemas give a testcase no file/line attributes: say it here.
        out = f"{r.path}:{r.line}" + (f"\nsource: {r.source}" if r.source else "")
        if r.transcript:
            out += "\nAT transcript around the failing step:\n" + r.transcript
        ET.SubElement(tc, "system-out").text = out
    return root


def write_junit(path: str | Path, results: list[Result]) -> None:
    tree = ET.ElementTree(junit_tree(results))
    ET.indent(tree)
    tree.write(str(path), encoding="utf-8", xml_declaration=True)


def write_trace(path: str | Path, results: list[Result]) -> None:
    """Every case's records in one transcript (`linelab trace` reads it). Times run on
    across cases (each starts one second after the last one ended) and modem names are
    prefixed with the case id, so the cases stay apart."""
    offset = 0.0
    with TranscriptWriter(path, flush_every=1000) as writer:
        for r in results:
            end = offset
            for rec in r.records:
                t = offset + float(rec["t"])
                end = max(end, t)
                data = rec["data"]
                writer(TraceRecord(t, f"{r.id}/{rec['modem']}", rec["kind"], data))
            offset = max(end, offset + r.telephony_seconds) + 1.0


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def record_name(case_id: str) -> str:
    """A file name for a case id: ``cleanup::closing an HLINE`` ->
    ``cleanup--closing_an_HLINE.jsonl``. Only ``[A-Za-z0-9._-]`` survive (an id is
    hostile input: no ``/``, no ``..``, no leading dot), long ids are cut and end in a
    hash of the whole id so two of them never share a file."""
    stem = _UNSAFE.sub("_", case_id.replace("::", "--")).strip("._-") or "scenario"
    if len(stem) > 100:
        digest = hashlib.sha1(case_id.encode("utf-8")).hexdigest()[:10]
        stem = f"{stem[:88]}-{digest}"
    return stem + ".jsonl"


def write_records(directory: str | Path, results: list[Result]) -> dict[str, Path]:
    """`run --record DIR`: each case's AT transcript in its own file (`record_name`),
    with the modems' own names and the case's telephony times, so `linelab replay`
    serves one and `linelab trace --diff` compares two runs. Skipped cases ran nothing
    and get no file. Also ``index.json``: id, status and file of every case."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    used: set[str] = set()
    index = []
    for r in results:
        entry: dict[str, Any] = {"id": r.id, "status": r.status, "file": None}
        if r.status != "skipped":
            name = record_name(r.id)
            if name in used:  # two ids that differ only in replaced characters
                digest = hashlib.sha1(r.id.encode("utf-8")).hexdigest()[:10]
                name = f"{name[: -len('.jsonl')]}-{digest}.jsonl"
            used.add(name)
            path = out / name
            with TranscriptWriter(path, flush_every=1000) as writer:
                for rec in r.records:
                    writer(TraceRecord(float(rec["t"]), rec["modem"], rec["kind"], rec["data"]))
            written[r.id] = path
            entry["file"] = name
        index.append(entry)
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return written


__all__ = [
    "counts",
    "record_name",
    "summary",
    "write_json",
    "write_junit",
    "write_records",
    "write_trace",
]
