"""Hypothesis properties of the engine and of a connected pair."""

from __future__ import annotations

import itertools
import re

from engine_helpers import connect, one_modem, quiet_at, two_modems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Commands that make results countable but still change how they are framed: S3, S4,
# S5, V, E and Q are all exercised (S4 never takes a value S3 can have, so that V0
# framing stays unambiguous).
TOKENS = [
    "E0", "E1", "Q0", "Q1", "V0", "V1", "X0", "X1", "X2", "X3", "X4", "S3=64", "S3=13",
    "S4=10", "S4=33", "S5=8", "S5=127", "S7=1", "S7=2", "S7?", "S0?", "S8=0", "S8=1",
    "S6=2", "S12=0", "S99?", "S7=0", "H", "H0", "H1", "H2", "I3", "I4", "I0", "Z", "&F",
    "&W", "&V", "&C0", "&C1", "&D2", "&K3", "&K1", "+VCID=?", "+VCID=1;", "+VCID=9;",
    "#CID?", "+FCLASS=?", "+FCLASS=1;", "+GMI;", "+VRID=0;", "D999", "D555", "D555;",
    "D@999", "DT,999", "DW555", "A", "O", "L2", "M0", "P", "T", "?", "&V0", "E1" * 130,
]  # fmt: skip
# The commands that change framing and echo, drawn often so that most examples see them.
FRAMING = ["S3=64", "S3=13", "S4=33", "S4=10", "S5=127", "V0", "V1", "E0", "E1", "Q0", "Z"]
FINAL_WORDS = rb"OK|CONNECT(?: [0-9]+)?|NO CARRIER|ERROR|NO DIALTONE|BUSY|NO ANSWER"
CAN = 0x18


def _without(data: bytes, banned: set[int]) -> bytes:
    return bytes(c for c in data if c not in banned)


@st.composite
def segment(draw: st.DrawFn, s3: int, s5: int) -> tuple[str, bytes, bytes, bytes]:
    """One command line in the current S3: (kind, junk, prefix, body).

    kind "line": junk, "AT"/"at", body, S3 (one final result expected);
    "repeat": junk, "A/" (one final result); "cancel": junk, "AT", body, CAN, junk,
    S3 (none: the line was discarded). Junk and body are arbitrary bytes except those
    that would end or restart the line; the body also holds real commands."""
    junk_ban = {ord("A"), ord("a"), s3, s5, CAN}
    junk = _without(draw(st.binary(max_size=6)), junk_ban)
    kind = draw(st.sampled_from(["line", "line", "line", "repeat", "cancel"]))
    if kind == "repeat":
        return kind, junk, draw(st.sampled_from([b"A/", b"a/"])), b""
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(FRAMING).map(str.encode),
                # A token may hold the current S3 ("D@999" once S3=64): drop it there.
                st.sampled_from(TOKENS).map(lambda t: _without(t.encode(), {s3, CAN})),
                st.binary(max_size=4).map(lambda b: _without(b, {s3, CAN})),
            ),
            max_size=5,
        )
    )
    return kind, junk, draw(st.sampled_from([b"AT", b"at"])), b"".join(parts)


