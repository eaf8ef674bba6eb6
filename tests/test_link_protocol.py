"""Framing, CRC and payload codecs of the serial link (mcuforge.link.protocol)."""
from __future__ import annotations

import random
import struct
import types

import numpy as np
import pytest

from mcuforge.link import protocol as P


def test_crc16_ccitt_false_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"") == 0xFFFF


def test_encode_layout():
    frame = P.encode_frame(P.Msg.PING, 7, b"\x01\x02\x03")
    assert frame[:2] == b"\xa5\x5a"
    assert frame[2:6] == bytes([0x02, 7, 3, 0])
    assert frame[6:9] == b"\x01\x02\x03"
    assert struct.unpack("<H", frame[9:])[0] == P.crc16(frame[2:9])


@pytest.mark.parametrize("n", [0, 1, 255, 256, 1024, 65535])
def test_round_trip_sizes(n):
    payload = bytes(random.Random(n).randrange(256) for _ in range(n))
    (f,) = P.decode_frames(P.encode_frame(0x85, 200, payload))
    assert (f.type, f.seq, f.payload) == (0x85, 200, payload)


def test_encode_rejects_bad_fields():
    with pytest.raises(ValueError, match="65535"):
        P.encode_frame(1, 1, bytes(65536))
    with pytest.raises(ValueError, match="seq"):
        P.encode_frame(1, 256)


def test_decoder_byte_at_a_time_and_garbage_between():
    frames = [P.encode_frame(i, i, bytes([i]) * i) for i in range(1, 9)]
    stream = b"\x00\xa5\x13garbage\xa5" + b"xx".join(frames) + b"\xa5"
    d = P.FrameDecoder()
    got = []
    for b in stream:
        got += d.feed(bytes([b]))
    assert [(f.type, f.payload) for f in got] == [(i, bytes([i]) * i) for i in range(1, 9)]
    assert d.pending == 1  # the trailing A5 may start a frame


def test_decoder_skips_bad_crc_and_finds_next_frame():
    bad = bytearray(P.encode_frame(2, 1, b"hello"))
    bad[7] ^= 0x40
    good = P.encode_frame(2, 2, b"world")
    d = P.FrameDecoder()
    assert [f.payload for f in d.feed(bytes(bad) + good)] == [b"world"]
    assert d.bad_crc == 1


def test_decoder_frame_hidden_inside_corrupt_length():
    # A corrupted length makes the decoder wait for more bytes; a real frame that
    # follows is found once the bad frame fails its CRC and the scan resumes inside it.
    bad = bytearray(P.encode_frame(2, 1, b"abc"))
    bad[4] = 20  # length 3 -> 20
    good = P.encode_frame(2, 9, b"ok")
    frames = P.FrameDecoder().feed(bytes(bad) + good + bytes(40))
    assert [(f.seq, f.payload) for f in frames] == [(9, b"ok")]


def test_decoder_max_payload_and_reset():
    d = P.FrameDecoder(max_payload=8)
    assert d.feed(P.encode_frame(1, 1, bytes(9)) + P.encode_frame(1, 2, bytes(8)))[-1].seq == 2
    assert d.too_long == 1
    d.feed(P.encode_frame(1, 3, bytes(8))[:7])
    assert d.pending == 7
    d.reset()
    assert d.pending == 0 and d.feed(P.encode_frame(1, 4))[0].seq == 4


def test_fuzz_random_bytes_never_crash_and_only_valid_frames():
    rng = random.Random(1234)
    for _ in range(200):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        # sprinkle sync bytes so headers get parsed
        noise = noise.replace(b"\x00", b"\xa5\x5a")
        d = P.FrameDecoder(max_payload=rng.choice([16, 1024, 65535]))
        for f in d.feed(noise):
            assert P.encode_frame(f.type, f.seq, f.payload) in noise


def test_fuzz_frames_survive_random_corruption_of_neighbours():
    rng = random.Random(99)
    for trial in range(100):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50)))
        good = P.encode_frame(4, trial % 256, payload)
        junk = bytearray(P.encode_frame(4, 0, bytes(rng.randrange(0, 50))))
        junk[rng.randrange(2, len(junk))] ^= 1 << rng.randrange(8)
        d = P.FrameDecoder()
        # a corrupted length may hold the good frame until the line idles: resync()
        frames = d.feed(bytes(junk) + bytes(60) + good) + d.resync()
        assert any(f.payload == payload and f.seq == trial % 256 for f in frames)


