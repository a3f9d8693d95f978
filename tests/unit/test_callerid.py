"""Caller ID checked byte for byte: SDMF and MDMF messages, their checksums, the
formatted and hex forms a modem prints, and decoding."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.network.callerid import (
    CallerIdError,
    CallerIdMessage,
    check_caller,
    checksum,
    encode_mdmf,
    formatted_lines,
    mdmf,
    parse_hex,
    parse_mdmf,
    parse_message,
    parse_sdmf,
    render,
    sdmf,
    unformatted_hex,
    wire_message,
)
from emulator.network.subscriberline import CallerId
from linelab.errors import LinelabError

SEP30 = datetime(2026, 9, 30, 12, 24, 59)
MAR24 = datetime(2026, 3, 24, 9, 2)

# The SDMF example published by microEngineering Labs ("Caller ID", melabs.com),
# also minimodem's tests/testdata-callerid-sdmf.bytes: September 30, 12:24,
# (609) 555-1212, checksum 0x51.
PUBLISHED_SDMF = bytes.fromhex("04 12 3039 3330 3132 3234 363039 353535 31323132 51")

# Their MDMF example (03/24 09:02, JOHN DOE, 800-555-1212) is printed with checksum
# 0x7D, but its bytes sum to 0x7C, so the checksum that makes the sum zero is 0x84.
# A modem must refuse the published bytes; with 0x84 they decode.
PUBLISHED_MDMF_BODY = bytes.fromhex(
    "80 20 01 08 3033323430393032 07 08 4A4F484E20444F45 02 0A 38303035353531323132"
)


def test_published_sdmf_byte_exact() -> None:
    assert sdmf(CallerId("6095551212"), SEP30) == PUBLISHED_SDMF
    assert checksum(PUBLISHED_SDMF[:-1]) == 0x51
    assert parse_sdmf(PUBLISHED_SDMF) == CallerIdMessage("0930", "1224", number="6095551212")


def test_published_mdmf_checksum_is_wrong_and_fixed() -> None:
    assert sum(PUBLISHED_MDMF_BODY) % 256 == 0x7C
    assert checksum(PUBLISHED_MDMF_BODY) == 0x84
    with pytest.raises(CallerIdError, match="checksum 0x7D is wrong"):
        parse_mdmf(PUBLISHED_MDMF_BODY + b"\x7d")
    msg = parse_mdmf(PUBLISHED_MDMF_BODY + b"\x84")
    assert msg == CallerIdMessage("0324", "0902", number="8005551212", name="JOHN DOE")


def test_mdmf_with_name_byte_exact() -> None:
    # Our parameter order is date-time, number, name; the byte sum is the same as the
    # published example's, so the checksum is 0x84 too.
    expected = bytes.fromhex(
        "80 20"
        "01 08 3033323430393032"  # 03240902
        "02 0A 38303035353531323132"  # 8005551212
        "07 08 4A4F484E20444F45"  # JOHN DOE
        "84"
    )
    caller = CallerId("8005551212", "JOHN DOE")
    assert mdmf(caller, MAR24) == expected
    assert wire_message(caller, MAR24) == expected
    assert unformatted_hex(caller, MAR24) == expected.hex().upper()
    assert unformatted_hex(caller, MAR24).startswith("80200108303332343039303202")


def test_sdmf_private_byte_exact() -> None:
    # 04 09 + "09301224" + "P": 4 + 9 + 405 + 80 = 498 = 0x1F2 -> checksum 0x100-0xF2 = 0x0E
    expected = bytes.fromhex("04 09 3039333031323234 50 0E")
    caller = CallerId(number_absent="P")
    assert sdmf(caller, SEP30) == expected
    assert unformatted_hex(caller, SEP30) == "040930393330313232345" + "00E"
    assert formatted_lines(caller, SEP30) == ["DATE = 0930", "TIME = 1224", "NMBR = P"]


def test_mdmf_both_absent_byte_exact() -> None:
    # 0x80 + 0x10 = 144; 01 08 = 9; "01020304" = 394; 04 01 = 5; 'O' = 79;
    # 08 01 = 9; 'P' = 80. Sum 720 = 0x2D0 -> checksum 0x100 - 0xD0 = 0x30.
    expected = bytes.fromhex("80 10 01 08 3031303230333034 04 01 4F 08 01 50 30")
    caller = CallerId(number_absent="O", name_absent="P")
    when = datetime(2026, 1, 2, 3, 4)
    assert mdmf(caller, when) == expected
    assert unformatted_hex(caller, when) == expected.hex().upper()
    assert formatted_lines(caller, when) == [
        "DATE = 0102",
        "TIME = 0304",
        "NMBR = O",
        "NAME = P",
    ]


def test_formatted_lines() -> None:
    caller = CallerId("5551234567", "DOE JOHN")
    assert formatted_lines(caller, datetime(2026, 3, 21, 14, 5)) == [
        "DATE = 0321",
        "TIME = 1405",
        "NMBR = 5551234567",
        "NAME = DOE JOHN",
    ]
    # Number only: no NAME line, and the network sends SDMF.
    assert formatted_lines(CallerId("5551234567"), datetime(2026, 12, 31, 23, 59)) == [
        "DATE = 1231",
        "TIME = 2359",
        "NMBR = 5551234567",
    ]
    assert wire_message(CallerId("5551234567"), SEP30)[0] == 0x04
    # Name but private number.
    assert formatted_lines(CallerId(name="ACME", number_absent="P"), SEP30)[2:] == [
        "NMBR = P",
        "NAME = ACME",
    ]
    # Nothing known at all: number unavailable.
    assert formatted_lines(CallerId(), SEP30)[2:] == ["NMBR = O"]


def test_long_name_is_cut_to_15() -> None:
    caller = CallerId("5551234", "ABCDEFGHIJKLMNOPQRST")
    assert formatted_lines(caller, SEP30)[-1] == "NAME = ABCDEFGHIJKLMNO"
    assert parse_mdmf(mdmf(caller, SEP30)).name == "ABCDEFGHIJKLMNO"


@pytest.mark.parametrize(
    "caller",
    [
        CallerId(number_absent="X"),
        CallerId(name_absent="private"),
        CallerId(number=""),
        CallerId(number="1" * 21),
        CallerId(number="555\r1234"),
        CallerId(number="5551234", name="M\u00fcller"),
        CallerId(number="5551234", name=""),
    ],
)
def test_bad_caller_is_a_user_error(caller: CallerId) -> None:
    with pytest.raises(LinelabError):
        check_caller(caller)
    with pytest.raises(LinelabError):
        unformatted_hex(caller, SEP30)


def test_unknown_mdmf_parameter_prints_as_mesg() -> None:
    msg = CallerIdMessage("0930", "1224", number="5551234", extra=((0x03, b"15551234"),))
    data = encode_mdmf(msg)
    assert parse_message(data) == msg
    assert render(msg)[-1] == "MESG = 030831353535313233" + "34"


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"", "not a caller ID message"),
        (b"\x06\x00\xfa", "type 0x06"),
        (b"\x04\x01", "too short"),
        (PUBLISHED_SDMF[:-2] + PUBLISHED_SDMF[-1:], "length byte says 18"),
        (PUBLISHED_SDMF[:-1] + b"\x52", "checksum 0x52 is wrong (expected 0x51)"),
        (bytes([4, 3, 0x30, 0x30, 0x30]) + bytes([checksum(b"\x04\x03000")]), "date-time"),
        (bytes([0x80, 2, 0x01, 0x08]) + bytes([checksum(b"\x80\x02\x01\x08")]), "past the end"),
        (
            bytes([0x80, 3, 0x02, 0x01, 0x31]) + bytes([checksum(b"\x80\x03\x02\x01\x31")]),
            "no date",
        ),
    ],
)
def test_decode_errors(data: bytes, phrase: str) -> None:
    with pytest.raises(CallerIdError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        parse_message(data)


def test_duplicate_and_bad_reason_params() -> None:
    body = bytes.fromhex("80 14 01 08 3039333031323234 02 01 31 02 01 32 08 01 51")
    body = bytes([body[0], len(body) - 2]) + body[2:]
    with pytest.raises(CallerIdError, match="appears twice"):
        parse_mdmf(body + bytes([checksum(body)]))
    body = bytes.fromhex("80 0D 01 08 3039333031323234 08 01 51")
    with pytest.raises(CallerIdError, match="'P' or 'O'"):
        parse_mdmf(body + bytes([checksum(body)]))


def test_parse_hex() -> None:
    assert parse_hex(PUBLISHED_SDMF.hex(" ").upper()).number == "6095551212"
    assert parse_hex(PUBLISHED_SDMF.hex()).caller() == CallerId("6095551212")
    with pytest.raises(CallerIdError, match="not hex"):
        parse_hex("04 1")


# -- properties ------------------------------------------------------------------

digits = st.text("0123456789", min_size=1, max_size=20)
names = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)
reasons = st.none() | st.sampled_from(["P", "O"])
whens = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))


@st.composite
def callers(draw: st.DrawFn) -> CallerId:
    number = draw(st.none() | digits)
    name = draw(st.none() | names)
    return CallerId(
        number=number,
        name=name,
        number_absent=None if number is not None else draw(reasons),
        name_absent=None if name is not None else draw(reasons),
    )


@given(st.binary(max_size=300))
def test_checksum_zeroes_the_sum(body: bytes) -> None:
    value = checksum(body)
    assert 0 <= value <= 255
    assert (sum(body) + value) % 256 == 0


@given(callers(), whens)
def test_messages_sum_to_zero_and_decode(caller: CallerId, when: datetime) -> None:
    for data in (sdmf(caller, when), mdmf(caller, when)):
        assert sum(data) % 256 == 0
        assert data[1] == len(data) - 3
    decoded = parse_mdmf(mdmf(caller, when))
    assert decoded.date == f"{when:%m%d}"
    assert decoded.time == f"{when:%H%M}"
    assert decoded.number == caller.number
    assert decoded.name == (None if caller.name is None else caller.name[:15])
    if caller.number is None:
        assert decoded.number_absent == (caller.number_absent or "O")
    assert parse_hex(unformatted_hex(caller, when)).number == caller.number
    assert render(parse_message(wire_message(caller, when))) == formatted_lines(caller, when)


@given(callers(), whens, st.data())
def test_any_single_byte_change_is_caught(
    caller: CallerId, when: datetime, data: st.DataObject
) -> None:
    message = bytearray(wire_message(caller, when))
    index = data.draw(st.integers(0, len(message) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != message[index]))
    message[index] = new
    with pytest.raises(CallerIdError):
        parse_message(bytes(message))
