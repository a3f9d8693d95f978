"""linelab.serialpipe: the one bounded pipe behind vmodem:// and the TAPI data port.

Blocking cases run on `VirtualTime`: a waiting thread is a linelab wait, so the
time-outs below pass in virtual seconds and the tests take no real time to wait.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator

import pytest
from serial import PortNotOpenError, SerialException, SerialTimeoutException

from linelab.serialpipe import SerialPipe
from linelab.vtime import RealTime, VirtualTime
from tapi.providers.dataport import DataPort


@pytest.fixture
def vt() -> Iterator[VirtualTime]:
    time = VirtualTime()
    time.register_actor()
    yield time
    time.unregister_actor()


def in_thread(
    time: VirtualTime, fn: Callable[[], object]
) -> tuple[threading.Thread, list[object]]:
    """Run fn in an actor thread; its result (or exception) lands in the list."""
    out: list[object] = []
    registered = threading.Event()

    def run() -> None:
        time.register_actor()
        registered.set()
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the test to assert on
            out.append(exc)
        finally:
            time.unregister_actor()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert registered.wait(5)  # before the test sleeps, so time waits for it too
    return thread, out


def test_flush_returns_once_the_other_side_took_every_byte(vt: VirtualTime) -> None:
    pipe = SerialPipe(vt)
    assert pipe.write(b"hello", None) == 5
    thread, out = in_thread(vt, lambda: pipe.flush(10.0))
    vt.sleep(1.0)  # the flush is still waiting: 5 bytes queued
    assert thread.is_alive()
    assert pipe.take_tx(3) == b"hel"
    vt.sleep(1.0)
    assert thread.is_alive()
    assert pipe.take_tx(100) == b"lo"
    thread.join(5)
    assert out == [None] and not pipe.tx


def test_flush_raises_when_write_timeout_passes_with_bytes_queued(vt: VirtualTime) -> None:
    pipe = SerialPipe(vt)
    pipe.write(b"stuck", None)
    start = vt.now()
    with pytest.raises(SerialTimeoutException, match="5 bytes unwritten"):
        pipe.flush(2.5)
    assert vt.now() - start == pytest.approx(2.5)
    assert bytes(pipe.tx) == b"stuck"  # nothing was dropped by the time-out


def test_flush_of_an_empty_pipe_returns_at_once_even_with_timeout_zero() -> None:
    SerialPipe(RealTime()).flush(0)


def test_flush_returns_when_the_pipe_ends_or_closes(vt: VirtualTime) -> None:
    for stop in ("end", "close"):
        pipe = SerialPipe(vt)
        pipe.write(b"x" * 10, None)
        thread, out = in_thread(vt, functools.partial(pipe.flush, None))
        vt.sleep(1.0)
        assert thread.is_alive()
        if stop == "end":
            pipe.end(SerialException("gone"))
        else:
            pipe.close()
        thread.join(5)
        assert out == [None]


def test_write_blocks_at_tx_limit_and_times_out_per_stall(vt: VirtualTime) -> None:
    pipe = SerialPipe(vt, tx_limit=4)
    assert pipe.write(b"abcdef", 0) == 4  # non-blocking: takes what fits
    with pytest.raises(SerialTimeoutException):
        pipe.write(b"gh", 1.0)
    thread, out = in_thread(vt, lambda: pipe.write(b"gh", None))
    vt.sleep(1.0)
    assert pipe.take_tx(2) == b"ab"
    thread.join(5)
    assert out == [2] and bytes(pipe.tx) == b"cdgh"
    assert pipe.write(b"zz", 0, unbounded=True) == 2  # the draining thread never waits


def test_read_waits_for_data_and_honours_timeout(vt: VirtualTime) -> None:
    pipe = SerialPipe(vt)
    assert pipe.read(3, 0) == b""
    start = vt.now()
    assert pipe.read(3, 2.0) == b""
    assert vt.now() - start == pytest.approx(2.0)
    pipe.put_rx(b"ab")
    assert pipe.ready.fileno() >= 0
    thread, out = in_thread(vt, lambda: pipe.read(3, None))
    vt.sleep(1.0)
    pipe.put_rx(b"cd")
    thread.join(5)
    assert out == [b"abc"] and bytes(pipe.rx) == b"d"


def test_end_drains_reads_then_eof_and_writes_raise_the_given_error() -> None:
    pipe = SerialPipe(RealTime())
    pipe.put_rx(b"last")
    pipe.write(b"unsent", None)
    pipe.end(SerialException("no carrier"))
    assert not pipe.tx  # unwritten bytes are dropped
    assert pipe.read(100, None) == b"last"  # does not wait: the pipe has ended
    assert pipe.read(100, None) == b""
    assert pipe.put_rx(b"late") == 0
    with pytest.raises(SerialException, match="no carrier"):
        pipe.write(b"x", None)


def test_close_releases_blocked_calls_and_refuses_writes(vt: VirtualTime) -> None:
    pipe = SerialPipe(vt)
    thread, out = in_thread(vt, lambda: pipe.read(1, None))
    vt.sleep(1.0)
    pipe.close()
    thread.join(5)
    assert out == [b""]
    with pytest.raises(PortNotOpenError):
        pipe.write(b"x", None)
    pipe.reopen()
    assert pipe.write(b"x", None) == 1
    pipe.release()
    assert pipe.ready.closed
    with pytest.raises(SerialException):
        pipe.reopen()


def test_callbacks_run_after_reads_and_writes() -> None:
    calls: list[str] = []
    pipe = SerialPipe(
        RealTime(), on_read=lambda: calls.append("read"), on_write=lambda: calls.append("write")
    )
    pipe.write(b"x", None)
    pipe.put_rx(b"y")
    pipe.read(1, 0)
    assert calls == ["write", "read"]


def test_data_port_flush_raises_on_write_timeout_like_vmodem(vt: VirtualTime) -> None:
    # The two ports used to disagree: DataPort.flush returned silently on time-out.
    port = DataPort("test", vt, lambda: None)
    port.write_timeout = 1.0
    port.write(b"queued")
    with pytest.raises(SerialTimeoutException):
        port.flush()
    assert port.take_tx(100) == b"queued"
    port.flush()  # empty now: returns
    port.carrier_lost()
    port.flush()  # ended: returns
    port.release()