def count_final_results(
    out: bytes, *, verbose: bool, s3: int, s4: int, earlier_s4: int | None = None
) -> int:
    """Final result codes in `out` (responses only, no echo) framed per V.250.

    `earlier_s4` is S4 before the line ran: information text printed before an S4=
    later on the same line ends in the S4 of its moment, not in the final one."""
    eol = re.escape(bytes([s3, s4]))
    if verbose:
        return len(re.findall(eol + b"(?:" + FINAL_WORDS + b")" + eol, out))
    # V0: digits then S3 *not* followed by S4 (information text ends in S3 S4).
    cr = re.escape(bytes([s3]))
    info_ends = b"[" + b"".join(re.escape(bytes([c])) for c in {s4, earlier_s4 or s4}) + b"]"
    return len(re.findall(b"(?<![0-9])[0-9]+" + cr + b"(?!" + info_ends + b")", out))


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.sets(st.integers(0, len(data)), max_size=4)))
    bounds = [0, *cuts, len(data)]
    return [data[i:j] for i, j in itertools.pairwise(bounds) if j > i]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_command_line_gets_exactly_one_final_result(data: st.DataObject) -> None:
    """Property 1 (issue 2): in command state with Q0, each line ending in the current
    S3 gets exactly one final result once virtual time has passed S7; lines under Q1
    and lines that take the modem online are exempt. The bytes are arbitrary around
    and inside the commands, and each line arrives in arbitrary chunks."""
    sim, a = one_modem()
    sim.exchange.set_far("555", "answer")
    for _ in range(data.draw(st.integers(1, 6))):
        s3, s5, echo_on = a.regs[3], a.regs[5], a.regs.setting("E") == 1
        s4_before = a.regs[4]
        kind, junk, prefix, body = data.draw(segment(s3, s5))
        if kind == "repeat":
            line = junk + prefix
            echo = line
        else:
            end = bytes([s3])
            if kind == "cancel":
                after = _without(data.draw(st.binary(max_size=4)), {65, 97, s3, s5})
                end = bytes([CAN]) + after + end
            line = junk + prefix + body + end
            echo = junk + prefix + body.replace(bytes([s5]), b"\x08 \x08") + end
        for chunk in data.draw(chunked(line)):
            sim.type(a, chunk)
        assert sim.run_until(lambda: a.state not in ("dialing", "answering"), 100_000)
        sim.run(0.01)
        out = sim.output(a)
        if a.state != "command":
            return  # the line took the modem online: exempt, and the example ends here
        if echo_on:
            assert out.startswith(echo), (line, out)
            out = out[len(echo) :]
        elif kind != "cancel":
            assert not out.startswith(line), (line, out)
        if a.regs.setting("Q") == 1:
            continue
        expected = 0 if kind == "cancel" else 1
        got = count_final_results(
            out,
            verbose=a.regs.setting("V") == 1,
            s3=a.regs[3],
            s4=a.regs[4],
            earlier_s4=s4_before,
        )
        assert got == expected, (kind, line, out)


_STREAM_PARTS = st.one_of(
    st.binary(max_size=8),
    st.sampled_from([b"AT", b"at", b"\r"]),
    st.sampled_from(
        [b"\n", b"A/", b"S3=64", b"@", b"E0", b"V0", b"Q1", b"Z", b"\x08", b"\x18",
         b"D999", b"D;", b"+++", b"S7?", b"&V", b"X9", b"S7=9"]
    ),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_STREAM_PARTS, max_size=25), data=st.data())
def test_random_byte_streams_in_any_chunking_give_the_same_output(
    parts: list[bytes], data: st.DataObject
) -> None:
    """Property 1, first half: any byte stream, in any chunking, never raises, and the
    modem's output, settings and state do not depend on how the bytes were cut."""
    stream = b"".join(parts)
    whole_sim, whole = one_modem()
    cut_sim, cut = one_modem()
    whole.receive_dte(stream)
    for chunk in data.draw(chunked(stream)):
        cut.receive_dte(chunk)
    for _ in range(2):
        assert whole_sim.output(whole) == cut_sim.output(cut)
        assert whole.state == cut.state
        assert whole.regs.active == cut.regs.active
        whole_sim.run(1000)  # past S6, S7 and any dial pauses
        cut_sim.run(1000)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.one_of(
            st.binary(max_size=40).map(lambda b: ("a", b)),
            st.binary(max_size=40).map(lambda b: ("b", b)),
            st.sampled_from([b"+++", b"ATH\r", b"ATO\r", b"ATD1002\r", b"ATA\r", b"AT&D1\r"]).map(
                lambda b: ("a", b)
            ),
            st.floats(0, 8).map(lambda t: ("t", t)),
            st.booleans().map(lambda on: ("dtr", on)),
        ),
        max_size=25,
    )
)
def test_random_input_in_any_state_never_raises(steps: list[tuple[str, object]]) -> None:
    sim, a, b = two_modems()
    sim.type(b, "ATS0=1\r")
    for kind, value in steps:
        if kind == "t":
            assert isinstance(value, float)
            sim.run(value)
        elif kind == "dtr":
            assert isinstance(value, bool)
            a.set_dtr(value)
        else:
            assert isinstance(value, bytes)
            sim.type(a if kind == "a" else b, value)
    sim.run(100)
    assert a.state in ("command", "ringing", "online", "online_command")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    forward=st.lists(
        st.tuples(
            # Non-empty chunks with gaps under S12 (1 s): never a guard time.
            st.one_of(
                st.binary(min_size=1, max_size=64),
                st.sampled_from([b"+++", b"++", b"+", b"++++"]),
            ),
            st.floats(0, 0.9),
        ),
        max_size=12,
    ),
    backward=st.binary(max_size=300),
)
def test_any_payload_crosses_a_connected_pair_unchanged(
    forward: list[tuple[bytes, float]], backward: bytes
) -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    sent = b""
    received_b = b""
    sim.type(b, backward)
    for chunk, gap in forward:
        sim.type(a, chunk)
        sent += chunk
        sim.run(gap)
        received_b += sim.output(b)
    sim.run(5)
    received_b += sim.output(b)
    assert received_b == sent
    assert sim.output(a) == backward
    assert a.state == "online" and b.state == "online"


