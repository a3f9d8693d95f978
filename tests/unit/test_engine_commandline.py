"""The AT command line: prefix, editing, echo, buffer limit, A/, S3/S4/S5."""

from __future__ import annotations

from engine_helpers import at, one_modem, profile, quiet_at
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core.commandline import LineAssembler

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def test_at_alone_is_ok_with_echo() -> None:
    sim, a = one_modem()
    assert at(sim, a, "AT") == b"AT\r" + OK


def test_lowercase_prefix_and_junk_before_it() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "xyz\x01\x7fat") == OK
    sim.type(a, "\n")  # a lone LF after CR is junk too: no response
    assert sim.output(a) == b"\n"


def test_mixed_case_prefix_is_not_a_command() -> None:
    sim, a = one_modem()
    assert at(sim, a, "aT") == b"aT\r"


def test_commands_are_case_insensitive_and_spaces_ignored() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "at s7 = 30") == OK
    assert a.regs[7] == 30


def test_repeat_previous_line_with_a_slash() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7?") == b"\r\n050\r\n" + OK
    sim.type(a, "A/")
    assert sim.output(a) == b"A/\r\n050\r\n" + OK


def test_a_slash_before_any_command_is_an_empty_line() -> None:
    sim, a = one_modem()
    sim.type(a, "a/")
    assert sim.output(a) == b"a/" + OK


def test_s3_changes_the_line_end_and_responses() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS3=64") == b"@\nOK@\n"
    sim.type(a, "ATE0@")
    assert sim.output(a) == b"ATE0@@\nOK@\n"
    sim.type(a, "ATS3=13@")
    assert sim.output(a) == OK


def test_s4_changes_the_response_character() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS4=33") == b"\r!OK\r!"


def test_s5_edits_and_echoes_bs_sp_bs() -> None:
    sim, a = one_modem()
    sim.type(a, "ATS7?X\x08\r")
    assert sim.output(a) == b"ATS7?X\x08 \x08\r\r\n050\r\n" + OK


def test_s5_changed_to_another_character() -> None:
    sim, a = one_modem()
    at(sim, a, "ATS5=127")
    sim.type(a, "ATX9\x7f\x7f\r")
    assert sim.output(a).endswith(OK)


def test_can_discards_the_line() -> None:
    sim, a = one_modem()
    sim.type(a, "ATS7=9\x18\r")
    assert sim.output(a) == b"ATS7=9\x18\r"
    assert a.regs[7] == 50


def test_echo_off_and_on() -> None:
    sim, a = one_modem()
    assert at(sim, a, "ATE0") == b"ATE0\r" + OK
    assert at(sim, a, "AT") == OK
    assert at(sim, a, "ATE1") == OK
    assert at(sim, a, "AT") == b"AT\r" + OK
    assert at(sim, a, "ATE2").endswith(ERROR)


def test_buffer_overflow_is_error_and_nothing_runs() -> None:
    sim, a = one_modem(profile(buffer_size=40))
    line = "ATS7=5" + "E1" * 20  # 46 characters after AT
    assert quiet_at(sim, a, line) == ERROR
    assert a.regs[7] == 50
    assert quiet_at(sim, a, "ATS7=5" + "E1" * 17) == OK  # exactly 40
    assert a.regs[7] == 5


def test_buffer_limit_does_not_count_spaces() -> None:
    sim, a = one_modem(profile(buffer_size=40))
    assert quiet_at(sim, a, "AT" + " " * 100 + "S7=6") == OK
    assert a.regs[7] == 6


def test_stop_at_first_failing_command_error_is_only_final() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7=40X9S8=9") == ERROR
    assert a.regs[7] == 40  # earlier commands keep their effect
    assert a.regs[8] == 2  # later ones never ran


def test_information_text_before_the_failure_is_kept() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7?Y") == b"\r\n050\r\n" + ERROR


def test_chunking_does_not_matter() -> None:
    sim, a = one_modem()
    for ch in "junkATS7=33\r":
        sim.type(a, ch)
    assert sim.output(a).endswith(OK)
    assert a.regs[7] == 33


def test_non_ascii_bytes_are_errors_not_crashes() -> None:
    sim, a = one_modem()
    for body in (b"E\xb2", b"S7=\xb9", b"\xdf?", b"+VCID=\xb2", b"DP\xb2\xb3;"):
        sim.type(a, b"AT" + body + b"\r")
        sim.run(60)
        out = sim.output(a)
        assert out.endswith((ERROR, OK, b"\r\nNO CARRIER\r\n")), (body, out)
    assert a.regs[7] == 50


# -- the assembler's run-at-a-time path against its byte-at-a-time definition -------------

_LINE_BYTES = st.sampled_from(
    [
        *(b"A", b"T", b"a", b"t", b"/", b"\r", b"\n", b"\x08", b"\x18", b" ", b"\x7f"),
        *(b"X", b"Z", b"0", b"=", b"?", b"&", b"+", b"\xe9", b"\x00", b"\x1f"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.lists(_LINE_BYTES, max_size=30).map(b"".join), max_size=8),
    s3=st.sampled_from([13, 10, ord("Z"), ord("A")]),
    s5=st.sampled_from([8, 127, ord("X"), 13]),
    limit=st.sampled_from([3, 40]),
)
def test_feed_bytes_is_feed_for_each_byte(
    chunks: list[bytes], s3: int, s5: int, limit: int
) -> None:
    """`feed_bytes` (runs of a line taken as slices, "AT" at once) gives exactly the
    echo, events and positions that one `feed` per byte gives, for any chunking."""
    one, whole = LineAssembler(), LineAssembler()
    for chunk in chunks:
        pos = 0
        while pos < len(chunk):
            stop, echo, event = whole.feed_bytes(chunk, pos, len(chunk), s3=s3, s5=s5, limit=limit)
            expected_echo = b""
            expected_event = None
            for at_byte in range(pos, stop):
                got, expected_event = one.feed(chunk[at_byte], s3=s3, s5=s5, limit=limit)
                expected_echo += got
                assert expected_event is None or at_byte == stop - 1
            if expected_event is None and stop < len(chunk):
                raise AssertionError("feed_bytes stopped without an event")
            assert echo == expected_echo
            assert event == expected_event
            state = (whole._phase, bytes(whole._body), whole._overflow)
            assert state == (one._phase, bytes(one._body), one._overflow)
            pos = stop
