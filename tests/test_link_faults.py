"""The link under faults, on QEMU, through the fault-injecting proxy (mcuforge.link.faultproxy):
the documented retries, validate and learn on a board that is already running (``--port``),
with corrupted, dropped and delayed bytes and frames and board resets, and CPU faults."""
from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import FAKE_MODEL, default_sigint, make_fake_project
from mcuforge.flash import QemuSession
from mcuforge.link import DeviceFault, Link, LinkTimeout
from mcuforge.link.faultproxy import FaultProxy, Faults
from test_learning_session import world  # noqa: F401 - the learning firmware and task fixture

pytestmark = pytest.mark.qemu

BOARD = "netduinoplus2"


def start_board(elf, board=BOARD) -> QemuSession:
    """A running board that has said its boot HELLO, as ``mcuforge flash --listen`` leaves it."""
    session = QemuSession(elf, _board(board))
    session.link().close()
    return session


def _board(name):
    from mcuforge.boards import load_board

    return load_board(name)


def test_three_retries_then_link_timeout(fake_firmware):
    """docs/protocol.md: no reply within the timeout -> resend, up to 3 retries, then LinkTimeout."""
    with start_board(fake_firmware(BOARD).elf) as board:
        # reply 1 answers HELLO; replies 2..4 to the first PING are lost, the 4th
        # attempt's reply passes; the next PING loses all four
        lost = Faults.none(drop_nth=frozenset({2, 3, 4, 6, 7, 8, 9}))
        with FaultProxy(board.port, lost, to_board=Faults.none()) as proxy:
            link = Link(proxy.url, timeout=1.0)  # a reply under load is far faster: the counts are exact
            link.connect(boot_timeout=0.1)  # no boot HELLO on a running board: asks for one
            hello_frames = proxy.frames["up"]
            assert link.ping(b"fourth time lucky") == b"fourth time lucky"
            assert link.stats.retries == 3 and proxy.frames["up"] - hello_frames == 4
            with pytest.raises(LinkTimeout, match=r"PING failed after 4 attempt\(s\): no reply"):
                link.ping(b"never")
            assert link.stats.retries == 6 and proxy.frames["up"] - hello_frames == 8
            assert proxy.injected["frame dropped"] == 7
            link.close()


# ---- a reset whose boot HELLO is lost ------------------------------------------------------

def _fake_reference(x0, x1):
    """What the fake model (tests/fixtures/fake_model) computes."""
    return [(x0.astype(np.int16) + 1).astype(np.int8), np.array([int(x0.sum()) + int(x1.sum())], np.int32)]


def _reset_silently(board, proxy) -> None:
    """Reset the board and wait until it has booted (the proxy dropped its boot HELLO)."""
    dropped, deadline = proxy.injected["boot HELLO dropped"], time.monotonic() + 60
    board.reset()
    while proxy.injected["boot HELLO dropped"] == dropped:
        assert time.monotonic() < deadline, "the board sent no boot HELLO after its reset"
        time.sleep(0.01)


def _reset_before(link, board, proxy, type_, nth):
    """Reset the board just before this link's ``nth`` request of ``type_`` goes out, and let it
    go once the board has booted again (the proxy dropped its boot HELLO): a silent reset."""
    seen, request = [0], link.request

    def wrapped(t, *args, **kw):
        if t == type_:
            seen[0] += 1
            if seen[0] == nth:
                _reset_silently(board, proxy)
        return request(t, *args, **kw)

    link.request = wrapped


@pytest.mark.parametrize("type_, nth", [("WRITE_INPUT", 2), ("INVOKE", 1), ("READ_OUTPUT", 2), ("READ_OUTPUT", 3),
                                        ("READ_PROFILE", 1)],
                         ids=["mid-inputs", "before-invoke", "mid-output", "last-output", "before-profile"])
def test_a_reset_whose_boot_hello_is_lost_is_noticed_and_the_sample_run_again(fake_firmware, type_, nth):
    """The proxy drops every boot HELLO; the board is reset at each place in a sample (inputs half
    written, before the INVOKE, output 0 half read, before output 1 is read, before its profile
    is read): the board forgot the link's session number, so ``run_profiled()`` (``run()``, then
    ``profile()``) notices (BoardReset), runs the sample again and returns the model's exact
    output and that run's profile. Without the session number the input half lost or the outputs
    read from a fresh board would be returned as the sample's; a reset before the profile used
    to end in BoardReset, with nothing to run the sample again."""
    from mcuforge.link import protocol as P

    rng = np.random.default_rng(7)
    x0, x1 = rng.integers(-128, 128, 1500).astype(np.int8), rng.integers(-999, 999, 10).astype(np.int16)
    with start_board(fake_firmware(BOARD).elf) as board, \
            FaultProxy(board.port, Faults.none(drop_boot_hello=True), reset=board.reset) as proxy:
        link = Link(proxy.url, timeout=2.0, invoke_timeout=2.0)
        link.connect(boot_timeout=0.1)
        _reset_before(link, board, proxy, P.Msg[type_], nth)
        outputs, _, layers = link.run_profiled([x0, x1])
        for got, want in zip(outputs, _fake_reference(x0, x1)):
            np.testing.assert_array_equal(got, want)
        assert [op for op, _ in layers] == ["ADD", "SUM"] and all(c > 0 for _, c in layers), layers  # not a fresh board's
        assert proxy.injected["boot HELLO dropped"] == 1
        assert (link.stats.resets, link.stats.silent_resets) == (1, 1), link.stats
        assert link.stats.sample_reruns == 1 and link.invoke()[0] == 0  # the session holds again
        link.close()


