"""The device-side framing (firmware/link/mf_link.c), compiled for the host with
sanitizers (ASan/UBSan, clang-14) and driven with the Python encoder's frames, noise and corruption."""
from __future__ import annotations

import random
import subprocess

import pytest

import fuzz_firmware
from fuzz_firmware import compile_host
from mcuforge import resources
from mcuforge.link import protocol as P

MAX_PAYLOAD = 64

HARNESS = r"""
#include <stdio.h>
#include "mf_link.h"

static FILE *tx;
void mf_link_tx_byte(uint8_t byte) { fputc(byte, tx); }

/* stdin: bytes to parse. stdout: one line per parser event. argv[1]: the replies the
 * streaming encoder wrote (an echo of each frame, then an ERROR). */
int main(int argc, char **argv)
{
    static mf_link_parser p;
    int c;
    (void)argc;
    tx = fopen(argv[1], "wb");
    mf_link_parser_reset(&p);
    while ((c = getchar()) != EOF) {
        int r = mf_link_parser_feed(&p, (uint8_t)c);
        if (r == MF_LINK_FRAME) {
            uint16_t i;
            printf("F %u %u %u ", p.frame.type, p.frame.seq, p.frame.len);
            for (i = 0; i < p.frame.len; i++) printf("%02x", p.frame.payload[i]);
            printf("\n");
            mf_link_begin((uint8_t)(p.frame.type | 0x80u), p.frame.seq, p.frame.len);
            mf_link_put(p.frame.payload, p.frame.len);
            mf_link_end();
            /* declared 6, put 9: end() must cut to 6; declared 4, put 1: padded */
            mf_link_begin(0x11, p.frame.seq, 6);
            mf_link_put("abcdefghi", 9);
            mf_link_end();
            mf_link_begin(0x12, p.frame.seq, 4);
            mf_link_put_u8(7);
            mf_link_end();
            mf_link_send_error(p.frame.seq, MF_ERR_BAD_INDEX, p.frame.type, "msg");
        } else if (r == MF_LINK_BAD_CRC) {
            printf("C %u %u\n", p.frame.type, p.frame.seq);
        } else if (r == MF_LINK_TOO_LONG) {
            printf("L %u %u %u\n", p.frame.type, p.frame.seq, p.frame.len);
            mf_link_parser_reset(&p);
        }
    }
    printf("busy %d\n", mf_link_parser_busy(&p));
    fclose(tx);
    return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """Built with clang-14 and ASan/UBSan; a failing sanitizer build fails the tests (no
    unsanitized fallback: the Makefile's APT_PACKAGES install what it needs)."""
    d = tmp_path_factory.mktemp("cparser")
    (d / "harness.c").write_text(HARNESS)
    link_dir = resources.firmware_dir() / "link"
    exe = compile_host([d / "harness.c", link_dir / "mf_link.c"], d / "harness",
                       [f"-DMF_LINK_MAX_PAYLOAD={MAX_PAYLOAD}", f"-I{link_dir}"])
    binary = exe.read_bytes()
    assert b"__asan_init" in binary and b"__ubsan_handle" in binary  # really sanitized

    def run(data: bytes):
        out = d / "tx.bin"
        proc = subprocess.run([str(exe), str(out)], input=data, capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stderr.decode()
        lines = proc.stdout.decode().splitlines()
        return lines[:-1], lines[-1] == "busy 1", out.read_bytes()

    return run


def test_c_parser_reads_python_frames_and_encoder_round_trips(harness):
    rng = random.Random(5)
    frames = [(rng.randrange(1, 0x7F), rng.randrange(256),
               bytes(rng.randrange(256) for _ in range(rng.randrange(0, MAX_PAYLOAD + 1))))
              for _ in range(50)]
    stream = b"".join(b"\x00\x13" + P.encode_frame(t, s, p) for t, s, p in frames)
    events, busy, tx = harness(stream)
    assert events == [f"F {t} {s} {len(p)} {p.hex()}" for t, s, p in frames]
    assert not busy
    replies = P.decode_frames(tx)
    assert len(replies) == 4 * len(frames)
    for i, (t, s, p) in enumerate(frames):
        echo, cut, padded, err = replies[4 * i : 4 * i + 4]
        assert (echo.type, echo.seq, echo.payload) == (t | 0x80, s, p)
        assert cut.payload == b"abcdef" and padded.payload == b"\x07\x00\x00\x00"
        e = P.parse_error(err.payload)
        assert (err.type, err.seq, e.code, e.request_type, e.message) == (0x7F, s, 6, t, "msg")


def test_c_parser_bad_crc_too_long_and_partial(harness):
    bad = bytearray(P.encode_frame(2, 9, b"hello"))
    bad[-1] ^= 0xFF
    too_long = P.encode_frame(2, 10, bytes(MAX_PAYLOAD + 1))[:6]  # header only
    events, busy, _ = harness(bytes(bad) + too_long + P.encode_frame(2, 11, b"x") +
                              P.encode_frame(2, 12, b"partial")[:5])
    assert events == ["C 2 9", f"L 2 10 {MAX_PAYLOAD + 1}", "F 2 11 1 78"]
    assert busy  # the partial frame is held until the runtime's byte timeout resets it


def test_c_parser_fuzz_matches_crc(harness):
    rng = random.Random(77)
    for _ in range(20):
        noise = bytes(rng.randrange(256) for _ in range(3000)).replace(b"\x00", b"\xa5\x5a")
        events, _, _ = harness(noise)
        for line in events:
            if line.startswith("F "):
                _, t, s, n, *hexp = line.split(" ")
                payload = bytes.fromhex(hexp[0] if hexp else "")
                assert len(payload) == int(n) <= MAX_PAYLOAD
                assert P.encode_frame(int(t), int(s), payload) in noise


def test_sanitizer_build_failure_fails_instead_of_falling_back(monkeypatch, tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int main(void) { return 0; }\n")
    monkeypatch.setattr(fuzz_firmware, "CLANG", "clang-14-not-installed")
    with pytest.raises(RuntimeError, match="libclang-rt-14-dev"):
        compile_host([src], tmp_path / "x")
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="sanitizer build failed"):
        compile_host([src], tmp_path / "x", ["-fsanitize=no-such-sanitizer"])
