"""Write docs/modem-states.md from the modem's transitions table (emulator.core.states)."""

from __future__ import annotations

from pathlib import Path

from emulator.core.states import diagram_document

TARGET = Path(__file__).resolve().parent.parent / "docs" / "modem-states.md"


def main() -> None:
    TARGET.write_text(diagram_document(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
