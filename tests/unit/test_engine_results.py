"""Result-code framing (V.250 Table 3) and X-level gating, on their own."""

from __future__ import annotations

import pytest

from emulator.core.profile import load_profile
from emulator.core.results import frame_info, frame_result, gate, is_final

CODES = load_profile("generic").result_codes


@pytest.mark.parametrize(
    ("word", "levels"),
    [
        ("CONNECT 2400", ["CONNECT", "CONNECT 2400", "CONNECT 2400", "CONNECT 2400",
                          "CONNECT 2400"]),
        ("NO DIALTONE", ["NO CARRIER", "NO CARRIER", "NO DIALTONE", "NO CARRIER",
                         "NO DIALTONE"]),
        ("BUSY", ["NO CARRIER", "NO CARRIER", "NO CARRIER", "BUSY", "BUSY"]),
        ("NO ANSWER", ["NO CARRIER", "NO ANSWER", "NO ANSWER", "NO ANSWER", "NO ANSWER"]),
        ("OK", ["OK"] * 5),
        ("ERROR", ["ERROR"] * 5),
        ("RING", ["RING"] * 5),
        ("NO CARRIER", ["NO CARRIER"] * 5),
        ("CONNECT", ["CONNECT"] * 5),
    ],
)  # fmt: skip
def test_gate_per_x_level(word: str, levels: list[str]) -> None:
    assert [gate(word, x) for x in range(5)] == levels


@pytest.mark.parametrize(
    ("word", "verbose", "expected"),
    [
        ("OK", True, b"\r\nOK\r\n"),
        ("OK", False, b"0\r"),
        ("CONNECT", False, b"1\r"),
        ("RING", False, b"2\r"),
        ("NO CARRIER", False, b"3\r"),
        ("ERROR", False, b"4\r"),
        ("NO DIALTONE", False, b"6\r"),
        ("BUSY", False, b"7\r"),
        ("NO ANSWER", False, b"8\r"),
        ("CONNECT 300", False, b"1\r"),
        ("CONNECT 1200", False, b"5\r"),
        ("CONNECT 2400", False, b"10\r"),
        ("CONNECT 33600", True, b"\r\nCONNECT 33600\r\n"),
        ("CONNECT 64000", False, b"1\r"),  # a rate without its own code
    ],
)
def test_frame_result(word: str, verbose: bool, expected: bytes) -> None:
    assert frame_result(word, verbose=verbose, codes=CODES, cr=13, lf=10) == expected


def test_frame_result_uses_s3_and_s4() -> None:
    assert frame_result("OK", verbose=True, codes=CODES, cr=ord("@"), lf=ord("!")) == b"@!OK@!"
    assert frame_result("OK", verbose=False, codes=CODES, cr=ord("@"), lf=ord("!")) == b"0@"


def test_frame_info() -> None:
    assert frame_info(["a", "b"], verbose=True, cr=13, lf=10) == b"\r\na\r\nb\r\n"
    assert frame_info(["a", "b"], verbose=False, cr=13, lf=10) == b"a\r\nb\r\n"


def test_vendor_numbering_of_connect_codes() -> None:
    hayes = load_profile("hayes").result_codes
    conexant = load_profile("conexant").result_codes
    assert frame_result("CONNECT 2400", verbose=False, codes=hayes, cr=13, lf=10) == b"10\r"
    assert hayes != conexant


def test_is_final() -> None:
    assert is_final("OK") and is_final("CONNECT 9600") and is_final("NO ANSWER")
    assert not is_final("RING")
