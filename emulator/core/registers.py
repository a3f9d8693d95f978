"""S-registers and the basic settings of one modem, with the stored profile.

The active settings are what commands change; `&W` copies them to the stored profile,
`Z` copies the stored profile back, and `&F` loads the factory values from the modem
profile. Ranges come from the profile, so `ATSn=v` out of range is a DTE mistake
(answered ERROR), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.core.profile import DEFAULT_RANGES, Profile

# Registers the modem uses for timing and control; named so that engine code reads
# like the manuals.
S_AUTO_ANSWER = 0
S_RING_COUNT = 1
S_ESCAPE_CHAR = 2
S_LINE_END = 3
S_RESPONSE_CHAR = 4
S_EDIT_CHAR = 5
S_BLIND_WAIT = 6
S_CARRIER_WAIT = 7
S_COMMA_PAUSE = 8
S_LOSS_DELAY = 10
S_DTMF_DURATION = 11
S_GUARD_TIME = 12
S_DTR_DEBOUNCE = 25

# Settings listed in the order `&V` prints them.
SETTING_ORDER: tuple[str, ...] = tuple(DEFAULT_RANGES)


@dataclass
class Settings:
    """One complete set of modem settings: the basic commands and every S-register."""

    values: dict[str, int]
    registers: dict[int, int]

    @classmethod
    def factory(cls, profile: Profile) -> Settings:
        """The factory settings of `profile` (what `&F` loads)."""
        return cls(
            values={k: profile.defaults[k] for k in SETTING_ORDER},
            registers={n: spec.default for n, spec in profile.registers.items()},
        )

    def copy(self) -> Settings:
        return Settings(dict(self.values), dict(self.registers))


@dataclass
class Registers:
    """Active and stored settings, with range checks taken from the profile."""

    profile: Profile
    active: Settings = field(init=False)
    # The stored profile once `&W` wrote one; None until then: the factory settings,
    # made when asked for (1000 modems that never store do not each hold a copy).
    _stored: Settings | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.active = Settings.factory(self.profile)

    @property
    def stored(self) -> Settings:
        """The stored profile (what `Z` loads): the factory settings until `&W`."""
        return self._stored if self._stored is not None else Settings.factory(self.profile)

    # -- S-registers -----------------------------------------------------------------

    def __getitem__(self, number: int) -> int:
        return self.active.registers[number]

    def has(self, number: int) -> bool:
        """True if the modem has register S<number>."""
        return number in self.active.registers

    def set(self, number: int, value: int) -> bool:
        """Set S<number>; False (nothing changed) if the register or value is invalid."""
        spec = self.profile.registers.get(number)
        if spec is None or not spec.low <= value <= spec.high:
            return False
        self.active.registers[number] = value
        return True

    def force(self, number: int, value: int) -> None:
        """Set a register the modem itself maintains (S1), clamped to its range."""
        spec = self.profile.registers.get(number)
        if spec is not None:
            self.active.registers[number] = max(spec.low, min(spec.high, value))

    # -- basic settings --------------------------------------------------------------

    def setting(self, key: str) -> int:
        """The active value of a basic setting ("E", "&D", "+VCID" …)."""
        return self.active.values[key]

    def set_setting(self, key: str, value: int) -> bool:
        """Set a basic setting; False if `value` is outside its range."""
        low, high = DEFAULT_RANGES[key]
        if not low <= value <= high:
            return False
        self.active.values[key] = value
        return True

    # -- profiles ----------------------------------------------------------------------

    def write(self) -> None:
        """`&W`: store the active settings."""
        self._stored = self.active.copy()

    def restore(self) -> None:
        """`Z`: load the stored settings."""
        stored = self._stored
        self.active = stored.copy() if stored is not None else Settings.factory(self.profile)

    def factory(self) -> None:
        """`&F`: load the factory settings."""
        self.active = Settings.factory(self.profile)

    @staticmethod
    def describe(settings: Settings) -> list[str]:
        """Lines `&V` prints for one set of settings."""
        basics = " ".join(
            f"{k}={v}" if k.startswith("+") else f"{k}{v}" for k, v in settings.values.items()
        )
        regs = [f"S{n:02d}:{v:03d}" for n, v in sorted(settings.registers.items())]
        lines = [basics]
        for start in range(0, len(regs), 8):
            lines.append(" ".join(regs[start : start + 8]))
        return lines