def _hello_payload(**over):
    fields = dict(version=P.VERSION, flags=3, max_payload=1024, clock=168_000_000, arena=3024, layers=2)
    fields.update(over)
    out = struct.pack("<BBHIIH", fields["version"], fields["flags"], fields["max_payload"],
                      fields["clock"], fields["arena"], fields["layers"])
    for s in (b"netduinoplus2", b"0123456789abcdef", b"fake", b"systick-icount"):
        out += bytes([len(s)]) + s
    out += bytes([2]) + struct.pack("<BI", 1, 1500) + struct.pack("<BI", 3, 20)
    out += bytes([1]) + struct.pack("<BI", 5, 40)
    out += bytes([3, 1, 2, 0x20])
    out += struct.pack("<IIBI", 8192, 612, 2, 0xC0FFEE)  # stack bytes, high water, guard bits, session
    return out


def test_parse_hello():
    h = P.parse_hello(_hello_payload())
    assert h.board == "netduinoplus2" and h.firmware_hash == "0123456789abcdef"
    assert h.max_payload == 1024 and h.clock_hz == 168_000_000 and h.num_layers == 2
    assert [(i.dtype, i.bytes) for i in h.inputs] == [(np.dtype(np.int8), 1500), (np.dtype("<i2"), 20)]
    assert h.inputs[1].count == 10 and h.outputs[0].dtype == np.dtype("<f4")
    assert h.message_types == (1, 2, 0x20) and h.semihosting and h.profiling
    assert (h.stack_bytes, h.stack_high_water, h.guard) == (8192, 612, P.GUARD_STACK_BROKEN)
    assert h.session == 0xC0FFEE


def test_parse_hello_errors_name_the_problem():
    with pytest.raises(P.ProtocolError, match="v1, host speaks v2"):  # v1 firmware has no session
        P.parse_hello(_hello_payload(version=1))
    with pytest.raises(P.ProtocolError, match="truncated"):
        P.parse_hello(_hello_payload()[:-5])
    with pytest.raises(P.ProtocolError, match="extra"):
        P.parse_hello(_hello_payload() + b"\x00")


def test_invoke_profile_error_payloads():
    assert P.parse_invoke(struct.pack("<iQI", -2, 2**40 + 5, 7)) == (-2, 2**40 + 5, 7)
    with pytest.raises(P.ProtocolError):
        P.parse_invoke(b"\x00" * 12)  # a v1 reply: no session
    assert P.hello_payload() == b"" and P.hello_payload(0x01020304) == b"\x04\x03\x02\x01"
    assert P.parse_read_output(struct.pack("<I", 9) + b"xyz") == (9, b"xyz")
    with pytest.raises(P.ProtocolError, match="no session"):
        P.parse_read_output(b"\x00\x01")  # a v1 reply of 2 bytes
    chunk = P.parse_profile(struct.pack("<HHHI", 3, 1, 9, 1234) + b"\x07CONV_2D")
    assert (chunk.first, chunk.total, chunk.layers) == (3, 9, ((1234, "CONV_2D"),))
    err = P.parse_error(P.error_payload(P.ErrorCode.BAD_INDEX, P.Msg.WRITE_INPUT, "nope"))
    assert "BAD_INDEX" in err.describe() and "WRITE_INPUT" in err.describe()
    assert P.write_input_payload(1, 70000, b"ab") == b"\x01\x70\x11\x01\x00ab"
    assert P.read_output_payload(0, 2, 300) == b"\x00\x02\x00\x00\x00\x2c\x01"


def test_resync_finds_frame_behind_dead_partial_frame():
    dead = P.encode_frame(3, 1, bytes(30))[:8]  # header says 30 bytes, 2 arrived
    good = P.encode_frame(3, 2, b"hi")
    d = P.FrameDecoder()
    assert d.feed(dead + good) == []  # good bytes are taken as the dead frame's payload
    assert [f.seq for f in d.resync()] == [2]
    assert d.pending == 0


# ---- link errors, decoder cost under noise --------------------------------------------------

def test_protocol_errors_are_link_errors_with_exit_code_5():
    from mcuforge.errors import EXIT_BOARD, exit_code_for
    from mcuforge.link import LinkError

    with pytest.raises(LinkError) as e:
        P.parse_hello(_hello_payload(version=9))
    assert exit_code_for(e.value) == EXIT_BOARD == 5
    assert not isinstance(e.value, ValueError)  # ValueError means bad usage (exit 2)


