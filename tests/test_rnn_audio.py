"""A keyword EMI-FastGRNN fed from audio (issue 10 §2): the host streams each clip's int16 16 kHz
samples, the board's log-mel front end (firmware/frontend/) hands every frame as it completes to
the RNN's windowing (firmware/rnn/, MF_RNN_AUDIO), float32 frames on the M4F and int16 Q11 on the
M3; each clip is decided on the board as the twin decides it from the host's features of the same
audio (FeatureConfig.extract), and frames one off are caught. The Uno has not the RAM for the
front end: --audio is refused there."""
from __future__ import annotations

import numpy as np
import pytest

VOICES = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb-x-rp+f4", "en-029+m7", "en-gb-scotland+f1"]


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory):
    """A tiny keyword folder (14 words x 6 voices, one take each) and an EMI-FastGRNN on its
    frames, saved with the folder's feature config (32 log-mel bands, 25 ms / 10 ms, the
    training statistics); seeded weights spread so that classes and early exits vary."""
    import keras

    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.data.sequences import load_sequences
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn

    root = tmp_path_factory.mktemp("rnn-audio")
    build_kws_dataset(root / "kws", voices=VOICES, clips_per_voice=1, unknown_per_voice=1, seed=3, progress=False,
                      noise_seconds=20, workers=2)
    data = load_sequences(root / "kws")
    keras.utils.set_random_seed(1)
    cfg = RnnConfig(cell="fastgrnn", hidden=8, rank=2, window=48, stride=16, k=2, p_hat=0.6, kappa=4)
    model = build_model(cfg, 32, len(data.labels), 48)
    for w in model.weights:
        w.assign(np.asarray(w.numpy()) * 2.0)
    path = save_rnn(model, cfg, data, root / "kws.rnn.keras")
    keras.backend.clear_session()
    return path, root / "kws"


def test_the_model_records_the_features_its_frames_were_made_with(keyword_model):
    from mcuforge.data.features import FeatureConfig
    from mcuforge.model.loader import load
    from mcuforge.rnn.audio import feature_config

    cfg = feature_config(load(keyword_model[0]).meta)
    assert (cfg.n_mels, cfg.win, cfg.hop, cfg.n_frames, cfg.normalized) == (32, 400, 160, 98, True)
    assert cfg == FeatureConfig.from_dict(cfg.to_dict())


def _shifted(frames: np.ndarray) -> np.ndarray:
    """The clip's frames one late: what a front end feeding frame t as t + 1 would give."""
    return np.concatenate([frames[:1], frames[:-1]])


@pytest.mark.qemu
@pytest.mark.parametrize("board,cell", [("netduinoplus2", "fastgrnn_f32"), ("mps2-an385", "fastgrnn_q")])
def test_board_decides_each_clip_from_its_audio_as_the_host(keyword_model, tmp_path, board, cell):
    from mcuforge import api
    from mcuforge.model.keras_rnn import graph_for_board
    from mcuforge.rnn.audio import feature_config, host_frames
    from mcuforge.rnn.reference import run_bag
    from mcuforge.rnn.rule import RnnRule
    from mcuforge.rnn.validation import load_clips

    path, data = keyword_model
    v = api.validate(path, board, data=str(data), samples=4, audio=True, workdir=tmp_path / "fw", progress=False)
    assert v.input == "audio" and v.samples == 4 and v.mismatches == 0 and v.ok, v.summary()
    assert v.link_bytes_per_bag == 32000  # one second of int16 samples
    assert all(b.instances == 4 for b in v.board_results) and v.mean_steps < v.full_steps == 192  # exits happened
    assert all(0 < r < c for r, c in zip(v.rnn_cycles, v.cycles))  # the front end's share is in the bag's
    m = api.load(path)
    graph = graph_for_board(m, api.load_board(board))  # the graph the board runs
    assert graph.ops[0].kind == cell  # float32 with the M4F's FPU, fixed point on the M3
    # a front end that fed each frame one late would be caught: the twin decides those otherwise
    rule = RnnRule.from_meta(m.meta, classes=len(m.meta["labels"]))
    clips, _ = load_clips(str(data), m.meta, samples=4)
    cfg = feature_config(m.meta)
    late = [run_bag(graph, rule, _shifted(host_frames(graph, cfg, c))) for c in clips]
    assert any(not b.same_decisions(w) for b, w in zip(v.board_results, late))


