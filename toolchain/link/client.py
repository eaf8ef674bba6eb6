"""Host side of the serial link: ``Link`` talks to firmware over any pyserial URL
(a COM port, ``/dev/ttyUSB0``, or ``socket://127.0.0.1:PORT`` for QEMU).

Every read has a deadline; a request is resent (with a fresh seq, after the line has
been idle long enough for the device to drop a partial frame) when the reply times out,
arrives damaged, or the device reports a transmission error. Replies are matched by seq
and type, so a late reply to an earlier attempt is discarded instead of being taken for a
new one. A board that resets announces itself with its boot HELLO (seq 0): a request
waiting then raises ``BoardReset`` at once (its reply will never come), and ``run()``
runs its sample again, since the board lost its inputs. A reset whose boot HELLO is lost
is caught by the session number: the host gives the board one in its HELLO request, the
board forgets it at boot and echoes it in every HELLO, INVOKE and READ_OUTPUT reply, so any
reset since the session was set raises ``BoardReset`` before a result is returned.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import serial

from . import protocol as P

try:  # a pty whose other end died fails tcdrain with termios.error, which is not an OSError
    import termios

    TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # not POSIX
    TRANSPORT_ERRORS = (serial.SerialException, OSError)
from .cycles import CycleScale, cycle_scale
from .errors import BoardReset, DeviceFault, DeviceOverflow, FirmwareMismatch, LinkError, LinkTimeout, ReplyLost

# The device drops a partial frame after 200 ms without bytes (MF_LINK_BYTE_TIMEOUT_MS);
# wait a bit longer before resending so the resent frame starts on a clean parser.
DEVICE_BYTE_TIMEOUT = 0.2
RESYNC_IDLE = 0.3
TIMEOUT_ENV, INVOKE_TIMEOUT_ENV = "MCUFORGE_LINK_TIMEOUT", "MCUFORGE_INVOKE_TIMEOUT"
READ_CHUNK = 4096  # bytes per port read: the decoder's work per loop stays bounded
TRANSMISSION_ERRORS = (P.ErrorCode.BAD_CRC, P.ErrorCode.TRUNCATED, P.ErrorCode.TOO_LONG)


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    discarded_frames: int = 0
    damaged_replies: int = 0  # attempts given up early because a frame arrived damaged
    resets: int = 0  # the board restarted after connecting (boot HELLO, or session number lost)
    silent_resets: int = 0  # of those, noticed by the session number alone: the boot HELLO was lost
    sample_reruns: int = 0  # run() calls that ran their sample again after a reset
    device_errors: list = field(default_factory=list)


def default_timeout(env: str, default: float) -> float:
    """Seconds to wait for a reply: the environment variable ``env``, else ``default``."""
    text = os.environ.get(env, str(default))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise LinkError(f"{env}={text!r}: give the reply timeout in seconds (0 < t < 3600)")
    return value


class Link:
    def __init__(self, url: str, *, timeout: float | None = None, invoke_timeout: float | None = None,
                 retries: int = 3, baudrate: int = 115200, icount_shift: int | None = None,
                 simulated: bool = False, expected_hash: str | None = None, port=None):
        """Open ``url`` (``port``: an already open pyserial object, for tests). ``icount_shift``
        (QEMU) and ``simulated`` (simavr) say what the device's cycle counts mean. ``timeout``
        (per reply, default $MCUFORGE_LINK_TIMEOUT or 5 s) and ``invoke_timeout`` (for an
        INVOKE's reply, default $MCUFORGE_INVOKE_TIMEOUT or 120 s)."""
        self.url = url
        self.timeout = default_timeout(TIMEOUT_ENV, 5.0) if timeout is None else timeout
        self.invoke_timeout = default_timeout(INVOKE_TIMEOUT_ENV, 120.0) if invoke_timeout is None \
            else invoke_timeout
        self.retries = retries
        self.icount_shift = icount_shift
        self.simulated = simulated
        self.expected_hash = expected_hash
        self.stats = LinkStats()
        self._hello: P.Hello | None = None
        self.session = int.from_bytes(os.urandom(4), "little") or 1  # never 0: a booted board's
        self._session_live = False  # the board holds self.session (no reset seen since)
        self._seq = 0
        self._decoder = P.FrameDecoder()
        self._frames: list[P.Frame] = []
        try:
            self._port = port or serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError, OSError) as e:
            raise LinkError(f"cannot open serial port {url}: {e}") from e

    # ---- connection ---------------------------------------------------------------------

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._port.close()
        except Exception:  # closing a dead socket must not hide the real error
            pass

    def connect(self, boot_timeout: float = 10.0) -> P.Hello:
        """Wait for the HELLO a board sends when it boots (a real board booted long ago sends
        none), then ask for one, giving the board this link's session number. Checks the
        firmware hash if one is expected."""
        frame = self._wait_for(lambda f: f.type == (P.Msg.HELLO | P.REPLY), boot_timeout,
                               raise_timeout=False)
        if frame is not None:
            self._set_hello(frame.payload)
        self.hello(refresh=True)
        if self.expected_hash is not None:
            self.expect_firmware(self.expected_hash)
        return self._hello

    def hello(self, refresh: bool = False) -> P.Hello:
        """The board's HELLO; asking for it (first call, ``refresh``) also sets the session."""
        if self._hello is None or refresh:
            self._set_hello(self.request(P.Msg.HELLO, P.hello_payload(self.session)).payload)
            if self._hello.session != self.session:
                raise P.ProtocolError(f"{self.url}: HELLO reply holds session {self._hello.session}, "
                                      f"{self.session} was sent")
            self._session_live = True
            if self.expected_hash is not None:
                self.expect_firmware(self.expected_hash)
        return self._hello

    def confirm_session(self, what: str) -> None:
        """Raise BoardReset if the board restarted since the session was set (its HELLO
        query reply no longer holds the number), so that ``what`` it answered is not trusted."""
        self._set_hello(self.request(P.Msg.HELLO, P.hello_payload()).payload)
        if self._hello.session != self.session:
            self._silent_reset(what, self._hello.session)

    def _silent_reset(self, what: str, session: int) -> None:
        self.stats.resets += 1
        self.stats.silent_resets += 1
        self._session_live = False
        raise BoardReset(f"{self.url}: the board restarted before its {what} reply (session {session}, "
                         f"{self.session} expected); its boot HELLO was lost")

    def _set_hello(self, payload: bytes) -> None:
        self._hello = P.parse_hello(payload)
        # every reply but HELLO fits max_payload: a longer fake header is noise
        self._decoder.max_payload = max(self._hello.max_payload, P.REPLY_PAYLOAD_FLOOR)

    def _on_boot_hello(self, frame: P.Frame) -> None:
        """An unsolicited boot HELLO: the board restarted under us (its inputs, outputs and
        extension state are gone). Refuse it if it now runs other firmware."""
        self.stats.resets += 1
        self._session_live = False
        self._set_hello(frame.payload)
        if self.expected_hash is not None:
            self.expect_firmware(self.expected_hash)

    def expect_firmware(self, firmware_hash: str) -> None:
        """Refuse a device running other firmware than the build we validate against."""
        h = self.hello()
        if h.firmware_hash != firmware_hash:
            raise FirmwareMismatch(
                f"{self.url}: device runs firmware {h.firmware_hash!r} (model {h.model_name!r} on "
                f"{h.board!r}), expected {firmware_hash!r}: flash the matching build")

    @property
    def cycle_scale(self) -> CycleScale:
        return cycle_scale(self.hello(), self.icount_shift, self.simulated)

    # ---- messages -----------------------------------------------------------------------

    def ping(self, data: bytes = b"") -> bytes:
        data = bytes(data)
        if len(data) > self.hello().max_payload:
            raise LinkError(f"{self.url}: PING of {len(data)} bytes exceeds the device's "
                            f"max payload {self.hello().max_payload}")
        echo = self.request(P.Msg.PING, data).payload
        if echo != data:
            raise LinkError(f"{self.url}: PING echo differs ({len(echo)} bytes back, {len(data)} sent)")
        return echo

    def write_input(self, index: int, data: bytes | np.ndarray, offset: int = 0) -> None:
        h = self.hello()
        if not 0 <= index < len(h.inputs):
            raise LinkError(f"{self.url}: input {index} does not exist (model has {len(h.inputs)})")
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        if offset + len(raw) > h.inputs[index].bytes:
            raise LinkError(f"{self.url}: {len(raw)} bytes at offset {offset} overrun input {index} "
                            f"({h.inputs[index].bytes} bytes)")
        chunk = h.max_payload - P.WRITE_INPUT_OVERHEAD
        for pos in range(0, len(raw), chunk):
            self.request(P.Msg.WRITE_INPUT,
                         P.write_input_payload(index, offset + pos, raw[pos : pos + chunk]))

    def invoke(self) -> tuple[int, int]:
        """-> (status, cycles): status 0 is success; cycles in counter ticks (see cycle_scale).
        Resent only when the device says the request arrived broken; a reply that never
        comes raises ReplyLost (the model may have run and overwritten its input). A reply
        without this link's session number (the board restarted, its boot HELLO lost) raises
        BoardReset: the inputs it ran on are not the ones written."""
        if not self._session_live:  # a Link used without connect(): set the session now
            self.hello(refresh=True)
        status, cycles, session = P.parse_invoke(self.request(P.Msg.INVOKE, timeout=self.invoke_timeout,
                                                              resend_unanswered=False).payload)
        if session != self.session:
            self._silent_reset("INVOKE", session)
        return status, cycles

    def read_output(self, index: int, length: int | None = None, offset: int = 0) -> bytes:
        h = self.hello()
        if not 0 <= index < len(h.outputs):
            raise LinkError(f"{self.url}: output {index} does not exist (model has {len(h.outputs)})")
        total = h.outputs[index].bytes
        length = total - offset if length is None else length
        if offset < 0 or length < 0 or offset + length > total:
            raise LinkError(f"{self.url}: {length} bytes at offset {offset} overrun output {index} "
                            f"({total} bytes)")
        out = bytearray()
        while len(out) < length:
            n = min(h.max_payload - P.READ_OUTPUT_OVERHEAD, length - len(out))
            session, data = P.parse_read_output(self.request(
                P.Msg.READ_OUTPUT, P.read_output_payload(index, offset + len(out), n)).payload)
            if session != self.session:  # a fresh board's buffer, not the output asked for
                self._silent_reset("READ_OUTPUT", session)
            if len(data) != n:
                raise LinkError(f"{self.url}: READ_OUTPUT returned {len(data)} bytes, asked {n}")
            out += data
        return bytes(out)

    def run(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Write every input, invoke, read every output (flat arrays of the device dtypes).
        -> (outputs, cycles in counter ticks). A board reset seen while the sample ran
        (its inputs were lost) or a lost INVOKE reply runs the sample again, up to
        ``retries`` times."""
        for attempt in range(self.retries + 1):
            resets = self.stats.resets
            try:
                result = self._run_once(inputs)
            except (BoardReset, ReplyLost):
                result = None
            if result is not None and self.stats.resets == resets:
                return result
            self.stats.sample_reruns += 1
        raise LinkTimeout(f"{self.url}: one sample failed {self.retries + 1} times (board resets or "
                          f"lost INVOKE replies)")

    def _run_once(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
        h = self.hello()
        if len(inputs) != len(h.inputs):
            raise LinkError(f"{self.url}: {len(inputs)} inputs given, model takes {len(h.inputs)}")
        for i, (x, info) in enumerate(zip(inputs, h.inputs)):
            x = np.asarray(x)
            if x.dtype != info.dtype:
                raise LinkError(f"{self.url}: input {i} is {x.dtype}, the firmware expects {info.dtype}")
            if x.nbytes != info.bytes:
                raise LinkError(f"{self.url}: input {i} has {x.nbytes} bytes, the firmware expects "
                                f"{info.bytes}")
            self.write_input(i, np.ascontiguousarray(x))
        status, cycles = self.invoke()
        if status != 0:
            raise LinkError(f"{self.url}: model invoke failed with status {status}")
        outputs = [np.frombuffer(self.read_output(i), dtype=info.dtype).copy()
                   for i, info in enumerate(h.outputs)]
        return outputs, cycles

    def run_profiled(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int, list[tuple[str, int]]]:
        """``run()`` and the ``profile()`` of that invoke. A board reset before the profile is
        read (the counts were lost with the board's RAM) runs the sample again, up to
        ``retries`` times, so the layers returned are those of the outputs returned."""
        for attempt in range(self.retries + 1):
            outputs, cycles = self.run(inputs)
            try:
                return outputs, cycles, self.profile()
            except BoardReset:
                self.stats.sample_reruns += 1
        raise LinkTimeout(f"{self.url}: the board reset before the profile of one sample could be read, "
                          f"{self.retries + 1} times")

    def profile(self) -> list[tuple[str, int]]:
        """Per-layer (op name, cycles in counter ticks) of the last invoke (BoardReset if the
        board restarted since: its counts are gone; ``run_profiled`` runs the sample again)."""
        layers: list[tuple[str, int]] = []
        total = self.hello().num_layers
        while len(layers) < total:
            chunk = P.parse_profile(self.request(P.Msg.READ_PROFILE,
                                                 P.read_profile_payload(len(layers))).payload)
            if chunk.first != len(layers) or not chunk.layers or chunk.total != total:
                raise LinkError(f"{self.url}: READ_PROFILE answered layers {chunk.first}+"
                                f"{len(chunk.layers)} of {chunk.total}, asked from {len(layers)} of {total}")
            layers += [(op, cycles) for cycles, op in chunk.layers]
        self.confirm_session("READ_PROFILE")
        return layers

    def exit(self, code: int = 0) -> None:
        """Ask the firmware to end (semihosting exit under QEMU). Not retried: the device
        may already be gone when a retry would go out."""
        self.request(P.Msg.EXIT, P.exit_payload(code), retries=0)

    # ---- transport ----------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use it to send broken frames)."""
        try:
            self._port.write(data)
            self._port.flush()
        except TRANSPORT_ERRORS as e:
            raise LinkError(f"{self.url}: write failed: {e}") from e

    def read_frame(self, timeout: float | None = None) -> P.Frame | None:
        """Next frame of any kind, or None after ``timeout`` seconds."""
        return self._wait_for(lambda f: True, self.timeout if timeout is None else timeout,
                              raise_timeout=False)

    def request(self, type_: int, payload: bytes = b"", *, timeout: float | None = None,
                retries: int | None = None, resend_unanswered: bool = True) -> P.Frame:
        """Send a request, return its reply frame; ERROR replies raise LinkError. With
        ``resend_unanswered=False`` only a request the device reports broken is resent; a
        reply that does not come (or comes damaged) raises ReplyLost."""
        if not self._session_live and self._hello is not None and type_ != P.Msg.HELLO:
            self.hello(refresh=True)  # after a reset: the board gets its session number again first
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        name = P.type_name(type_)
        last: str = ""
        for attempt in range(retries + 1):
            if attempt:
                self.stats.retries += 1
                time.sleep(RESYNC_IDLE)
            seq = self._next_seq()
            self.stats.requests += 1
            self.send_raw(P.encode_frame(type_, seq, payload))
            want = type_ | P.REPLY

            def match(f: P.Frame) -> bool:
                return f.seq == seq and (f.type == want or f.type == P.Msg.ERROR) or \
                    (f.type == P.Msg.ERROR and f.payload[:1] == bytes([P.ErrorCode.FAULT]))

            damaged, resets = self._decoder.damaged, self.stats.resets
            frame = self._wait_for(match, timeout, raise_timeout=False, damaged=damaged,
                                   reset_ends=self._hello is not None)
            if frame is None:
                if self.stats.resets != resets:
                    raise BoardReset(f"{self.url}: the board restarted while {name} waited for its reply")
                if self._decoder.damaged != damaged:
                    self.stats.damaged_replies += 1
                    last = f"reply to {name} arrived damaged"
                else:
                    last = f"no reply to {name} within {timeout:.1f} s"
                if not resend_unanswered:
                    raise ReplyLost(f"{self.url}: {last}; not resent")
                continue
            if frame.type != P.Msg.ERROR:
                return frame
            err = P.parse_error(frame.payload)
            self.stats.device_errors.append(err)
            if err.code == P.ErrorCode.FAULT:
                raise DeviceFault(f"{self.url}: firmware fault: {err.message}")
            if err.code == P.ErrorCode.OVERFLOW:
                raise DeviceOverflow(f"{self.url}: firmware memory overflow in {name}: {err.message}")
            if err.code in TRANSMISSION_ERRORS:
                last = f"device reported {err.describe()}"
                continue
            raise LinkError(f"{self.url}: device error: {err.describe()}")
        raise LinkTimeout(f"{self.url}: {name} failed after {retries + 1} attempt(s): {last}")

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 is the boot HELLO
        return self._seq

    def _read_some(self) -> bytes:
        """Up to READ_CHUNK bytes: waits up to the port's timeout for the first one, then
        takes what else has arrived without waiting."""
        waiting = self._port.in_waiting
        if waiting > 1:  # a serial port's real count
            return self._port.read(min(waiting, READ_CHUNK))
        first = self._port.read(1)
        if not first or not self._port.in_waiting:
            return first
        # a socket:// port says only 0 or 1: read the rest without blocking
        timeout, self._port.timeout = self._port.timeout, 0
        try:
            return first + self._port.read(READ_CHUNK - 1)
        finally:
            self._port.timeout = timeout

    def _wait_for(self, match, timeout: float, raise_timeout: bool = True,
                  damaged: int | None = None, reset_ends: bool = False) -> P.Frame | None:
        """The first frame ``match`` accepts, or None (or LinkTimeout) at the deadline. With
        ``damaged`` (the decoder's count when the request went out), also None once a
        damaged frame came in and the line has been idle for RESYNC_IDLE: that was most
        likely the reply, and waiting out the timeout would only waste it. With
        ``reset_ends``, None as soon as a boot HELLO arrives."""
        deadline = time.monotonic() + timeout
        last_byte = time.monotonic()
        while True:
            while self._frames:
                f = self._frames.pop(0)
                if match(f):
                    return f
                if f.seq == 0 and f.type == (P.Msg.HELLO | P.REPLY):
                    self._on_boot_hello(f)
                    if reset_ends:
                        return None
                else:  # stale replies, unsolicited frames
                    self.stats.discarded_frames += 1
            now = time.monotonic()
            if now >= deadline:
                if raise_timeout:
                    raise LinkTimeout(f"{self.url}: no frame within {timeout:.1f} s")
                return None
            if self._decoder.backlog:  # noise left unexamined by the last call
                self._frames += self._decoder.feed(b"")
                continue
            if damaged is not None and self._decoder.damaged != damaged and \
                    not self._decoder.pending and now - last_byte > RESYNC_IDLE:
                return None
            try:
                data = self._read_some()
            except TRANSPORT_ERRORS as e:
                raise LinkError(f"{self.url}: connection lost: {e}") from e
            now = time.monotonic()
            if data:
                last_byte = now
                self._frames += self._decoder.feed(data)
            elif self._decoder.pending and now - last_byte > DEVICE_BYTE_TIMEOUT:
                # the device sends a frame in one go: a partial frame that stopped is dead
                self._frames += self._decoder.resync()
