"""The modem machine: the AT engine beside a reference model of it.

A `RuleBasedStateMachine` over one `emulator.core.engine.ModemEngine` on an
`emulator.network.sim.Sim` (sans-I/O, virtual time: a dial and an S7 wait take
microseconds). The model holds what the engine should: S0, S7 and S10, the stored
profile (&W, Z, &F), echo (E), verbosity (V), quiet mode (Q), &D, and the command /
online / online-command state. Rules type commands, out-of-range values, the escape
sequence, ATO, ATH, drop DTR under each &D, dial a far end that answers, lose the
carrier; each rule checks the bytes the engine gave its DTE against what the model
predicts, and the invariants compare the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emulator.core.profile import Profile as ModemProfile
from emulator.core.profile import load_profile
from emulator.network.sim import Sim

ANSWER = "5550003"
REGISTERS = {0: (0, 255), 7: (1, 255), 10: (1, 255)}
SETTINGS = ("E", "V", "Q", "&D")
NUMERIC = {"OK": "0", "CONNECT": "1", "NO CARRIER": "3", "ERROR": "4"}


@dataclass
class Profile:
    values: dict[str, int]
    regs: dict[int, int]

    def copy(self) -> Profile:
        return Profile(dict(self.values), dict(self.regs))


@dataclass
class ModemModel:
    factory: Profile
    active: Profile = field(init=False)
    stored: Profile = field(init=False)
    state: str = "command"
    far: str | None = None  # the number of the call, while there is one

    def __post_init__(self) -> None:
        self.active = self.factory.copy()
        self.stored = self.factory.copy()

    def result(self, word: str) -> bytes:
        """A result code as E/V/Q format it (V.250 result code formats)."""
        v = self.active.values
        if v["Q"]:
            return b""
        if v["V"]:
            return b"\r\n" + word.encode() + b"\r\n"
        return NUMERIC[word].encode() + b"\r"

    def info(self, text: str) -> bytes:
        if self.active.values["V"]:
            return b"\r\n" + text.encode() + b"\r\n"
        return text.encode() + b"\r\n"

    def echo(self, line: str) -> bytes:
        return line.encode() if self.active.values["E"] else b""


class ModemMachine(RuleBasedStateMachine):
    """See the module docstring."""

    _profile: ModemProfile | None = None

    def __init__(self) -> None:
        super().__init__()
        if ModemMachine._profile is None:  # loading it takes 0.1 s: once per process
            ModemMachine._profile = load_profile("generic")
        self.sim = Sim()
        self.modem = self.sim.add_modem("A", "1001", ModemMachine._profile)
        self.sim.exchange.set_far(ANSWER, "answer")
        r = self.modem.regs
        self.model = ModemModel(
            Profile(
                {k: r.setting(k) for k in SETTINGS},
                {n: r[n] for n in REGISTERS},
            )
        )
        self.sim.output(self.modem)

    # -- plumbing -----------------------------------------------------------------------------
    def _type(self, line: str, seconds: float = 1.0) -> bytes:
        self.sim.type(self.modem, line)
        self.sim.run(seconds)
        return self.sim.output(self.modem)

    def _command(self, body: str, expect: bytes) -> None:
        """Type AT<body><CR> and check the reply against the model's `expect` (with the
        echo of the line in front when E1 held before the command)."""
        line = f"AT{body}\r"
        echo = self.model.echo(line)
        got = self._type(line)
        assert got == echo + expect, f"{line!r}: got {got!r}, model says {echo + expect!r}"

    def _set_result(self, word: str, change: dict[str, int]) -> bytes:
        self.model.active.values.update(change)
        return self.model.result(word)

    # -- rules in command state ---------------------------------------------------------------
    @precondition(lambda self: self.model.state != "online")
    @rule(n=st.sampled_from(sorted(REGISTERS)), value=st.integers(0, 300))
    def set_register(self, n: int, value: int) -> None:
        low, high = REGISTERS[n]
        if low <= value <= high:
            self.model.active.regs[n] = value
            self._command(f"S{n}={value}", self.model.result("OK"))
        else:
            self._command(f"S{n}={value}", self.model.result("ERROR"))

    @precondition(lambda self: self.model.state != "online")
    @rule(n=st.sampled_from(sorted(REGISTERS)))
    def query_register(self, n: int) -> None:
        value = self.model.info(f"{self.model.active.regs[n]:03d}")
        self._command(f"S{n}?", value + self.model.result("OK"))

    @precondition(lambda self: self.model.state != "online")
    @rule(key=st.sampled_from(SETTINGS), value=st.integers(0, 4))
    def setting(self, key: str, value: int) -> None:
        high = 3 if key == "&D" else 1
        echo = self.model.echo(f"AT{key}{value}\r")
        if value <= high:
            expect = self._set_result("OK", {key: value})
        else:
            expect = self.model.result("ERROR")
        got = self._type(f"AT{key}{value}\r")
        assert got == echo + expect, f"AT{key}{value}: got {got!r}, model {echo + expect!r}"

    @precondition(lambda self: self.model.state == "command")
    @rule(which=st.sampled_from(["&W", "Z", "&F"]))
    def profile(self, which: str) -> None:
        """&W stores the active settings, Z loads the stored ones, &F the factory's."""
        m = self.model
        echo = m.echo(f"AT{which}\r")
        if which == "&W":
            m.stored = m.active.copy()
        elif which == "Z":
            m.active = m.stored.copy()
        else:
            m.active = m.factory.copy()
        got = self._type(f"AT{which}\r")
        assert got == echo + m.result("OK"), f"AT{which}: got {got!r}"

    # -- calls --------------------------------------------------------------------------------
    @precondition(lambda self: self.model.state == "command")
    @rule(far=st.just(ANSWER))
    def dial(self, far: str) -> None:
        m = self.model
        echo = m.echo(f"ATD{far}\r")
        got = self._type(f"ATD{far}\r", 5.0)
        assert got.startswith(echo), got
        if not m.active.values["Q"]:
            # CONNECT <rate>: its numeric code depends on the rate (84 for 33600).
            ok = b"CONNECT" in got if m.active.values["V"] else got[len(echo) :].isascii()
            assert ok and len(got) > len(echo), f"ATD{far}: got {got!r}"
        m.state, m.far = "online", far

    @precondition(lambda self: self.model.state == "online")
    @rule()
    def escape(self) -> None:
        """+++ with the guard time before and after (S12) goes to online-command state."""
        self.sim.run(2.0)
        got = self._type("+++", 3.0)
        assert got == self.model.result("OK"), f"+++: got {got!r}"
        self.model.state = "online_command"

    @precondition(lambda self: self.model.state == "online_command")
    @rule(command=st.sampled_from(["O", "H"]))
    def back_online_or_hang_up(self, command: str) -> None:
        m = self.model
        echo = m.echo(f"AT{command}\r")
        got = self._type(f"AT{command}\r")
        if command == "O":
            assert got.startswith(echo), got
            m.state = "online"
        else:
            assert got == echo + m.result("OK"), f"ATH: got {got!r}"
            m.state, m.far = "command", None

    @precondition(lambda self: self.model.state == "online")
    @rule()
    def dtr_drop(self) -> None:
        """DTR drops for a second: &D0 ignores it, &D1 goes to online-command state, &D2
        hangs up, &D3 hangs up and loads the stored profile (V.250 §6.2.9)."""
        m = self.model
        d = m.active.values["&D"]
        self.modem.set_dtr(False)
        self.sim.run(1.0)
        got = self.sim.output(self.modem)
        self.modem.set_dtr(True)
        self.sim.run(0.5)
        got += self.sim.output(self.modem)
        if d == 0:
            assert got == b"", f"DTR drop under &D0: {got!r}"
            return
        ok = m.result("OK")
        if d == 1:
            m.state = "online_command"
        elif d == 2:
            m.state, m.far = "command", None
        else:
            m.state, m.far = "command", None
            m.active = m.stored.copy()
        if d in (1, 2):
            assert got == ok, f"DTR drop under &D{d}: got {got!r}, model {ok!r}"

    @precondition(lambda self: self.model.far is not None)
    @rule()
    def carrier_loss(self) -> None:
        """The far end goes (carrier lost): after S10 tenths, NO CARRIER, command state."""
        line = self.modem.line
        assert line is not None
        line.drop_carrier()
        self.sim.run(self.model.active.regs[10] / 10 + 1.0)
        got = self.sim.output(self.modem)
        m = self.model
        assert got.endswith(m.result("NO CARRIER")), f"carrier loss: {got!r}"
        m.state, m.far = "command", None

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def state_matches(self) -> None:
        assert self.modem.state == self.model.state, (self.modem.state, self.model.state)

    @invariant()
    def active_settings_match(self) -> None:
        r = self.modem.regs
        got = Profile({k: r.setting(k) for k in SETTINGS}, {n: r[n] for n in REGISTERS})
        assert got == self.model.active, (got, self.model.active)

    @invariant()
    def stored_profile_matches(self) -> None:
        s = self.modem.regs.stored
        got = Profile({k: s.values[k] for k in SETTINGS}, {n: s.registers[n] for n in REGISTERS})
        assert got == self.model.stored, (got, self.model.stored)


__all__ = ["ModemMachine", "ModemModel"]
