"""`linelab modem LINK[=NUMBER] …`: virtual modems on ptys that any program can open.

One modem per LINK, all on one exchange so they can call each other by number
(default numbers 1001, 1002 … skipping those given). stdout carries only one ready
line per modem, in argument order, flushed once its link exists and the modem has
answered AT through the pty:

    READY link=/tmp/modemA pty=/dev/pts/5 number=1001 [rfc2217=127.0.0.1:P] control=…

Logs go to stderr. SIGINT or SIGTERM removes the links and exits 0. A LINK that is a
dangling symlink, or a symlink to a pty that no running linelab owns, is replaced with
a warning; anything else already there is an error (exit 2), as are an unknown
profile, a malformed behaviour and a port in use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import re
import resource
import signal
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.core.engine import Signals
from emulator.core.profile import DEFAULT_PROFILE, Profile, bundled_profiles, load_profile
from emulator.core.tracerecord import TraceSink
from emulator.network.farend import Behaviour, parse_behaviour
from emulator.network.subscriberline import UNASSIGNED_TONES
from emulator.transports.control import ControlServer, LinkInfo, find_owner, start_control_server
from emulator.transports.host import HostedModem, ModemHost
from emulator.transports.pty import PtyPort, is_pty_path
from emulator.transports.tcp import TcpListener, TcpTrunk, parse_address
from linelab.errors import LinelabError
from linelab.limits import (
    limit_error,
    links_that_fit,
    open_fd_count,
    raise_open_files_limit,
    too_many,
)

log = logging.getLogger("linelab.modem")

_NUMBER = re.compile(r"[0-9*#+]{1,32}")
FIRST_NUMBER = 1001
# A link name leaves room for the ".<pid>.tmp" it is first created as (NAME_MAX 255).
MAX_LINK_NAME = 200
MAX_LINK_PATH = 4000
# Beyond these a timer is either never due or always due: a typo, not a test setup.
MIN_TIME_SCALE = 1e-3
MAX_TIME_SCALE = 1e6
READY_TIMEOUT = 10.0  # seconds a modem may take to answer the readiness AT
# Readiness probes in flight at once: enough to keep the loop busy while each waits for
# its pty round trip, few enough that their descriptors (one slave each) stay bounded.
PROBE_WINDOW = 64
PROBE_FD_MARGIN = 8  # descriptors left free beside the probes' (accepted clients, logs)
RFC2217_MODULE = "emulator.transports.rfc2217"


class ModemCommandError(LinelabError):
    """`linelab modem` cannot start as asked."""


# -- planning: everything that can be checked before anything is created ----------


@dataclass
class LinkPlan:
    link: str  # absolute path
    number: str
    name: str
    rfc2217: int | None = None
    replace: str | None = None  # warning text when an old link is replaced


@dataclass
class Plan:
    links: list[LinkPlan]
    profile: Profile
    far: list[tuple[str, Behaviour]] = field(default_factory=list)
    trace: str | None = None
    time_scale: float = 1.0
    rfc2217_bind: str = "127.0.0.1"
    rfc2217_any_user: bool = False
    hangup_on_carrier_loss: bool = False
    control: str | None = None
    unassigned: str = "reorder"
    tcp: list[tuple[str, tuple[str, int]]] = field(default_factory=list)
    listen: list[tuple[tuple[str, int], str]] = field(default_factory=list)  # (addr, link)


def check_link(link: str) -> str | None:
    """Whether LINK may be (re)created: None if nothing is there, a warning if a
    dangling link will be replaced; raises ModemCommandError otherwise.

    A link to a pty that still exists is live: a pty node exists exactly as long as
    some program holds its master open (the kernel removes /dev/pts/N when the master
    closes), so that program is serving the link. It is never taken over, whether or
    not that program is a linelab."""
    name = os.path.basename(link)
    if len(os.fsencode(name)) > MAX_LINK_NAME or len(os.fsencode(link)) > MAX_LINK_PATH:
        raise ModemCommandError(
            f"cannot create {_shown(link)}: names are at most {MAX_LINK_NAME} bytes"
            f" and paths {MAX_LINK_PATH}"
        )
    if not os.path.lexists(link):
        parent = os.path.dirname(link)
        if not os.path.isdir(parent):
            raise ModemCommandError(f"cannot create {link}: {parent} is not a directory")
        return None
    if not os.path.islink(link):
        raise ModemCommandError(f"{link} exists and is not a symlink of ours; not touching it")
    owner_uid = os.lstat(link).st_uid
    if owner_uid != os.getuid():
        raise ModemCommandError(
            f"{link} is a link belonging to uid {owner_uid}, not to us; not touching it"
        )
    target = os.path.join(os.path.dirname(link), os.readlink(link))
    if not os.path.exists(target):
        return f"replacing dangling link {link} -> {target}"
    if not is_pty_path(target):
        raise ModemCommandError(f"{link} is a link to {target}, not to a pty; not touching it")
    owner = find_owner(link)
    if owner is not None and owner.pid != os.getpid():
        raise ModemCommandError(f"{link} belongs to a running linelab modem (pid {owner.pid})")
    holders = [h for h in pty_master_holders(target) if h[0] != os.getpid()]
    who = ", ".join(f"pid {pid} ({name})" for pid, name in holders) or "another program"
    raise ModemCommandError(
        f"{link} -> {target} is in use: {who} holds the pty open; not taking it over "
        "(stop that program, or remove the link if you are sure)"
    )


def pty_master_holders(pts: str) -> list[tuple[int, str]]:
    """The processes (pid, command name) holding the master of pty `pts` (/dev/pts/N),
    among those whose file descriptors we may read: a ptmx descriptor's fdinfo names
    the pty it serves (``tty-index``)."""
    index = os.path.basename(pts)
    found: list[tuple[int, str]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.path.basename(os.readlink(f"{fd_dir}/{fd}")) != "ptmx":
                    continue
                with open(f"/proc/{entry}/fdinfo/{fd}", encoding="ascii") as info:
                    fields = dict(
                        line.split(":", 1) for line in info.read().splitlines() if ":" in line
                    )
            except OSError:
                continue
            if fields.get("tty-index", "").strip() == index:
                try:
                    with open(f"/proc/{entry}/comm", encoding="utf-8") as comm:
                        name = comm.read().strip()
                except OSError:
                    name = "?"
                found.append((int(entry), name))
                break
    return found


def _split_assignment(text: str, what: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left or not right:
        raise ModemCommandError(f"malformed {what} {text!r}")
    return left, right


def make_plan(args: argparse.Namespace) -> Plan:
    """Check the command line completely; raise ModemCommandError (exit 2) on anything."""
    profile = load_profile(args.profile)
    far: list[tuple[str, Behaviour]] = []
    for item in args.far:
        number, text = _split_assignment(item, "--far (want NUMBER=BEHAVIOUR)")
        if not _NUMBER.fullmatch(number):
            raise ModemCommandError(f"--far {item!r}: {number!r} is not a phone number")
        far.append((number, parse_behaviour(text)))
    tcp: list[tuple[str, tuple[str, int]]] = []
    for item in args.tcp:
        number, text = _split_assignment(item, "--tcp (want NUMBER=HOST:PORT)")
        if not _NUMBER.fullmatch(number):
            raise ModemCommandError(f"--tcp {item!r}: {number!r} is not a phone number")
        try:
            address = parse_address(text)
        except LinelabError as exc:
            raise ModemCommandError(f"--tcp {item!r}: {exc}") from None
        if address[1] == 0:
            raise ModemCommandError(f"--tcp {item!r}: port 0 is not a port to connect to")
        tcp.append((number, address))
    if len(args.rfc2217) > len(args.links):
        raise ModemCommandError(
            f"{len(args.rfc2217)} --rfc2217 ports for {len(args.links)} links"
            " (the i-th port serves the i-th LINK)"
        )
    raw: list[tuple[str, str | None]] = []
    for item in args.links:
        link, sep, number = item.partition("=")
        if sep and not _NUMBER.fullmatch(number):
            raise ModemCommandError(f"{item!r}: {number!r} is not a phone number")
        if not link:
            raise ModemCommandError(f"{item!r}: empty LINK")
        raw.append((os.path.abspath(link), number if sep else None))
    # Sets, not list.count(): 10 000 links are checked in linear time.
    seen: set[str] = set()
    for link, _ in raw:
        if link in seen:
            raise ModemCommandError(f"{link} is given twice")
        seen.add(link)
    given = [n for _, n in raw if n is not None] + [n for n, _ in far] + [n for n, _ in tcp]
    seen.clear()
    for number in given:
        if number in seen:
            raise ModemCommandError(f"number {number} is given twice")
        seen.add(number)
    taken = set(given)
    next_free = FIRST_NUMBER
    names: set[str] = set()
    plans: list[LinkPlan] = []
    for i, (link, wanted) in enumerate(raw):
        if wanted is None:
            while str(next_free) in taken:
                next_free += 1
            wanted = str(next_free)
            taken.add(wanted)
        name = os.path.basename(link) or link
        base, n = name, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        port = args.rfc2217[i] if i < len(args.rfc2217) else None
        plans.append(LinkPlan(link, wanted, name, port, check_link(link)))
    listen: list[tuple[tuple[str, int], str]] = []
    for item in args.listen:
        text, sep, target = item.partition("=")
        try:
            address = parse_address(text)
        except LinelabError as exc:
            raise ModemCommandError(f"--listen {item!r}: {exc}") from None
        link = os.path.abspath(target) if sep else plans[0].link
        if not any(p.link == link for p in plans):
            raise ModemCommandError(f"--listen {item!r}: {target!r} is not one of the LINKs")
        listen.append((address, link))
    return Plan(
        links=plans,
        profile=profile,
        far=far,
        trace=args.trace,
        time_scale=args.time_scale,
        rfc2217_bind=args.rfc2217_bind,
        rfc2217_any_user=args.rfc2217_any_user,
        hangup_on_carrier_loss=args.hangup_on_carrier_loss,
        control=args.control,
        unassigned=args.unassigned,
        tcp=tcp,
        listen=listen,
    )


# -- running -------------------------------------------------------------------------


class _ControlAdapter:
    """What the control socket needs from us (emulator.transports.control.ControlHost)."""

    def __init__(self, host: ModemHost, ports: list[tuple[LinkPlan, PtyPort]]) -> None:
        self.host = host
        self.ports = ports

    @property
    def exchange(self) -> Any:
        return self.host.exchange

    def control_links(self) -> Sequence[LinkInfo]:
        return [
            LinkInfo(
                link=plan.link,
                name=port.modem.name,
                number=port.modem.number,
                state=port.modem.engine.state,
                signals=_signal_dict(port.modem.signals),
            )
            for plan, port in self.ports
        ]


def _signal_dict(signals: Signals) -> dict[str, bool]:
    return {"dcd": signals.dcd, "ri": signals.ri, "dsr": signals.dsr, "cts": signals.cts}


async def probe(port: PtyPort, timeout: float = READY_TIMEOUT) -> None:
    """Open the pty as a client would, send AT and wait for the modem's answer."""
    loop = asyncio.get_running_loop()
    fd = os.open(port.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    got = bytearray()
    answered = loop.create_future()
    defaults = port.modem.engine.profile.defaults
    # A profile with Q1 gives no result code: its echo is the answer then (E0Q1 too:
    # the port having taken our open is all there is to see).
    answers = [b"OK\r\n", b"0\r"] if defaults.get("Q", 0) == 0 else [b"AT\r"]
    mute = defaults.get("Q", 0) == 1 and defaults.get("E", 1) == 0

    def readable() -> None:
        try:
            got.extend(os.read(fd, 1024))
        except BlockingIOError:
            return
        if any(a in got for a in answers) and not answered.done():
            answered.set_result(None)

    def client_seen(is_open: bool) -> None:
        if is_open and mute and not answered.done():
            answered.set_result(None)

    loop.add_reader(fd, readable)
    port.client_listeners.append(client_seen)
    try:
        os.write(fd, b"AT\r")
        if mute and port.client_open:
            answered.set_result(None)
        async with asyncio.timeout(timeout):
            await answered
    except TimeoutError:
        raise ModemCommandError(
            f"{port.modem.name}: no answer to AT on {port.path} within {timeout} s"
            f" (got {bytes(got)!r})"
        ) from None
    finally:
        port.client_listeners.remove(client_seen)
        loop.remove_reader(fd)
        os.close(fd)


def probe_window() -> int:
    """How many probes may be in flight: PROBE_WINDOW, fewer when RLIMIT_NOFILE leaves
    fewer descriptors spare (links that just fit, `linelab.limits`, still start)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return PROBE_WINDOW
    return max(1, min(PROBE_WINDOW, soft - open_fd_count() - PROBE_FD_MARGIN))


async def probe_all(
    ports: Sequence[PtyPort], lines: Sequence[str], window: int = PROBE_WINDOW
) -> None:
    """Probe every port (`probe`), at most `window` at a time, and write `lines[i]` to
    stdout once ports 0..i have answered: the lines come in order, each as soon as it
    may, several in one write when their probes ended together. The first probe that
    fails cancels the rest (their descriptors are closed) and raises."""
    tasks: deque[asyncio.Task[None]] = deque()
    started = 0
    done = 0  # ports whose line is written
    try:
        while done < len(ports):
            while started < len(ports) and started < done + window:
                tasks.append(asyncio.ensure_future(probe(ports[started])))
                started += 1
            await tasks.popleft()
            out = [lines[done]]
            while tasks and tasks[0].done():
                tasks.popleft().result()
                out.append(lines[done + len(out)])
            sys.stdout.write("".join(out))
            sys.stdout.flush()
            done += len(out)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:2217``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_rfc2217(
    modem: HostedModem, bind: str, port: int, *, any_user: bool = False
) -> Any:
    """The RFC 2217 hook: ``emulator.transports.rfc2217.start_rfc2217_server(modem, bind, port,
    any_user=…)``, a coroutine returning a server with ``.port`` (the bound port) and
    ``close()``."""
    try:
        module = importlib.import_module(RFC2217_MODULE)
        start = module.start_rfc2217_server
    except (ImportError, AttributeError):
        raise ModemCommandError("--rfc2217: no RFC 2217 server in this build") from None
    try:
        return await start(modem, bind, port, any_user=any_user)
    except OSError as exc:
        raise ModemCommandError(f"--rfc2217 {bind}:{port}: {exc.strerror or exc}") from None


def open_trace(path: str) -> TraceSink:
    """The --trace hook: a JSON-lines `emulator.transcript.TranscriptWriter`."""
    from emulator.transcript import TranscriptWriter

    try:
        return TranscriptWriter(path)
    except OSError as exc:
        raise ModemCommandError(f"--trace {path}: {exc.strerror or exc}") from None


async def serve(plan: Plan, stop: asyncio.Event) -> None:
    """Start every modem, print the ready lines, run until `stop` is set, clean up."""
    loop = asyncio.get_running_loop()
    trace = open_trace(plan.trace) if plan.trace else None
    host = ModemHost(loop, time_scale=plan.time_scale, trace=trace)
    ports: list[tuple[LinkPlan, PtyPort]] = []
    servers: list[Any] = []
    trunks: list[TcpTrunk] = []
    listeners: list[TcpListener] = []
    control: ControlServer | None = None
    try:
        host.exchange.set_unassigned(plan.unassigned)
        for number, behaviour in plan.far:
            host.exchange.set_far(number, behaviour)
        for number, address in plan.tcp:
            trunks.append(TcpTrunk(host, number, address))
        # Name the limit before opening anything when the links cannot all fit
        # (linelab.limits; one inotify instance serves every link).
        refusal = too_many(len(plan.links), links_that_fit())
        if refusal is not None:
            raise ModemCommandError(refusal)
        for item in plan.links:
            modem = host.add_modem(item.name, item.number, plan.profile)
            if item.replace:
                log.warning("%s", item.replace)
            try:
                port = PtyPort(
                    modem, item.link, hangup_on_carrier_loss=plan.hangup_on_carrier_loss
                )
            except OSError as exc:
                raise ModemCommandError(
                    limit_error(exc, made=len(ports), wanted=len(plan.links), what=item.link)
                ) from None
            ports.append((item, port))
        control = await start_control_server(_ControlAdapter(host, ports), plan.control)
        # Every port is bound before the first READY line: a port in use is an error
        # with nothing on stdout, not a half-started set of modems.
        addresses: list[str] = []
        for item, port in ports:
            extra = ""
            if item.rfc2217 is not None:
                server = await start_rfc2217(
                    port.modem, plan.rfc2217_bind, item.rfc2217, any_user=plan.rfc2217_any_user
                )
                servers.append(server)
                extra = f" rfc2217={_host_port(plan.rfc2217_bind, server.port)}"
            for address, link in plan.listen:
                if link == item.link:
                    listener = TcpListener(host, port.modem.number)
                    try:
                        bound = await listener.start(*address)
                    except OSError as exc:
                        raise ModemCommandError(
                            f"--listen {address[0]}:{address[1]}: {exc.strerror or exc}"
                        ) from None
                    listeners.append(listener)
                    extra += f" listen={_host_port(address[0], bound)}"
            addresses.append(extra)
        ready = [
            f"READY link={item.link} pty={port.path} number={port.modem.number}"
            f"{extra} control={control.path}\n"
            for (item, port), extra in zip(ports, addresses, strict=True)
        ]
        await probe_all([port for _, port in ports], ready, probe_window())
        await stop.wait()
    finally:
        for listener in listeners:
            listener.close()
        for trunk in trunks:
            trunk.close()
        for server in servers:
            with contextlib.suppress(Exception):
                server.close()
        if control is not None:
            await control.aclose()
        for _, port in ports:
            port.close()
        host.close()
        close = getattr(trace, "close", None)
        if close is not None:
            close()


#: Event loops `linelab modem --loop` can run on: the standard one, and uvloop when it
#: is installed (``pip install linelab[fast]``).
LOOPS = ("asyncio", "uvloop")
LOOP_ENV = "LINELAB_LOOP"


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of the named kind; ModemCommandError if it is unavailable."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise ModemCommandError(
                "--loop uvloop needs uvloop: pip install 'linelab[fast]'"
            ) from None
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    if name != "asyncio":
        raise ModemCommandError(f"unknown event loop {name!r} (one of {', '.join(LOOPS)})")
    return asyncio.new_event_loop()


def run(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    raise_open_files_limit()  # soft to hard: each link costs descriptors
    loop = new_loop(args.loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(serve(plan, stop))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        loop.close()
    return 0


def _port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {_shown(text)!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"time scale must be positive: {_shown(text)}")
    if not MIN_TIME_SCALE <= value <= MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(
            f"time scale must be from {MIN_TIME_SCALE:g} to {MAX_TIME_SCALE:g}, not {value:g}"
        )
    return value


def _shown(text: str, most: int = 60) -> str:
    """`text` cut short for a one-line message."""
    return text if len(text) <= most else text[: most - 1] + "…"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "modem",
        help="run virtual modems on ptys (one per LINK)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument(
        "links", nargs="+", metavar="LINK[=NUMBER]", help="symlink to create for each modem"
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|FILE",
        help=f"a bundled profile ({', '.join(bundled_profiles())}) or a profile YAML file "
        f"(default: {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--far",
        action="append",
        default=[],
        metavar="NUMBER=BEHAVIOUR",
        help="a scripted far end; repeat for several. BEHAVIOUR is busy | noanswer | "
        "answer[,after=3s][,rate=N][,echo|,discard][,hangup=30s|,hangup=1000B][,drop=10s], "
        "e.g. 5550000=busy or 5551234=answer,after=3s,echo",
    )
    parser.add_argument(
        "--tcp",
        action="append",
        default=[],
        metavar="NUMBER=HOST:PORT",
        help="dialling NUMBER connects to HOST:PORT over TCP (bytes unchanged, no telnet); "
        "repeat for several",
    )
    parser.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="[HOST:]PORT[=LINK]",
        help="an incoming TCP connection on PORT (loopback unless HOST is given; 0: any "
        "free port) rings LINK's modem (default: the first LINK); repeat for several",
    )
    parser.add_argument(
        "--unassigned",
        choices=UNASSIGNED_TONES,
        default="reorder",
        help="what a modem dialling a number nobody has hears: reorder (reported as BUSY, "
        "or NO CARRIER below X3) or silence (NO CARRIER when S7 runs out) "
        "(default: reorder)",
    )
    parser.add_argument(
        "--rfc2217",
        action="append",
        default=[],
        type=_port_number,
        metavar="PORT",
        help="serve the i-th LINK over RFC 2217 too (0: any free port)",
    )
    parser.add_argument(
        "--rfc2217-bind", default="127.0.0.1", metavar="ADDR", help="RFC 2217 listen address"
    )
    parser.add_argument(
        "--rfc2217-any-user",
        action="store_true",
        help="accept RFC 2217 connections from any user and host"
        " (default: only this uid, over loopback)",
    )
    parser.add_argument("--trace", metavar="FILE", help="write a JSON-lines transcript")
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        metavar="F",
        help="run every modem timer F times faster than real time (default: 1)",
    )
    parser.add_argument(
        "--hangup-on-carrier-loss",
        action="store_true",
        help="hang up the pty (SIGHUP to its session) when DCD drops, unless CLOCAL is set",
    )
    parser.add_argument("--control", metavar="PATH", help="control socket path")
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default=os.environ.get(LOOP_ENV) or "asyncio",
        help=f"the event loop: asyncio, or uvloop (pip install 'linelab[fast]') "
        f"(default: ${LOOP_ENV}, else asyncio)",
    )
    parser.set_defaults(func=run)
