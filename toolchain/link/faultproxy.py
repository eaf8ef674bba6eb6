"""A fault-injecting TCP proxy between the host and a board's socket serial (QEMU's
``-serial tcp:...``), for the fault tests and ``python -m bench.link_faults``.

    with QemuSession(elf, board) as board_session, \\
            FaultProxy(board_session.port, Faults(seed=1), reset=board_session.reset) as proxy:
        link = Link(proxy.url)  # or: mcuforge validate ... --port <proxy.url>
        board_session.resume()

It splits each direction into frames (both ends speak clean frames) and, seeded, damages
them as a bad line would: bursts of corrupted bytes (``corrupt`` is the fraction of bytes
hit), single bytes dropped, whole frames dropped, the direction held for ``delay`` seconds
(past the host's timeout), and the board reset (``reset()``, e.g. QEMU's monitor
``system_reset``) just before a host frame goes out. The order of bytes in a direction is
kept, as on a UART. ``injected`` counts every fault by kind.

The board's boot HELLO (seq 0) is damaged like any frame unless ``spare_boot_hello``: the
host then notices the reset by the session number the board forgot (docs/protocol.md).
Connections may come and go (a host that reconnects after a failure); each one opens a new
connection to the board.
"""
from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from . import protocol as P


@dataclass(frozen=True)
class Faults:
    corrupt: float = 0.01  # fraction of bytes corrupted, in bursts of `burst` bytes
    burst: int = 8
    drop_byte: float = 0.0005  # per byte
    drop_frame: float = 0.02  # per frame
    delay_frame: float = 0.01  # per frame: hold the direction `delay` s before it
    delay: float = 1.5
    reset_every: int = 0  # board reset before every n-th host frame (0: never)
    # scripted faults at frame numbers (1-based, per direction), on top of the random ones: a
    # test that must pass under any machine load spaces them out instead of drawing them
    drop_nth: frozenset = frozenset()  # dropped
    delay_nth: frozenset = frozenset()  # held for `delay` s
    corrupt_nth: frozenset = frozenset()  # one burst of `burst` bytes in the middle of the frame
    reset_nth: frozenset = frozenset()  # host frames: the board reset just before it goes out
    spare_boot_hello: bool = False  # pass the board's boot HELLO (seq 0) undamaged
    drop_boot_hello: bool = False  # drop every boot HELLO: each reset is then a silent one
    seed: int = 0

    @staticmethod
    def none(**over) -> "Faults":
        """No fault unless named: ``Faults.none(drop_frame=1.0)``."""
        base = dict(corrupt=0.0, drop_byte=0.0, drop_frame=0.0, delay_frame=0.0)
        return Faults(**{**base, **over})


class FaultProxy:
    def __init__(self, board_port: int, faults: Faults = Faults(), *, reset: Callable[[], None] | None = None,
                 board_host: str = "127.0.0.1", to_board: Faults | None = None):
        """``faults`` apply to the board's replies, ``to_board`` (default: the same) to the
        host's requests."""
        if (faults.reset_every or faults.reset_nth) and reset is None:
            raise ValueError("reset_every needs a reset callable")
        self.board = (board_host, board_port)
        self.faults = {"up": faults if to_board is None else to_board, "down": faults}
        self.reset = reset
        self.injected: Counter = Counter()
        self.frames: Counter = Counter()  # frames seen per direction ("up": host -> board)
        self.errors: list[str] = []  # exceptions in the proxy's own threads
        self._rng = {d: random.Random(f"{faults.seed}-{d}") for d in ("up", "down")}
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    # ---- connections -------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                host, _ = self._server.accept()
            except OSError:
                return
            try:
                board = socket.create_connection(self.board, timeout=10)
            except OSError:
                host.close()
                continue
            board.settimeout(None)  # the board may be silent for long (a long invoke)
            for s in (host, board):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns += [host, board]
            pair = [host, board]
            threading.Thread(target=self._pump, args=(host, board, "up", pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(board, host, "down", pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str, pair) -> None:
        decoder = P.FrameDecoder()
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                frames = decoder.feed(data)
                while decoder.backlog:
                    frames += decoder.feed(b"")
                for f in frames:
                    out = self._damage(direction, f)
                    if out:
                        dst.sendall(out)
        except OSError:
            pass
        except Exception as e:  # a bug here must show in the test, not as a lost connection
            self.errors.append(f"{direction}: {type(e).__name__}: {e}")
        finally:
            for s in pair:  # one side gone: end the other too (the host sees a lost connection)
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # ---- faults ------------------------------------------------------------------------------
    def _damage(self, direction: str, frame: P.Frame) -> bytes:
        f, rng = self.faults[direction], self._rng[direction]
        raw = P.encode_frame(frame.type, frame.seq, frame.payload)
        with self._lock:
            self.frames[direction] += 1
            n = self.frames[direction]
        if direction == "down" and frame.seq == 0 and frame.type == (P.Msg.HELLO | P.REPLY):
            if f.drop_boot_hello:
                self._count("boot HELLO dropped")
                return b""
            if f.spare_boot_hello:
                return raw
        if direction == "up" and (f.reset_every and n % f.reset_every == 0 or n in f.reset_nth):
            self._count("board reset")
            self.reset()
        if n in f.drop_nth or rng.random() < f.drop_frame:
            self._count("frame dropped")
            return b""
        if rng.random() < f.delay_frame or n in f.delay_nth:
            self._count("delayed past the timeout")
            time.sleep(f.delay)
        out = bytearray()
        hit = 0
        scripted = len(raw) // 2 if n in f.corrupt_nth else -1
        for i, b in enumerate(raw):
            if hit == 0 and (i == scripted or f.corrupt and rng.random() < f.corrupt / f.burst):
                hit = f.burst
                self._count("burst corrupted")
            if hit:
                hit -= 1
                b ^= rng.randrange(1, 256)
            if f.drop_byte and rng.random() < f.drop_byte:
                self._count("byte dropped")
                continue
            out.append(b)
        return bytes(out)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    # ---- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
