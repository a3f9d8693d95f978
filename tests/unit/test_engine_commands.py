"""Every AT command on a modem with no call: results, values and ranges."""

from __future__ import annotations

import pytest
from engine_helpers import at, one_modem, profile, quiet_at

from emulator.core.profile import load_profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
NO_CARRIER = b"\r\nNO CARRIER\r\n"


def info(*lines: str) -> bytes:
    return b"\r\n" + "\r\n".join(lines).encode() + b"\r\n" + OK


@pytest.mark.parametrize(
    ("command", "key", "low", "high"),
    [
        ("E", "E", 0, 1),
        ("V", "V", 0, 1),
        ("Q", "Q", 0, 1),
        ("X", "X", 0, 4),
        ("L", "L", 0, 3),
        ("M", "M", 0, 3),
        ("&C", "&C", 0, 1),
        ("&D", "&D", 0, 3),
        ("&S", "&S", 0, 1),
    ],
)
def test_basic_settings_and_their_ranges(command: str, key: str, low: int, high: int) -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATE1Q0V1")
    for value in range(low, high + 1):
        sim.type(a, f"AT{command}{value}\r")
        assert a.regs.setting(key) == value
        sim.type(a, "ATE1Q0V1\r")
        sim.output(a)
    before = a.regs.setting(key)
    assert quiet_at(sim, a, f"AT{command}{high + 1}") == ERROR
    assert a.regs.setting(key) == before


def test_setting_without_number_means_zero() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATX") == OK
    assert a.regs.setting("X") == 0


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (1, False), (2, False), (3, True), (4, True), (5, True), (6, True), (7, False)],
)
def test_amp_k_flow_control_values(value: int, ok: bool) -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, f"AT&K{value}") == (OK if ok else ERROR)


def test_a_without_a_call_is_no_carrier() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATA") == NO_CARRIER


def test_h_on_hook_is_ok_and_h2_is_error() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATH") == OK
    assert quiet_at(sim, a, "ATH0") == OK
    assert quiet_at(sim, a, "ATH1") == OK
    assert quiet_at(sim, a, "ATH2") == ERROR


@pytest.mark.parametrize("n", range(10))
def test_i0_to_i9_come_from_the_profile(n: int) -> None:
    sim, a = one_modem()
    lines = load_profile("generic").info[n]
    assert quiet_at(sim, a, f"ATI{n}") == info(*lines)


def test_i_absent_from_the_profile_is_error() -> None:
    prof = load_profile("generic")
    sim, a = one_modem(profile(info={k: v for k, v in prof.info.items() if k != 5}))
    assert quiet_at(sim, a, "ATI5") == ERROR
    assert quiet_at(sim, a, "ATI10") == ERROR


def test_o_without_a_call_is_no_carrier() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATO") == NO_CARRIER


def test_p_and_t_select_dial_method() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATP") == OK
    assert a.pulse
    assert quiet_at(sim, a, "ATT") == OK
    assert not a.pulse
    assert quiet_at(sim, a, "ATP1") == ERROR


def test_q1_suppresses_result_codes_but_not_information_text() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATQ1") == b""
    assert quiet_at(sim, a, "ATS7?") == b"\r\n050\r\n"
    assert quiet_at(sim, a, "ATX9") == b""
    assert quiet_at(sim, a, "ATQ0") == OK


def test_v0_numeric_results_and_info_framing() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATV0") == b"0\r"
    assert quiet_at(sim, a, "ATS7?") == b"050\r\n0\r"
    assert quiet_at(sim, a, "ATX9") == b"4\r"
    assert quiet_at(sim, a, "ATI3") == b"linelab generic V.250 modem 1.0\r\n0\r"
    assert quiet_at(sim, a, "ATV1") == OK


def test_s_register_read_is_three_digits() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS2?") == info("043")
    assert quiet_at(sim, a, "ATS0=7") == OK
    assert quiet_at(sim, a, "ATS0?") == info("007")
    assert quiet_at(sim, a, "ATS10?S12?") == b"\r\n014\r\n\r\n050\r\n" + OK


def test_s_register_write_checks_the_range() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7=0") == ERROR  # S7 is 1-255
    assert quiet_at(sim, a, "ATS7=256") == ERROR
    assert quiet_at(sim, a, "ATS6=1") == ERROR  # S6 is at least 2
    assert quiet_at(sim, a, "ATS3=128") == ERROR
    assert a.regs[7] == 50
    assert quiet_at(sim, a, "ATS7=255") == OK
    assert a.regs[7] == 255


def test_s_register_that_does_not_exist_is_error() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS99?") == ERROR
    assert quiet_at(sim, a, "ATS99=1") == ERROR


def test_s_register_select_then_read() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS8") == OK
    assert quiet_at(sim, a, "AT?") == info("002")
    assert quiet_at(sim, a, "ATS8=?") == ERROR


def test_z_restores_the_stored_profile_written_by_amp_w() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7=30X3&W") == OK
    assert quiet_at(sim, a, "ATS7=40X1") == OK
    assert quiet_at(sim, a, "ATZ") == OK
    assert a.regs[7] == 30
    assert a.regs.setting("X") == 3
    assert quiet_at(sim, a, "ATZ1") == ERROR