class EscapeModel:
    """The escape detector of issue 2, one byte at a time and as plainly as possible:
    S12 of silence, three S2 characters each within S12 of the previous, S12 of
    silence; anything else releases the held characters as data. XON/XOFF are
    removed under &K4/&K6 and are ordinary data otherwise."""

    def __init__(self, esc: int, guard: float, flow: int, now: float) -> None:
        self.esc, self.guard, self.flow = esc, guard, flow
        self.sent = bytearray()
        self.held = 0
        self.last_tx = now
        self.last_plus = 0.0
        self.deadline: float | None = None
        self.escaped = False

    def due(self, now: float) -> None:
        if self.deadline is None or self.deadline > now:
            return
        self.deadline = None
        if self.held == 3:
            self.escaped = True
        else:
            self.sent += bytes([self.esc]) * self.held
            self.last_tx = self.last_plus
        self.held = 0

    def feed(self, chunk: bytes, now: float) -> None:
        for byte in chunk:
            if byte in (0x11, 0x13) and self.flow in (4, 6):
                continue
            if self.esc > 127:
                self.sent.append(byte)
                continue
            first = self.held == 0 and now - self.last_tx >= self.guard
            more = 0 < self.held < 3 and (self.guard == 0 or now - self.last_plus < self.guard)
            if byte == self.esc and (first or more):
                self.held += 1
                self.last_plus = now
                self.deadline = now + self.guard
                continue
            self.sent += bytes([self.esc]) * self.held + bytes([byte])
            self.held = 0
            self.deadline = None
            self.last_tx = now


_ESCAPE_ALPHABET = st.sampled_from([b"+", b"+", b"-", b"-", b"x", b"\x11", b"\x13", b"\xff"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    s2=st.sampled_from([43, 45, 200]),
    s12=st.sampled_from([0, 1, 5, 50]),
    flow=st.sampled_from([0, 3, 4, 5, 6]),
    steps=st.lists(
        st.tuples(
            st.lists(_ESCAPE_ALPHABET, min_size=1, max_size=8).map(b"".join),
            st.sampled_from([0.0, 0.5, 0.99, 1.0, 1.01, 2.0]),
        ),
        max_size=10,
    ),
)
def test_the_chunked_data_path_matches_the_per_byte_escape_model(
    s2: int, s12: int, flow: int, steps: list[tuple[bytes, float]]
) -> None:
    """The batched data path forwards exactly what the per-byte rules forward, and
    escapes exactly when they do, for any S2, S12 (0 included), &K and timing. Gaps
    are fractions of S12, so both sides of each guard-time comparison are drawn, but
    not the exact boundary: tests/unit/test_engine_boundaries.py puts the clock on
    each limit and one float step before it."""
    sim, a, b = two_modems()
    quiet_at(sim, a, f"ATS2={s2}S12={s12}&K{flow}")
    connect(sim, a, b)
    guard = s12 * 0.02
    sim.type(a, "x")  # a data byte: the silence before the first step starts now
    model = EscapeModel(s2, guard, flow, sim.clock.now())
    model.sent += b"x"
    for chunk, gap in steps:
        sim.run(gap * guard)
        model.due(sim.clock.now())
        if model.escaped:
            break
        sim.type(a, chunk)
        model.feed(chunk, sim.clock.now())
        model.due(sim.clock.now())
        if model.escaped:
            break
    sim.run(3)
    model.due(sim.clock.now())
    assert sim.output(b) == bytes(model.sent)
    assert a.state == ("online_command" if model.escaped else "online")