@pytest.mark.qemu
def test_fixed_point_board_is_its_twin_on_the_frames_it_computed(keyword_model, tmp_path):
    """Built with the clip's float features kept (-DMF_FRONTEND_KEEP_FLOAT=1: READ_FEATURES served),
    the board's frames can be read back: the host's within float rounding (the bound of the BNN
    front end's test, 1e-4), some Q11 values one off where a feature sits at a rounding boundary,
    and every decision and exit step is the twin's on exactly those frames: the C's Q11 conversion
    is numpy's quantize, bit for bit."""
    from mcuforge import api
    from mcuforge.frontend.client import read_features
    from mcuforge.frontend.reference import clip_features
    from mcuforge.rnn.audio import feature_config, host_frames, send_audio_bag
    from mcuforge.rnn.client import check_rule
    from mcuforge.rnn.reference import frames_for, run_bag
    from mcuforge.rnn.rule import RnnRule
    from mcuforge.rnn.validation import load_clips

    path, data = keyword_model
    m = api.load(path)
    project = api.generate(m, "mps2-an385", tmp_path / "fw", audio=True)
    api.build(project.path, extra_args=["EXTRA_CFLAGS=-DMF_FRONTEND_KEEP_FLOAT=1"])
    g, cfg = project.graph, feature_config(m.meta)
    rule = RnnRule.from_meta(m.meta, classes=len(m.meta["labels"]))
    clips, _ = load_clips(str(data), m.meta, samples=4)
    off = []
    with api.open_session(project.path, "mps2-an385") as s:
        link = s.link(expected_hash=project.firmware_hash)
        check_rule(link, rule)
        for clip in clips:
            got, _ = send_audio_bag(link, clip)
            device = read_features(link).reshape(cfg.n_frames, cfg.n_mels)
            assert np.abs(device - clip_features(cfg, clip)).max() < 1e-4
            host = host_frames(g, cfg, clip)
            frames = frames_for(g, device)
            off.append(int((frames != host).sum()))
            want = run_bag(g, rule, frames)
            assert got.same_decisions(want) and got.exit_steps == want.exit_steps, (got, want)
    print(f"Q11 frame values one off from the host's, per clip: {off} of {cfg.n_frames * cfg.n_mels}")


@pytest.mark.qemu
def test_a_board_reset_mid_clip_sends_the_clip_again(keyword_model, tmp_path):
    """QEMU's system_reset just before a clip's third AUDIO_CHUNK: the board boots with no clip (its
    boot HELLO says so), and send_audio_bag streams the clip again from AUDIO_BEGIN: the same bag as
    without the reset, one rerun counted. Before, the BoardReset ended the validation."""
    from mcuforge import api
    from mcuforge.frontend.messages import FrontendMsg
    from mcuforge.rnn.audio import send_audio_bag
    from mcuforge.rnn.validation import load_clips

    path, data = keyword_model
    m = api.load(path)
    project = api.generate(m, "netduinoplus2", tmp_path / "fw", audio=True)
    api.build(project.path)
    (clip,), _ = load_clips(str(data), m.meta, samples=1)
    with api.open_session(project.path, "netduinoplus2") as s:
        link = s.link(expected_hash=project.firmware_hash)
        want, _ = send_audio_bag(link, clip)
        chunks, request = [0], link.request

        def reset_before_third_chunk(t, *args, **kw):
            if t == FrontendMsg.AUDIO_CHUNK:
                chunks[0] += 1
                if chunks[0] == 3:
                    s.reset()
            return request(t, *args, **kw)

        link.request = reset_before_third_chunk
        got, ticks = send_audio_bag(link, clip)
        assert chunks[0] > 3 and link.stats.resets == 1 and link.stats.sample_reruns == 1, link.stats
        assert got.same_decisions(want) and got.exit_steps == want.exit_steps and ticks > 0, (got, want)


def test_the_uno_has_not_the_ram_for_the_front_end(keyword_model, tmp_path):
    import subprocess
    import sys

    path, _ = keyword_model
    p = subprocess.run([sys.executable, "-m", "mcuforge", "generate", str(path), "-b", "uno", "--audio", "-o",
                        str(tmp_path / "fw")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert ("--audio: the on-device log-mel front end needs 4,036 bytes of static RAM (sample ring 800, "
            "FFT buffer 2,048, power spectrum 1,028, frame 128, counters 32); uno has 2,048 bytes") in p.stderr
    assert not (tmp_path / "fw").exists()


def test_audio_needs_a_keyword_model_and_folder(keyword_model, tmp_path):
    from mcuforge.errors import UsageError
    from mcuforge.model.loader import load
    from mcuforge.rnn.audio import audio_meta
    from mcuforge.rnn.validation import load_clips
    from mcuforge.boards import load_board
    from test_rnn_firmware import bags

    meta = load(keyword_model[0]).meta
    with pytest.raises(UsageError, match="records no feature config"):
        audio_meta({**meta, "feature_config": None}, load_board("netduinoplus2"))
    with pytest.raises(UsageError, match="is not one"):
        load_clips(str(bags(tmp_path / "b.npz")), meta)
