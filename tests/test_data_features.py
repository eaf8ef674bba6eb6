"""Log-mel features: shapes, numbers against tf.signal, a tone lands in its mel band, config storage."""
import numpy as np
import pytest

from mcuforge.data.features import FeatureConfig, hz_to_mel, log_mel, mel_filterbank


def _audio(n_clips, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    clips = []
    for i in range(n_clips):
        f0 = rng.uniform(100, 3000)
        x = 0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(16000) + 0.02 * rng.standard_normal(16000)
        clips.append(x)
    return np.asarray(clips, np.float32)


def test_shapes_and_frame_count():
    cfg = FeatureConfig()
    assert (cfg.win, cfg.hop, cfg.n_fft, cfg.n_mels) == (400, 320, 512, 40)
    assert cfg.n_frames == 1 + (16000 - 400) // 320 == 49
    X = _audio(3)
    assert log_mel(X, cfg).shape == (3, 49, 40)
    assert log_mel(X[0], cfg).shape == (49, 40)
    assert log_mel(X, FeatureConfig(n_mels=64)).shape == (3, 49, 64)
    assert log_mel(X, FeatureConfig(hop=160)).shape == (3, 98, 40)
    # Short clips are zero-padded to 1 s, long ones cut: same frames either way.
    np.testing.assert_array_equal(log_mel(X[:, :12000], cfg), log_mel(np.pad(X[:, :12000], ((0, 0), (0, 4000))), cfg))
    assert log_mel(np.pad(X, ((0, 0), (0, 800))), cfg).shape == (3, 49, 40)
    assert log_mel(X, cfg).dtype == np.float32


def test_matches_tf_signal():
    import tensorflow as tf

    cfg = FeatureConfig()
    X = _audio(4, seed=1)
    ours = log_mel(X, cfg)

    stft = tf.signal.stft(tf.constant(X), frame_length=cfg.win, frame_step=cfg.hop, fft_length=cfg.n_fft,
                          window_fn=tf.signal.hann_window, pad_end=False)
    power = tf.math.square(tf.abs(stft))
    mel_w = tf.signal.linear_to_mel_weight_matrix(cfg.n_mels, cfg.n_fft // 2 + 1, cfg.sample_rate, cfg.fmin, cfg.fmax)
    ref = tf.math.log(tf.tensordot(power, mel_w, 1) + cfg.eps).numpy()

    assert ref.shape == ours.shape
    np.testing.assert_allclose(cfg.filterbank(), mel_w.numpy(), atol=2e-5)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_independent_float64_loop():
    """A plain per-frame float64 implementation written from the definition."""
    cfg = FeatureConfig(n_mels=24)
    x = _audio(1, seed=2)[0].astype(np.float64)
    n = np.arange(cfg.win)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.win)
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).astype(np.float64)
    ref = np.empty((cfg.n_frames, cfg.n_mels))
    for i in range(cfg.n_frames):
        frame = np.zeros(cfg.n_fft)
        frame[:cfg.win] = x[i * cfg.hop: i * cfg.hop + cfg.win] * window
        power = np.abs(np.fft.fft(frame)[: cfg.n_fft // 2 + 1]) ** 2
        ref[i] = np.log(power @ fb + cfg.eps)
    np.testing.assert_allclose(log_mel(x.astype(np.float32), cfg), ref, atol=2e-3)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 4000.0])
def test_tone_peaks_in_its_mel_band(freq):
    cfg = FeatureConfig()
    t = np.arange(16000) / 16000
    feats = log_mel((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), cfg)
    band = int(np.argmax(feats.mean(axis=0)))
    edges = np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    assert abs(edges[band + 1] - hz_to_mel(freq)) <= (edges[1] - edges[0]), (band, freq)


def test_filterbank_triangles():
    fb = mel_filterbank(16000, 512, 40, 20.0, 8000.0)
    assert fb.shape == (257, 40)
    assert fb.min() >= 0 and fb.max() <= 1
    assert np.all(fb.sum(axis=0) > 0), "every mel band must see at least one FFT bin"
    peaks = np.argmax(fb, axis=0)
    assert np.all(np.diff(peaks) >= 0), "band centres must rise with frequency"


def test_config_storage_and_normalization(tmp_path):
    cfg = FeatureConfig(n_mels=64).with_stats(-3.5, 4.25)
    cfg.save(tmp_path / "f.json")
    back = FeatureConfig.load(tmp_path / "f.json")
    assert back == cfg and back.normalized
    X = _audio(2)
    np.testing.assert_allclose(back.extract(X), (log_mel(X, back) + 3.5) / 4.25, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(FeatureConfig().extract(X), back.extract(X)[..., :40])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_fft=500), "power of two"),
    (dict(win=600), "win=600"),
    (dict(fmax=9000.0), "fmax"),
    (dict(mean=1.0), "together"),
    (dict(mean=1.0, std=0.0), "std"),
    (dict(hop=0), "hop"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureConfig(**kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="no normalization"):
        FeatureConfig().normalize(np.zeros((49, 40)))
    with pytest.raises(ValueError, match="int16"):
        log_mel(np.zeros(16000, np.int16))
    with pytest.raises(ValueError, match="shape"):
        log_mel(np.zeros((2, 2, 16000), np.float32))
    with pytest.raises(ValueError, match="unknown FeatureConfig keys"):
        FeatureConfig.from_dict({"n_mels": 40, "bogus": 1})