def _crc16_bitwise(data: bytes) -> int:
    """The spec's CRC written out bit by bit (docs/protocol.md), independent of binascii."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def test_crc16_equals_the_bitwise_definition():
    rng = random.Random(7)
    for n in (0, 1, 2, 9, 255, 1024, 4099):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert P.crc16(data) == _crc16_bitwise(data), n


def _count_crc(monkeypatch) -> list[int]:
    """Record the bytes the decoder hands to the CRC, call by call."""
    calls: list[int] = []
    real = P.crc16
    monkeypatch.setattr(P, "crc16", lambda data, crc=0xFFFF: (calls.append(len(data)), real(data, crc))[1])
    return calls


# 68 KB of fake headers claiming the longest payload (issue 15): each one used to cost a
# 64 KiB CRC, 34 s inside one feed() call.
FAKE_LONG_HEADERS = b"\xa5\x5a\x81\x07\xff\xff" * (68_000 // 6)


def test_fake_long_headers_cost_at_most_the_budget_per_feed(monkeypatch):
    calls = _count_crc(monkeypatch)
    good = P.encode_frame(0x82, 9, b"after the noise")
    d = P.FrameDecoder()
    frames, per_call = d.feed(FAKE_LONG_HEADERS + good), [sum(calls)]
    while d.backlog:
        before = sum(calls)
        frames += d.feed(b"")
        per_call.append(sum(calls) - before)
        assert len(per_call) < 2000
    # the last fake headers wait for payload that never comes, until the line idles
    assert frames == [] and d.pending > 0
    frames += d.resync()
    while d.backlog:
        before = sum(calls)
        frames += d.resync()
        per_call.append(sum(calls) - before)
        assert len(per_call) < 2000
    assert max(per_call) <= P.CHECK_BUDGET
    assert [f.payload for f in frames] == [b"after the noise"]  # nothing lost behind the noise
    assert d.pending == 0


@pytest.mark.parametrize("claimed", [4096, 0xFFFF])
def test_noise_costs_a_bounded_amount_per_byte_once_the_hello_is_known(monkeypatch, claimed):
    """After HELLO the decoder refuses lengths above max(max_payload, 4096): every byte of
    noise costs at most ~one longest reply of CRC work, whatever the noise."""
    calls = _count_crc(monkeypatch)
    noise = (b"\xa5\x5a\x81\x07" + struct.pack("<H", claimed)) * 2000
    good = P.encode_frame(0x82, 9, b"ok")
    d = P.FrameDecoder(max_payload=P.REPLY_PAYLOAD_FLOOR)
    frames = d.feed(noise + good)
    while d.backlog:
        frames += d.feed(b"")
    frames += d.resync()  # the line idles: the fake headers still waiting for payload are dead
    while d.backlog:
        frames += d.resync()
    assert [f.payload for f in frames] == [b"ok"]
    assert sum(calls) <= len(noise) * (P.REPLY_PAYLOAD_FLOOR + 8)
    assert d.examined <= len(noise) * (P.REPLY_PAYLOAD_FLOOR + 16)


def test_link_read_deadline_holds_under_noise(monkeypatch):
    """A request waiting for a reply behind endless fake headers gives up at its deadline:
    time is counted on a virtual clock that CRC work advances (1 s per MB), so no wall
    clock is measured."""
    import socket
    import threading

    from mcuforge.link import client as C

    clock = [0.0]
    real = P.crc16

    def crc(data, init=0xFFFF):
        clock[0] += len(data) / 1e6
        return real(data, init)

    def monotonic():
        clock[0] += 1e-4
        return clock[0]

    monkeypatch.setattr(P, "crc16", crc)
    # the client's clock only (pyserial's own timeouts keep the real one)
    monkeypatch.setattr(C, "time", types.SimpleNamespace(monotonic=monotonic, sleep=lambda s: None))
    with socket.create_server(("127.0.0.1", 0)) as server:  # a "device" that sends only noise
        def serve():
            conn, _ = server.accept()
            with conn:
                conn.recv(1)  # the request (pyserial's open() drops what comes before)
                conn.sendall(FAKE_LONG_HEADERS)
                while conn.recv(4096):  # until the link closes
                    pass
        threading.Thread(target=serve, daemon=True).start()
        link = C.Link(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=1.0)
        with link:
            start = clock[0]
            with pytest.raises(C.LinkTimeout, match="PING failed after 1 attempt"):
                link.request(P.Msg.PING, b"x", retries=0)
            elapsed = clock[0] - start
    # at most one budget's worth of work (0.13 s here) past the deadline; it was 45 s
    assert elapsed <= 1.0 + P.CHECK_BUDGET / 1e6 + 0.01


def test_link_faults_bench_entry_point_parses(capsys):
    from bench import link_faults

    with pytest.raises(SystemExit) as exc:
        link_faults.main(["--help"])
    assert exc.value.code == 0 and "results lost" in capsys.readouterr().out