def test_invoke_on_a_board_reset_since_the_inputs_raises_board_reset(fake_firmware):
    """The INVOKE reply carries the session number: a reset between the inputs and the INVOKE
    (boot HELLO lost) is a BoardReset naming the lost HELLO, not a result."""
    from mcuforge.link import BoardReset

    with start_board(fake_firmware(BOARD).elf) as board, \
            FaultProxy(board.port, Faults.none(drop_boot_hello=True), reset=board.reset) as proxy:
        link = Link(proxy.url, timeout=2.0)
        link.connect(boot_timeout=0.1)
        link.write_input(1, np.arange(10, dtype=np.int16))
        _reset_silently(board, proxy)
        with pytest.raises(BoardReset, match=r"before its INVOKE reply \(session 0, .*boot HELLO was lost"):
            link.invoke()
        link.close()


HARDFAULT_HOOK = ('    if ((uint8_t)IN0[0] == 0x7Du && (uint8_t)IN0[1] == 0x7Du) {\n'
                  '        __asm volatile("cpsid i\\n\\tudf #1"); /* no UsageFault with PRIMASK set: '
                  'escalates to HardFault */\n    }\n')


def test_hardfault_is_reported_with_its_registers(tmp_path):
    src = FAKE_MODEL.joinpath("model.c").read_text()
    src = src.replace("    MF_LAYER_BEGIN(0);\n", HARDFAULT_HOOK + "    MF_LAYER_BEGIN(0);\n", 1)
    elf = make_fake_project(BOARD, tmp_path, model_c=src).elf
    with QemuSession(elf, _board(BOARD)) as session:
        link = session.link()
        x0 = np.zeros(1500, np.int8)
        x0[:2] = 0x7D
        with pytest.raises(DeviceFault) as e:
            link.run([x0, np.zeros(10, np.int16)])
        # HFSR.FORCED (bit 30): an escalated fault; CFSR.UNDEFINSTR (bit 16): the cause
        assert "firmware fault: HardFault pc=0x" in str(e.value)
        assert "cfsr=0x00010000" in str(e.value) and "hfsr=0x40000000" in str(e.value)
        assert session.wait(10) == 127  # MF_EXIT_FAULT


# ---- validate on a running board, through a line that damages everything ------------------

# Every kind of fault, scripted at frame numbers spaced so that no request or sample meets more
# than one: the documented retries (3 per request, 3 per sample) then hold whatever the
# machine's load does to the timing. Random faults at rates are bench.link_faults' job: drawn,
# two faults can meet in one sample, and under load a late reply becomes one more fault.
# The delay is twice the host's timeouts; the timeouts are far above a reply's time under load.
TIMEOUT = 2.0
TO_BOARD = Faults.none(drop_nth=frozenset({16}), corrupt_nth=frozenset({3, 23}),
                       reset_nth=frozenset({9, 30}))
TO_HOST = Faults.none(drop_nth=frozenset({6, 27}), corrupt_nth=frozenset({13}),
                      delay_nth=frozenset({20}), delay=2 * TIMEOUT)
SAMPLES = 7


@pytest.fixture(scope="module")
def dense_project(tmp_path_factory):
    """A small zoo model (as a file, as the CLI takes it) and its project, built once."""
    from mcuforge.build.make import build
    from mcuforge.project import generate
    from models.zoo import ZOO

    folder = tmp_path_factory.mktemp("dense")
    model = folder / "dense.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    project = generate(model, BOARD, folder / "fw")
    return model, project, build(project.path)


def test_validate_through_faults_returns_every_output_once_and_exact(dense_project, monkeypatch):
    from mcuforge.validation import make_inputs, validate
    from mcuforge.model.tflite import load_tflite
    from mcuforge.reference.tflm import TflmModel

    model, project, built = dense_project
    data = model.read_bytes()
    x = make_inputs(load_tflite(data), SAMPLES, seed=4)
    for var in ("MCUFORGE_LINK_TIMEOUT", "MCUFORGE_INVOKE_TIMEOUT"):
        monkeypatch.setenv(var, str(TIMEOUT))
    with start_board(built.elf) as board, \
            FaultProxy(board.port, TO_HOST, to_board=TO_BOARD, reset=board.reset) as proxy:
        v = validate(model, BOARD, inputs=x, workdir=project.path, port=proxy.url, progress=False)
    assert not proxy.errors
    assert v.samples == SAMPLES and len(v.outputs) == SAMPLES and v.mismatches == 0 and v.max_abs_diff == 0
    reference = TflmModel(data)
    for xi, got in zip(x, v.outputs):  # each sample's own output, in order
        want = reference.run([xi[None]])[0]
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    assert proxy.frames["up"] >= 30 and proxy.frames["down"] >= 27, proxy.frames  # every fault was met
    assert dict(proxy.injected) == {"frame dropped": 3, "burst corrupted": 3, "board reset": 2,
                                    "delayed past the timeout": 1}, proxy.injected


