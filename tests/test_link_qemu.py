"""The link protocol end to end: the fake model's firmware on QEMU (both boards), the
host talking over the lossless socket transport."""
from __future__ import annotations

import shutil
import struct
import time

import numpy as np
import pytest

from conftest import FAKE_MODEL, UART_BOARDS, make_fake_project
from mcuforge import resources
from mcuforge.flash import open_session
from mcuforge.link import DeviceFault, FirmwareMismatch, LinkError
from mcuforge.link import protocol as P

pytestmark = [pytest.mark.qemu, pytest.mark.parametrize("board", UART_BOARDS)]

FAKE_HASH = "0123456789abcdef"


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, 1500, dtype=np.int8), rng.integers(-3000, 3000, 10, dtype=np.int16)]


def _expected(x0, x1):
    return [(x0.astype(np.int16) + 1).astype(np.int8),
            np.array([int(x0.astype(np.int64).sum() + x1.astype(np.int64).sum())], dtype=np.int32)]


@pytest.fixture
def session(board, fake_firmware):
    with open_session(fake_firmware(board).elf, board) as s:
        yield s


def _reply_to(link, frame_bytes, timeout=3.0):
    link.send_raw(frame_bytes)
    return link.read_frame(timeout)


def test_hello_contents(board, session):
    link = session.link()
    h = link.hello()
    assert h.board == board and h.model_name == "fake_model" and h.firmware_hash == FAKE_HASH
    assert h.version == P.VERSION and h.max_payload == 1024 and h.num_layers == 2
    assert h.clock_hz == {"netduinoplus2": 168_000_000, "mps2-an386": 25_000_000}[board]
    assert h.arena_bytes == 3024 and h.cycle_counter == "systick-icount"
    assert [(i.dtype, i.bytes) for i in h.inputs] == [(np.dtype(np.int8), 1500), (np.dtype("<i2"), 20)]
    assert [(o.dtype, o.bytes) for o in h.outputs] == [(np.dtype(np.int8), 1500), (np.dtype("<i4"), 4)]
    assert set(h.message_types) == {1, 2, 3, 4, 5, 6, 7} and h.semihosting and h.profiling
    assert link.hello(refresh=True) == h  # on request, same contents as the boot HELLO
    assert link.cycle_scale.unit == "emulated-instructions"


def test_ping_sizes(board, session):
    link = session.link()
    for n in (0, 1, 2, 63, 64, 255, 256, 1000, 1024):
        data = bytes((i * 7 + n) & 0xFF for i in range(n))
        assert link.ping(data) == data
    data = P.SYNC * 512  # payload full of sync bytes
    assert link.ping(data) == data
    with pytest.raises(LinkError, match="max payload 1024"):
        link.ping(bytes(1025))


def test_write_invoke_read_round_trip(board, session):
    link = session.link()
    for seed in (1, 2):
        x0, x1 = _inputs(seed)
        outs, cycles = link.run([x0, x1])
        exp = _expected(x0, x1)
        assert np.array_equal(outs[0], exp[0]) and np.array_equal(outs[1], exp[1])
        assert cycles > 0
    # partial writes at offsets, partial reads at offsets
    link.write_input(0, bytes([5] * 10), offset=1490)
    status, _ = link.invoke()
    assert status == 0
    assert link.read_output(0, length=12, offset=1488) == bytes(
        [(int(x0[1488]) + 1) & 0xFF, (int(x0[1489]) + 1) & 0xFF] + [6] * 10)
    with pytest.raises(LinkError, match="input 0 is float32"):
        link.run([x0.astype(np.float32), x1])
    with pytest.raises(LinkError, match="1 inputs given, model takes 2"):
        link.run([x0])


def test_profile(board, session):
    link = session.link()
    _, total = link.run(_inputs())
    prof = link.profile()
    assert [op for op, _ in prof] == ["ADD", "SUM"]
    assert all(c > 0 for _, c in prof)
    assert sum(c for _, c in prof) <= total
    assert prof[1][1] > prof[0][1]  # SUM loops over the input twice as long as ADD's one pass


