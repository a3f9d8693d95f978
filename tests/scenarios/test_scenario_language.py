"""Loading scenario files: one broken file per kind of load error, each a single
`SpecError` naming the file, the line and the key; and what a good file turns into."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_helpers import INIT, OPEN, SHUTDOWN, WORLD, scenario

from linelab.errors import SpecError
from scenarios.language import cases, load_file, load_text

GOOD = scenario("ok", INIT + SHUTDOWN)


def doc(*entries: str) -> str:
    return 'spec: "1"\nscenarios:\n' + "".join(entries)


# (label, file text, expected line, expected key (or None), words in the message)
BROKEN: list[tuple[str, str, int | None, str | None, str]] = [
    ("not YAML", 'spec: "1"\nscenarios: [\n', 3, None, "not valid YAML"),
    ("no spec first", "scenarios: []\n", 1, "spec", 'spec: "1"'),
    ("newer spec", 'spec: "2"\nscenarios: []\n', 1, "spec", "newer than this linelab"),
    ("no scenarios", 'spec: "1"\nscenarios: []\n', 2, "scenarios", "at least one"),
    ("unknown top key", doc(GOOD) + "extra: 1\n", 17, "extra", "unknown key"),
    (
        "unknown scenario key",
        doc(GOOD.replace("    steps:", "    stepz: []\n    steps:")),
        8,
        "scenarios[0].stepz",
        "unknown key",
    ),
    ("missing steps", doc("  - name: x\n"), 3, "scenarios[0]", "missing required key"),
    (
        "bad name",
        doc(GOOD.replace("name: ok", "name: '!bad'")),
        3,
        "scenarios[0].name",
        "1-120 characters",
    ),
    ("duplicate name", doc(GOOD, GOOD), 17, "scenarios[1]", "a second scenario named 'ok'"),
    (
        "unknown function",
        doc(scenario("x", INIT.replace("lineInitializeEx", "lineInitialiseEx"))),
        9,
        "scenarios[0].steps[0].call",
        "not a TAPI function",
    ),
    (
        "unknown parameter",
        doc(scenario("x", INIT.replace("lpszFriendlyAppName", "lpszName"))),
        10,
        "scenarios[0].steps[0].args",
        "no parameter 'lpszName'",
    ),
    (
        "missing argument",
        doc(scenario("x", INIT + "      - call: lineClose\n        args: {}\n" + SHUTDOWN)),
        16,
        "scenarios[0].steps[1].args",
        "missing hLine",
    ),
    (
        "unknown constant",
        doc(scenario("x", INIT.replace("TAPI_VERSION2_2", "TAPI_VERSION9_9") + SHUTDOWN)),
        10,
        "scenarios[0].steps[0].args",
        "unknown constant 'TAPI_VERSION9_9'",
    ),
    (
        "unknown struct member",
        doc(scenario("x", INIT.replace("dwOptions", "dwOption") + SHUTDOWN)),
        10,
        "scenarios[0].steps[0].args",
        "no member 'dwOption'",
    ),
    (
        "used before saved",
        doc(scenario("x", SHUTDOWN + INIT)),
        10,
        "scenarios[0].steps[0].args",
        "$hApp is used but never saved",
    ),
    (
        "saved never used",
        doc(scenario("x", INIT + OPEN + SHUTDOWN)),
        17,
        "scenarios[0].steps[1].save.hLine",
        "saved but never used",
    ),
    (
        "bad save source",
        doc(scenario("x", INIT.replace("hLineApp}", "hLine}") + SHUTDOWN)),
        14,
        "scenarios[0].steps[0].save.hApp",
        "gives return, hLineApp",
    ),
    (
        "bad duration",
        doc(
            scenario(
                "x",
                INIT
                + "      - messages: []\n        app: $hApp\n        within: soon\n"
                + SHUTDOWN,
            )
        ),
        17,
        "scenarios[0].steps[1].within",
        "a duration",
    ),
    (
        "unknown message",
        doc(
            scenario("x", INIT + "      - messages: [LINE_NOPE]\n        app: $hApp\n" + SHUTDOWN)
        ),
        15,
        "scenarios[0].steps[1].messages[0]",
        "not a message name",
    ),
    (
        "two actions in a step",
        doc(scenario("x", "      - advance: 1s\n        ring: A\n")),
        9,
        "scenarios[0].steps[0]",
        "exactly one of",
    ),
    (
        "unknown modem",
        doc(scenario("x", "      - ring: Z\n")),
        9,
        "scenarios[0].steps[0].ring",
        "names a modem of the world (A)",
    ),
    (
        "bad far end",
        doc(scenario("x", "      - advance: 1s\n", world=WORLD.replace("busy", "bussy"))),
        6,
        "scenarios[0].world.far.5550101",
        "not a far-end behaviour",
    ),
    (
        "bad profile",
        doc(
            scenario(
                "x",
                "      - advance: 1s\n",
                world=WORLD.replace('"1001"}', '"1001", profile: nope}'),
            )
        ),
        5,
        "scenarios[0].world.modems.A.profile",
        "cannot load this profile",
    ),
    (
        "unknown need",
        doc(scenario("x", "      - advance: 1s\n", extra="    needs: [moon]\n")),
        8,
        "scenarios[0].needs[0]",
        "must be one of exchange",
    ),
    (
        "unchecked without reason",
        doc(scenario("x", "      - advance: 1s\n", extra="    unchecked: {modems: ''}\n")),
        8,
        "scenarios[0].unchecked.modems",
        "give the reason",
    ),
    (
        "unknown check",
        doc(scenario("x", "      - advance: 1s\n", extra="    unchecked: {fds: why}\n")),
        8,
        "scenarios[0].unchecked.fds",
        "not a teardown check",
    ),
    (
        "todo on unknown target",
        doc(scenario("x", "      - advance: 1s\n", extra="    todo: {windows: gap}\n")),
        8,
        "scenarios[0].todo.windows",
        "must be a target",
    ),
    (
        "bad tag",
        doc(scenario("x", "      - advance: 1s\n", extra="    tags: [Has Space]\n")),
        8,
        "scenarios[0].tags[0]",
        "a tag is",
    ),
    (
        "data rows disagree",
        doc(
            scenario(
                "x", "      - advance: 1s\n", extra="    data:\n      - {a: 1}\n      - {b: 2}\n"
            )
        ),
        10,
        "scenarios[0].data[1]",
        "same columns",
    ),
    (
        "expect names no out-value",
        doc(scenario("x", INIT + SHUTDOWN + "        expect: {hLine: 1}\n")),
        17,
        "scenarios[0].steps[1].expect.hLine",
        "lineShutdown gives no out-value, not 'hLine'",
    ),
    (
        "expect names no member",
        doc(
            scenario(
                "x",
                INIT
                + "      - call: lineGetDevCaps\n        args: [$hApp, 0, TAPI_VERSION2_2, 0]\n"
                "        expect: {LineDevCaps.dwNumAdresses: 1}\n" + SHUTDOWN,
            )
        ),
        17,
        "scenarios[0].steps[1].expect.LineDevCaps.dwNumAdresses",
        "LINEDEVCAPS has no member 'dwNumAdresses'",
    ),
    (
        "expect a member of a plain value",
        doc(
            scenario(
                "x",
                INIT + OPEN + "      - call: lineGetNumRings\n        args: [$hLine, 0]\n"
                "        expect: {dwNumRings.x: 1}\n" + SHUTDOWN,
            )
        ),
        20,
        "scenarios[0].steps[2].expect.dwNumRings.x",
        "plain value",
    ),
    (
        "expect a whole structure",
        doc(
            scenario(
                "x",
                INIT
                + "      - call: lineGetDevCaps\n        args: [$hApp, 0, TAPI_VERSION2_2, 0]\n"
                "        expect: {LineDevCaps: 1}\n" + SHUTDOWN,
            )
        ),
        17,
        "scenarios[0].steps[1].expect.LineDevCaps",
        "name a member of LINEDEVCAPS",
    ),
    (
        "expect any",
        doc(
            scenario(
                "x",
                INIT + OPEN + "      - call: lineGetNumRings\n        args: [$hLine, 0]\n"
                "        expect: {dwNumRings: any}\n" + SHUTDOWN,
            )
        ),
        20,
        "scenarios[0].steps[2].expect.dwNumRings",
        "checks nothing",
    ),
    (
        "expect a variable never saved",
        doc(
            scenario(
                "x",
                INIT + OPEN + "      - call: lineGetNumRings\n        args: [$hLine, 0]\n"
                "        expect: {dwNumRings: $rings}\n" + SHUTDOWN,
            )
        ),
        20,
        "scenarios[0].steps[2].expect.dwNumRings",
        "$rings is used but never saved",
    ),
    (
        "any as an argument",
        doc(scenario("x", INIT + "      - call: lineShutdown\n        args: [any]\n")),
        16,
        "scenarios[0].steps[1].args",
        "only matches messages",
    ),
    (
        "a caller-sized structure given a number",
        doc(
            scenario(
                "x",
                INIT
                + "      - call: lineGetDevCaps\n"
                + "        args: {hLineApp: $hApp, dwDeviceID: 0, dwAPIVersion: 0x20002,"
                + " dwExtVersion: 0, lpLineDevCaps: 8}\n"
                + SHUTDOWN,
            )
        ),
        16,
        "scenarios[0].steps[1].args",
        "lpLineDevCaps: a LINEDEVCAPS the caller sizes: a mapping of its members",
    ),
    (
        "a caller-sized structure with no such member",
        doc(
            scenario(
                "x",
                INIT
                + "      - call: lineGetCallStatus\n"
                + "        args: {hCall: 1, lpCallStatus: {dwTotalSize: 8, dwSize: 1}}\n"
                + SHUTDOWN,
            )
        ),
        16,
        "scenarios[0].steps[1].args",
        "lpCallStatus: LINECALLSTATUS has no member 'dwSize'",
    ),
    (
        "an out-value that is not a structure, as an argument",
        doc(
            scenario(
                "x",
                INIT
                + "      - call: lineGetNumRings\n"
                + "        args: {hLine: 1, dwAddressID: 0, lpdwNumRings: {dwTotalSize: 8}}\n"
                + SHUTDOWN,
            )
        ),
        16,
        "scenarios[0].steps[1].args",
        "lineGetNumRings has no parameter 'lpdwNumRings'; it takes hLine, dwAddressID",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [pytest.param(t, ln, k, w, id=label) for label, t, ln, k, w in BROKEN],
)
def test_each_broken_file_is_one_located_error(
    tmp_path: Path, text: str, line: int | None, key: str | None, words: str
) -> None:
    path = tmp_path / "broken.scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_file(path)
    err = info.value
    assert err.path == str(path)
    assert words in err.message, err
    assert (err.line, err.key) == (line, key), str(err)
    assert str(err).startswith(f"{path}:{line}: ")


def test_a_good_file_gives_sorted_stable_ids() -> None:
    text = doc(scenario("zeta", INIT + SHUTDOWN), scenario("alpha", INIT + SHUTDOWN))
    found = cases(load_text(text, "dir/calls.scenario.yaml"))
    assert [c.id for c in found] == ["calls::alpha", "calls::zeta"]
    assert [c.scenario.where.line for c in found] == [17, 3]


def test_data_rows_make_one_case_each_and_define_variables() -> None:
    body = INIT.replace("lpszFriendlyAppName: test", "lpszFriendlyAppName: $who") + SHUTDOWN
    extra = "    data:\n      - {id: first, who: alice}\n      - {who: bob}\n"
    found = cases(load_text(doc(scenario("rows", body, extra=extra)), "d.scenario.yaml"))
    assert [c.id for c in found] == ["d::rows[1]", "d::rows[first]"]
    assert found[1].row == {"who": "alice"}


def test_constants_combine_with_bars() -> None:
    body = (
        INIT
        + OPEN.replace(
            "LINECALLPRIVILEGE_OWNER,", "LINECALLPRIVILEGE_OWNER | LINECALLPRIVILEGE_MONITOR,"
        ).replace("save: {hLine: hLine}", "")
        + SHUTDOWN
    )
    (case,) = cases(load_text(doc(scenario("bars", body)), "b.scenario.yaml"))
    params = case.scenario.steps[1].args["params"]
    assert params["dwPrivileges"] == 0x2 | 0x4