# ---- the CLI on a board that is already running -----------------------------------------------

def _cli(*args, **kw):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mcuforge", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_flash_listen_then_port_alone(dense_project, tmp_path):
    """``flash --listen`` keeps the emulated board and prints its URL; ``--port URL`` alone
    (no --method) then reaches it the way it would reach a real board."""
    import signal
    import subprocess
    import sys

    model, project, _ = dense_project
    listen = subprocess.Popen([sys.executable, "-m", "mcuforge", "flash", str(project.path), "--listen"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        for line in listen.stdout:
            if line.startswith("listening on "):
                url = line.split()[2]
                break
        else:
            pytest.fail(f"no URL printed: {listen.stderr.read()}")
        assert url.startswith("socket://127.0.0.1:")
        found = _cli("flash", str(project.path), "--port", url)
        assert found.returncode == 0, found.stderr
        assert f"found {project.manifest['model_name']} on {BOARD}" in found.stdout
        v = _cli("validate", str(model), "--port", url, "--samples", "3", "--workdir", str(project.path),
                 "--db", str(tmp_path / "r.db"))
        assert v.returncode == 0, v.stderr
        assert "3 samples, bit-exact" in v.stdout
    finally:
        listen.send_signal(signal.SIGINT)  # Ctrl-C: the board is stopped
        assert listen.wait(30) == 0


def test_protocol_error_from_the_device_exits_5(dense_project):
    """A device speaking another protocol version answers HELLO with version 9: a link
    failure (5), not bad usage (2)."""
    import socket
    import threading

    from mcuforge.link import protocol as P

    _, project, _ = dense_project
    hello_v2 = bytes([9]) + bytes(40)
    with socket.create_server(("127.0.0.1", 0)) as server:
        def device():
            conn, _ = server.accept()
            with conn:
                decoder = P.FrameDecoder()
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    for f in decoder.feed(data):
                        conn.sendall(P.encode_frame(f.type | P.REPLY, f.seq, hello_v2))
        threading.Thread(target=device, daemon=True).start()
        r = _cli("flash", str(project.path), "--port", f"socket://127.0.0.1:{server.getsockname()[1]}")
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert "link protocol v9" in r.stderr and "Traceback" not in r.stderr


# ---- learn on a running board through faults -----------------------------------------------

def test_learning_resumes_through_faults_without_losing_or_repeating_a_step(world, tmp_path, monkeypatch):  # noqa: F811
    """The session of test_learning_session.py on one board kept running and reached by
    --port through the fault proxy (resets included): the store ends with exactly the
    uninterrupted numpy session's steps, predictions, evaluations and final state."""
    from mcuforge.learning.session import EvalSet, LearnPlan, board_opener, feature_source, run_learning_session
    from mcuforge.results.store import ResultsStore
    from test_learning_session import check_store, expected

    # a reply here takes milliseconds: 0.5 s still leaves a loaded machine far more, and every
    # lost frame waits it out (at 1 s this test spent ~15 s more waiting on dropped frames)
    for var in ("MCUFORGE_LINK_TIMEOUT", "MCUFORGE_INVOKE_TIMEOUT"):
        monkeypatch.setenv(var, "0.5")
    plan = LearnPlan("tinyol-batch", 0.05, batch=3, eval_every=16, checkpoint_every=8, max_recoveries=8)
    preds, evals, blob = expected(world, plan)
    # per-byte faults 20x rarer than validate's: checkpoints move in 1 KiB frames, and at 1% in
    # 8-byte bursts 73% of those arrive damaged, so 4 attempts fail 28% of the time (README)
    # and each lost frame costs a timeout over ~1,500 frames: frame faults 4x rarer too
    faults = Faults(corrupt=0.0005, burst=8, drop_byte=0.0001, drop_frame=0.005, delay_frame=0.003, delay=1.2,
                    reset_every=300, seed=5)  # resets far enough apart for a restore and a checkpoint
    with start_board(world["elf"]) as board, FaultProxy(board.port, faults, reset=board.reset) as proxy, \
            ResultsStore(tmp_path / "r.db") as store:
        open_board = board_opener(world["elf"], BOARD, port=proxy.url)  # attaches: nothing is flashed
        result = run_learning_session(
            open_board, store, stream=world["stream"], train_source=feature_source(world["train_x"]),
            eval_set=EvalSet(range(len(world["eval_y"])), world["eval_y"]),
            eval_source=feature_source(world["eval_x"]), plan=plan)
        check_store(store, result.run_id, plan, preds, evals, blob, recoveries=result.recoveries)
    assert not proxy.errors
    assert proxy.injected["board reset"] >= 1 and result.recoveries >= 1, (proxy.injected, result.recoveries)
