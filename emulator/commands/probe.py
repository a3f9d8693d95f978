"""`linelab probe --port URL [--out FILE]`: identify a modem and write a profile the
emulator can load (`linelab modem --profile FILE`), so that a vendor's modem can be
emulated in CI from then on.

URL is anything pyserial opens: /dev/ttyUSB0, a pty link, rfc2217://host:port. The
probe asks ATI0-ATI9, +GMI/+GMM/+GMR/+GSN/+GCAP and +FCLASS=?, notes the echo and
result style, the numeric codes of OK and ERROR, whether unknown commands are errors,
and each S-register's factory value and accepted range; it dials nothing, so CONNECT
codes and line rates come from the base profile. The modem is reset with ATZ at the
end. Exit status: 0 probed (and the profile loads), 2 usage, 3 no modem answered.
"""

from __future__ import annotations

import argparse
import sys

import serial

from emulator.core.profile import BEHAVIOURS, bundled_profiles, load_profile
from emulator.probe import COMMAND_TIMEOUT, ProbeError, Prober, dump_profile, profile_of
from linelab.errors import LinelabError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="identify a modem and write a profile the emulator can load",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="Exit status: 0 probed; 2 usage; 3 no modem answered.",
    )
    parser.add_argument("--port", required=True, metavar="URL", help="the modem's port")
    parser.add_argument("--baudrate", type=int, default=115200, help="(default: 115200)")
    parser.add_argument(
        "--out", metavar="FILE", help="write the profile here (default: print it on stdout)"
    )
    parser.add_argument(
        "--base",
        default="generic",
        choices=bundled_profiles(),
        help="the bundled profile for what a probe cannot see: CONNECT codes, rates "
        "(default: generic)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=COMMAND_TIMEOUT,
        metavar="SECONDS",
        help=f"how long one command may take to answer (default: {COMMAND_TIMEOUT:g})",
    )
    parser.add_argument(
        "--lacks",
        type=_behaviours,
        default=[],
        metavar="B[,B...]",
        help="behaviours the modem lacks that a probe does not try (writing NVRAM, "
        "cutting itself off, needing a call), added to the profile's lacks: "
        f"({', '.join(BEHAVIOURS)})",
    )
    parser.set_defaults(func=run)


def _behaviours(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BEHAVIOURS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(text)}: each must be one of {', '.join(BEHAVIOURS)}"
        )
    return names


def run(args: argparse.Namespace) -> int:
    try:
        port = serial.serial_for_url(args.port, baudrate=args.baudrate, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as exc:
        print(f"linelab probe: cannot open {args.port}: {exc}", file=sys.stderr)
        return 3
    try:
        prober = Prober(
            port,
            timeout=args.timeout,
            progress=lambda step: print(f"probing {step} …", file=sys.stderr, flush=True),
        )
        try:
            found = prober.run()
        except ProbeError as exc:
            print(f"linelab probe: {args.port}: {exc}", file=sys.stderr)
            return 3
    finally:
        port.close()
    found.lacks.extend(name for name in args.lacks if name not in found.lacks)
    profile = profile_of(found, source=args.port, base=args.base)
    notes = [
        f"linelab probe --port {args.port}: {found.commands} commands",
        f"CONNECT codes and line rates are {args.base}'s: a probe dials nothing",
        *(f"S{n} clamps out-of-range values instead of refusing them" for n in found.clamps),
        *found.notes,
        *([f"declared lacking (--lacks): {', '.join(args.lacks)}"] if args.lacks else []),
    ]
    text = dump_profile(profile, notes)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            load_profile(args.out)
        except LinelabError as exc:
            print(f"linelab probe: the written profile does not load: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    identity = found.identity.get("model") or (found.info.get(0) or ["?"])[0]
    print(
        f"probed {args.port}: {identity}; {len(found.registers)} S-registers; "
        f"unknown commands: {found.unknown_commands}",
        file=sys.stderr,
    )
    return 0