def test_z_answers_in_the_restored_verbosity() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATV0&W")
    assert quiet_at(sim, a, "ATV1") == OK
    assert quiet_at(sim, a, "ATZ") == b"0\r"


def test_amp_f_loads_factory_settings() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATS7=9X0&C0&W")
    assert quiet_at(sim, a, "AT&F") == OK
    assert (a.regs[7], a.regs.setting("X"), a.regs.setting("&C")) == (50, 4, 1)
    quiet_at(sim, a, "ATZ")
    assert a.regs[7] == 9  # &F does not touch the stored profile
    assert quiet_at(sim, a, "AT&F1") == ERROR


def test_amp_v_shows_active_and_stored_profiles() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATS7=33&W")
    quiet_at(sim, a, "ATS7=44X2")
    out = quiet_at(sim, a, "AT&V")
    text = out.decode()
    assert text.endswith("\r\n\r\nOK\r\n")
    active, stored = text.split("STORED PROFILE 0:")
    assert "ACTIVE PROFILE:" in active
    assert "S07:044" in active and "X2" in active
    assert "S07:033" in stored and "X4" in stored


def test_amp_w_profile_number_range() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "AT&W0") == OK
    assert quiet_at(sim, a, "AT&W1") == ERROR


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ("+GMI", "manufacturer"),
        ("+GMM", "model"),
        ("+GMR", "revision"),
        ("+GSN", "serial"),
        ("+GCAP", "capabilities"),
    ],
)
def test_identification_commands(command: str, field: str) -> None:
    sim, a = one_modem()
    prof = load_profile("generic")
    assert quiet_at(sim, a, f"AT{command}") == info(getattr(prof, field))
    assert quiet_at(sim, a, f"AT{command}=?") == OK
    assert quiet_at(sim, a, f"AT{command}?") == ERROR


def test_fclass_on_a_data_only_profile() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "AT+FCLASS=?") == info("(0)")
    assert quiet_at(sim, a, "AT+FCLASS?") == info("0")
    assert quiet_at(sim, a, "AT+FCLASS=0") == OK
    assert quiet_at(sim, a, "AT+FCLASS=1") == ERROR
    assert quiet_at(sim, a, "AT+FCLASS=8") == ERROR
    assert quiet_at(sim, a, "AT+FCLASS") == ERROR


def test_fclass_lists_and_accepts_the_profile_classes() -> None:
    sim, a = one_modem(profile(fclass=("0", "1", "2.0", "8")))
    assert quiet_at(sim, a, "AT+FCLASS=?") == info("(0,1,2.0,8)")
    assert quiet_at(sim, a, "AT+FCLASS=2.0") == OK
    assert quiet_at(sim, a, "AT+FCLASS?") == info("2.0")
    assert quiet_at(sim, a, "AT+FCLASS=2") == ERROR
    assert quiet_at(sim, a, "ATZ+FCLASS?") == info("0")


@pytest.mark.parametrize("name", ["+VCID", "#CID"])
def test_caller_id_mode_commands(name: str) -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, f"AT{name}=?") == info("(0-2)")
    assert quiet_at(sim, a, f"AT{name}?") == info("0")
    for value in (1, 2, 0):
        assert quiet_at(sim, a, f"AT{name}={value}") == OK
        assert quiet_at(sim, a, f"AT{name}?") == info(str(value))
    assert quiet_at(sim, a, f"AT{name}=3") == ERROR
    assert quiet_at(sim, a, f"AT{name}=x") == ERROR
    assert quiet_at(sim, a, f"AT{name}") == ERROR


def test_vcid_and_cid_are_one_setting_stored_by_amp_w() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT#CID=2;&W")
    quiet_at(sim, a, "AT+VCID=0")
    quiet_at(sim, a, "ATZ")
    assert quiet_at(sim, a, "AT+VCID?") == info("2")


def test_vrid_without_a_call_is_ok_with_no_text() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "AT+VRID=0") == OK
    assert quiet_at(sim, a, "AT+VRID=1") == OK
    assert quiet_at(sim, a, "AT+VRID=?") == info("(0,1)")
    assert quiet_at(sim, a, "AT+VRID=2") == ERROR


def test_extended_commands_separated_by_semicolon() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "AT+VCID=1;+FCLASS=0;S7=20") == OK
    assert a.regs[7] == 20
    assert a.regs.setting("+VCID") == 1


@pytest.mark.parametrize(
    "line",
    ["ATW2", "AT\\N3", "AT%C0", "AT&B1", "ATS95=44", "AT+CGMI", "AT$X", "AT!", "AT&", "AT+"],
)
def test_unknown_commands_are_error_in_a_strict_profile(line: str) -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, line) == ERROR


def test_lenient_profile_accepts_common_init_strings() -> None:
    sim, a = one_modem("lenient")
    for line in [
        "AT&C1&D2E1V1X4 \\N3 %C0 &B1 W2 S95=44",
        "AT&F&C1&D2&K3\\N0%C0S0=0S7=60",
        "AT M1L2 &S0 \\V1 W1 S11=55",
        "ATE0V1Q0X4&C1&D2S0=0&K3+FCLASS=0",
    ]:
        assert quiet_at(sim, a, line).endswith(OK), line
    # still strict about values of commands it knows
    assert at(sim, a, "ATE1S7=0").endswith(ERROR)
