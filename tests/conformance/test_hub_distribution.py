"""The hub is a drop-in for pyvirtualserialports, but the `linelab` distribution must
not ship a top-level ``virtualserialports`` module: it would clash with the real
package (installed next to us for the upstream comparison tests).

Checked without building a wheel (that needs network or the ``wheel`` package): the
top-level names are what setuptools discovers with the project's own ``packages.find``
settings, plus any ``py-modules``; an editable install puts the repository root on
sys.path, so a stray module file there would clash too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import setuptools

REPO = Path(__file__).resolve().parents[2]


def test_distribution_ships_no_virtualserialports_module() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tool = config["tool"]["setuptools"]
    assert "py-modules" not in tool
    find = tool["packages"]["find"]
    packages = setuptools.find_packages(str(REPO), include=find["include"])
    top_level = {name.split(".")[0] for name in packages}
    assert top_level == {"linelab", "emulator", "tapi", "scenarios"}
    assert not any("virtualserialports" in name.split(".") for name in packages)
    assert not list(REPO.glob("virtualserialports*"))
