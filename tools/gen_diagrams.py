"""Write the generated state diagrams into docs/:

- docs/modem-states.md, from the modem's transitions table (emulator.core.states);
- the section of docs/modem-provider.md between its markers, from the modem provider's
  AT dialogue tables (tapi.providers.modem_at).

Unit tests fail when a page and its table differ.
"""

from __future__ import annotations

from pathlib import Path

from emulator.core.states import diagram_document
from tapi.providers.modem_at import DOC_BEGIN, DOC_END, diagram_section

DOCS = Path(__file__).resolve().parent.parent / "docs"
TARGET = DOCS / "modem-states.md"
PROVIDER = DOCS / "modem-provider.md"


def splice(text: str, section: str) -> str:
    """`text` with the part from DOC_BEGIN to DOC_END replaced by `section`."""
    start = text.index(DOC_BEGIN)
    end = text.index(DOC_END, start) + len(DOC_END)
    return text[:start] + section + text[end:]


def main() -> None:
    TARGET.write_text(diagram_document(), encoding="utf-8")
    print(f"wrote {TARGET}")
    PROVIDER.write_text(
        splice(PROVIDER.read_text(encoding="utf-8"), diagram_section()), encoding="utf-8"
    )
    print(f"wrote {PROVIDER}")


if __name__ == "__main__":
    main()