def test_device_errors(board, session):
    link = session.link()
    with pytest.raises(LinkError, match="BAD_INDEX"):
        link.request(P.Msg.WRITE_INPUT, P.write_input_payload(2, 0, b"x"))
    with pytest.raises(LinkError, match="OUT_OF_RANGE"):
        link.request(P.Msg.WRITE_INPUT, P.write_input_payload(1, 19, b"xy"))
    with pytest.raises(LinkError, match="OUT_OF_RANGE"):
        link.request(P.Msg.READ_OUTPUT, P.read_output_payload(1, 0xFFFFFFFF, 2))
    with pytest.raises(LinkError, match="BAD_LENGTH"):
        link.request(P.Msg.INVOKE, b"\x00")
    with pytest.raises(LinkError, match="UNKNOWN_TYPE"):
        link.request(0x55, b"")
    with pytest.raises(LinkError, match="OUT_OF_RANGE"):
        link.request(P.Msg.READ_PROFILE, P.read_profile_payload(3))
    assert link.ping(b"still fine") == b"still fine"
    assert link.stats.retries == 0


def test_bad_crc_gets_error_and_link_recovers(board, session):
    link = session.link()
    frame = bytearray(P.encode_frame(P.Msg.PING, 77, b"abc"))
    frame[-1] ^= 0x5A
    reply = _reply_to(link, bytes(frame))
    assert reply.type == P.Msg.ERROR and reply.seq == 77
    assert P.parse_error(reply.payload).code == P.ErrorCode.BAD_CRC
    assert link.ping(b"after") == b"after"


def test_oversized_length_error_then_resync(board, session):
    link = session.link()
    header = P.SYNC + struct.pack("<BBH", P.Msg.PING, 78, 5000)
    reply = _reply_to(link, header + bytes(300))  # a flood that follows the bad header
    assert reply.type == P.Msg.ERROR and reply.seq == 78
    assert P.parse_error(reply.payload).code == P.ErrorCode.TOO_LONG
    link.send_raw(bytes(200))  # still discarded until the line idles
    time.sleep(0.4)
    assert link.ping(b"resynced") == b"resynced"
    assert link.stats.retries == 0


def test_truncated_frame_times_out(board, session):
    link = session.link()
    link.send_raw(P.encode_frame(P.Msg.PING, 79, b"0123456789")[:9])
    reply = link.read_frame(3.0)  # the device gives up after its 200 ms byte timeout
    assert reply.type == P.Msg.ERROR and reply.seq == 79
    assert P.parse_error(reply.payload).code == P.ErrorCode.TRUNCATED
    assert link.ping(b"next") == b"next"
    assert link.stats.retries == 0


def test_request_swallowed_by_stale_partial_frame_is_retried(board, session):
    link = session.link(timeout=1.0)
    # A dead partial header announcing 64 bytes eats the next request; the host must
    # give up on that attempt and resend.
    link.send_raw(P.SYNC + struct.pack("<BBH", P.Msg.PING, 80, 64))
    assert link.ping(b"survives") == b"survives"
    assert link.stats.retries >= 1


def test_wrong_firmware_hash_refused(board, fake_firmware):
    with open_session(fake_firmware(board).elf, board) as s:
        with pytest.raises(FirmwareMismatch, match="ffffffffffffffff"):
            s.link(expected_hash="ffffffffffffffff")
    with open_session(fake_firmware(board).elf, board) as s:
        link = s.link(expected_hash=FAKE_HASH)
        link.expect_firmware(FAKE_HASH)
        with pytest.raises(FirmwareMismatch, match=FAKE_HASH):
            link.expect_firmware("0000000000000000")


def test_cycles_repeatable_across_runs(board, fake_firmware):
    x = _inputs(3)
    runs = []
    for _ in range(2):
        with open_session(fake_firmware(board).elf, board) as s:
            link = s.link()
            runs.append([link.run(x)[1] for _ in range(3)] + [c for _, c in link.profile()])
    # fixed -icount shift: counts agree to the +-1 tick of a fractional tick/instruction
    assert np.abs(np.array(runs[0]) - np.array(runs[1])).max() <= 1, runs
    assert max(runs[0][:3]) - min(runs[0][:3]) <= 1, runs


