"""DS-CNN training, int8 conversion and TFLM accuracy on a tiny espeak-ng dataset."""

import numpy as np
import pytest

from mcuforge.data import kws
from mcuforge.data.features import FeatureConfig
from mcuforge.train.convert import (evaluate_tflite, input_details, predict_tflite,
                                    quantize_input, to_int8_tflite)
from mcuforge.train.dscnn import build_dscnn
from mcuforge.train.pipeline import load_kws_model, train_and_convert
from mcuforge.train.train import fit_dscnn, train_kws

LABELS = ["silence", "unknown", "yes", "no"]


def _op_names(tflite: bytes):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return [names[codes[op.opcodeIndex]] for op in model.subgraphs[0].operators]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("kws_train") / "data"
    voices = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb-x-rp+f4", "en-029+m7", "en-gb-scotland+f1", "en-us-nyc+m2"]
    kws.build_kws_dataset(root, words=["yes", "no", "up"], voices=voices, clips_per_voice=3, unknown_per_voice=2,
                          progress=False, noise_seconds=10, workers=2)
    return root


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("kws_model")
    return train_and_convert(tiny, LABELS, out_dir=out, epochs=1, batch_size=16, seed=0, progress=False), out


def test_dscnn_fits_an_stm32f405():
    model = build_dscnn()
    assert model.input_shape == (None, 49, 40, 1) and model.output_shape == (None, 12)
    assert model.get_layer("conv").output.shape[1:] == (20, 19, 64)
    assert model.count_params() < 100_000
    # largest pair of live int8 activations (conv output + first block's) stays well under 60 KB
    conv = int(np.prod(model.get_layer("conv").output.shape[1:]))
    dw1 = int(np.prod(model.get_layer("dw1").output.shape[1:]))
    assert 49 * 40 + conv < 60_000 and conv + dw1 < 60_000
    with pytest.raises(ValueError, match="frames, mel bands, 1"):
        build_dscnn((49, 40))
    with pytest.raises(ValueError, match="smaller than"):
        build_dscnn((8, 40, 1))


def test_train_convert_and_tflm_accuracy(trained):
    result, out = trained
    rep = result["report"]
    tflite = result["tflite"]
    assert rep["eval_split"] == "test" and rep["n_eval"] == len(result["y_test"]) > 0

    assert set(_op_names(tflite)) == {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    shape, scale, zp = input_details(tflite)
    assert shape == (1, 49, 40, 1) and scale > 0 and -128 <= zp <= 127

    X, y = result["X_test_int8"], result["y_test"]
    assert X.dtype == np.int8 and X.shape == (len(y), 49, 40, 1)
    out_int8 = predict_tflite(tflite, X)
    assert out_int8.dtype == np.int8 and out_int8.shape == (len(y), len(LABELS))
    # the reported int8 accuracy, recomputed with TFLM's own interpreter, clip by clip
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(tflite, arena_size=200_000)
    direct = []
    for x in X:
        interp.set_input(x[None], 0)
        interp.invoke()
        direct.append(int(np.argmax(interp.get_output(0))))
    assert rep["int8_accuracy"] == np.mean(np.array(direct) == y)
    # int8 decides as the float model does on the same (dequantized) clips: a broken conversion fails
    Xf = (X.astype(np.float32) - zp) * scale
    float_pred = np.argmax(result["model"].predict(Xf, verbose=0), 1)
    assert np.mean(float_pred == np.array(direct)) >= 0.9
    assert abs(rep["float_accuracy"] - np.mean(float_pred == y)) <= 2 / len(y)

    # int8 TFLM probabilities track the float model's softmax (softmax output scale is 1/256).
    p_float = result["model"].predict(Xf, verbose=0)
    p_int8 = (out_int8.astype(np.float32) + 128) / 256
    assert np.mean(np.abs(p_float - p_int8)) < 0.03

    saved = load_kws_model(out)
    assert saved["tflite"] == tflite and saved["labels"] == LABELS
    assert saved["feature_config"] == result["feature_config"] and saved["feature_config"].normalized
    np.testing.assert_array_equal(saved["X_test_int8"], X)
    assert saved["report"]["int8_accuracy"] == rep["int8_accuracy"]


def test_quantize_input_rounds_like_c(trained):
    tflite = trained[0]["tflite"]
    _, scale, zp = input_details(tflite)
    rng = np.random.default_rng(0)
    x = rng.uniform((-128 - zp) * scale, (127 - zp) * scale, size=(3, 49, 40)).astype(np.float32)
    q = quantize_input(x, tflite)
    assert q.shape == (3, 49, 40, 1) and q.dtype == np.int8
    back = (q.astype(np.float64).reshape(x.shape) - zp) * scale
    assert np.max(np.abs(back - x)) <= scale * 0.5001
    # exact halves go away from zero, as C's roundf does (np.round would go to even)
    halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32) * np.float32(scale)
    halves = np.concatenate([halves, np.zeros(49 * 40 - halves.size, np.float32)])
    q = quantize_input(halves, tflite).reshape(-1)[:6].astype(int) - zp
    v = (np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32) * np.float32(scale)) / np.float32(scale)
    expect = [int(np.sign(a) * np.floor(abs(a) + 0.5)) for a in v]
    assert list(q) == expect
    big = quantize_input(np.full((1, 49, 40), 1e6, np.float32), tflite)
    assert np.all(big == 127)


def test_train_kws_returns_normalized_config_and_is_repeatable(tiny, trained):
    # the fixture's network was trained with the same data, settings and seed: the same weights
    m1, h1, cfg = train_kws(tiny, LABELS, epochs=1, batch_size=16, seed=0, progress=False)
    assert cfg.normalized and cfg.std > 0 and cfg.shape == (49, 40)
    assert "val_accuracy" in h1.history
    m2, cfg2 = trained[0]["model"], trained[0]["feature_config"]
    assert cfg2 == cfg
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_conversion_and_tflm_errors(trained):
    model, tflite = trained[0]["model"], trained[0]["tflite"]
    with pytest.raises(ValueError, match="per-clip shape"):
        to_int8_tflite(model, np.zeros((4, 49, 39), np.float32))
    with pytest.raises(ValueError, match="empty"):
        to_int8_tflite(model, np.zeros((0, 49, 40), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        to_int8_tflite(model, np.full((2, 49, 40), np.nan, np.float32))
    with pytest.raises(ValueError, match="must be int8"):
        predict_tflite(tflite, np.zeros((1, 49, 40, 1), np.float32))
    with pytest.raises(ValueError, match="do not split into clips"):
        quantize_input(np.zeros((2, 10), np.float32), tflite)
    with pytest.raises(ValueError, match="labels"):
        evaluate_tflite(tflite, np.zeros((2, 49, 40, 1), np.int8), [0])
    with pytest.raises(RuntimeError, match="TFLM could not load"):
        predict_tflite(b"\0" * 64, np.zeros((1, 49, 40, 1), np.int8))
    with pytest.raises(ValueError, match="epochs"):
        fit_dscnn(np.zeros((2, 49, 40)), [0, 1], np.zeros((2, 49, 40)), [0, 1], 2, epochs=0)


def test_other_feature_configs_train(tiny):
    # 64 mel bands (the later BNN input) flows through unchanged.
    model, _, cfg = train_kws(tiny, ["yes", "no", "unknown"], epochs=1, batch_size=32, progress=False,
                              features=FeatureConfig(n_mels=64))
    assert model.input_shape == (None, 49, 64, 1) and cfg.n_mels == 64
