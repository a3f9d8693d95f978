"""The import contracts of pyproject.toml hold (ARCHITECTURE.md, rules 1 and 2).

tools/test-all runs `lint-imports` too; this test makes every pytest run check them, so
a change that breaks a contract, or moves a module a contract names without updating
the contract, fails where its author looks first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_lint_imports_keeps_every_contract() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is in the lint extra (pip install -e .[lint])"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