def test_cycle_counts_exclude_the_timer_wrap_interrupt(board, fake_firmware):
    """The same loop started at six places relative to the SysTick wrap: under -icount the
    wrap interrupt's own instructions must not be counted, wherever it lands (it lands
    where host timing puts it), so the loop's count is the same to a tick per wrap."""
    from mcuforge.boards import load_board

    b = load_board(board)
    ticks_per_instruction = b.clock_hz * 2 ** b.emulator.icount_shift / 1e9
    period = 2 ** 24 / ticks_per_instruction  # instructions between wraps
    spins = max(1, round(2.5 * period / 3 / 65536))  # ~3 instructions a spin: 2-3 wraps inside
    x0, x1 = _inputs()
    counts = []
    with open_session(fake_firmware(board).elf, board) as s:
        link = s.link()
        for phase in (0, 40, 85, 130, 170, 215):
            x0[:4] = np.array([0x7D, 0x7D, phase, spins], dtype=np.uint8).view(np.int8)
            link.run([x0, x1])
            counts.append(link.profile()[1][1])
    assert max(counts) > 2 * 2 ** 24, counts  # the loop really spans more than two wraps
    assert max(counts) - min(counts) <= 4, counts


@pytest.mark.parametrize("code", [0, 42])
def test_exit_code_via_semihosting(board, fake_firmware, code):
    with open_session(fake_firmware(board).elf, board) as s:
        link = s.link()
        link.exit(code)
        assert s.wait(10) == code


def test_fault_is_reported_and_ends_qemu(board, session):
    link = session.link()
    x0, x1 = _inputs()
    x0[:2] = 0x7E
    with pytest.raises(DeviceFault, match=r"UsageFault pc=0x[0-9a-f]{8}.*cfsr=0x00010000"):
        link.run([x0, x1])  # UDF: UsageFault UNDEFINSTR
    assert session.wait(10) == 127


def test_invoke_status_is_reported(board, session):
    link = session.link()
    x0, x1 = _inputs()
    x0[:2] = 0x7F
    link.write_input(0, x0)
    assert link.invoke()[0] == 3
    with pytest.raises(LinkError, match="status 3"):
        link.run([x0, x1])


EXT_C = r"""
/* A test extension: message 0x20 replies with its payload reversed. */
#include "mf_runtime.h"

static void on_reverse(const mf_frame *req)
{
    uint16_t i;
    mf_reply_begin(req, req->len);
    for (i = req->len; i > 0; i--) {
        mf_link_put_u8(req->payload[i - 1u]);
    }
    mf_link_end();
}

void mf_ext_reverse_register(void)
{
    (void)mf_link_register(0x20, on_reverse);
}
"""


def test_extension_adds_message_type(board, tmp_path, monkeypatch):
    home = tmp_path / "home"
    for d in ("firmware", "boards", "templates"):
        shutil.copytree(resources.root() / d, home / d)
    (home / "firmware" / "reverse").mkdir()
    (home / "firmware" / "reverse" / "mf_reverse.c").write_text(EXT_C)
    monkeypatch.setenv("MCUFORGE_HOME", str(home))
    result = make_fake_project(board, tmp_path / "proj", extensions=["reverse"])
    with open_session(result.elf, board) as s:
        link = s.link()
        assert 0x20 in link.hello().message_types
        assert link.request(0x20, b"abcdef").payload == b"fedcba"
        assert link.ping(b"core still served") == b"core still served"


def test_icount_ticks_convert_to_instructions(board, fake_firmware, tmp_path):
    """A loop of exactly 2 instructions x 1,000,000 added to layer 0 must add 2,000,000
    emulated instructions to that layer's converted count."""
    loop = ('    { uint32_t n = 1000000u;\n'
            '      __asm volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n)); }\n')
    src = (FAKE_MODEL.joinpath("model.c").read_text()
           .replace("\n    MF_LAYER_BEGIN(0);\n", "\n    MF_LAYER_BEGIN(0);\n" + loop, 1))
    counts = []
    for elf in (fake_firmware(board).elf, make_fake_project(board, tmp_path, model_c=src).elf):
        with open_session(elf, board) as s:
            link = s.link()
            link.run(_inputs())
            counts.append(link.cycle_scale.convert(link.profile()[0][1]))
    # the SysTick wrap interrupts inside (one per 2^24 ticks: ~780k instructions at 168 MHz)
    # are not counted: exact to the tick rounding
    assert counts[1] - counts[0] == pytest.approx(2_000_000, abs=2)
