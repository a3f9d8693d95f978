"""docs/README.md, the manual's index: every page it links exists (with its anchor's
heading), every docs/*.md page is linked from it, and every fixtures/ file is described."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INDEX = ROOT / "docs" / "README.md"
_LINK = re.compile(r"\]\(([^)#]+)(#[^)]*)?\)")


def test_every_link_resolves_and_every_page_is_linked() -> None:
    text = INDEX.read_text(encoding="utf-8")
    linked = set()
    for target, anchor in _LINK.findall(text):
        page = (INDEX.parent / target).resolve()
        assert page.exists(), target
        linked.add(page.name)
        if anchor:
            heading = anchor[1:].replace("-", " ")
            assert heading in page.read_text(encoding="utf-8").lower(), (target, anchor)
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages - linked == set()


def test_every_fixture_is_described() -> None:
    text = INDEX.read_text(encoding="utf-8")
    for path in sorted((ROOT / "fixtures").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(ROOT)
            glob = f"{rel.parent}/*{path.suffix}"
            assert str(rel) in text or glob in text or path.name in text, rel
