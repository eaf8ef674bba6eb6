"""bench/head_ceiling.py: the offline probe (tuned on the validation split) and the rule runs on
synthetic embeddings; the board's embeddings (folded network in numpy) of a tiny saved BNN."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import head_ceiling  # noqa: E402


def _embeddings(separable: bool, pretrained=3, new=2, dim=16, per=60, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4.0, (pretrained + new, dim))
    if not separable:
        centers[pretrained:] = centers[0]  # the new words land where old class 0 does

    def draw():
        y = np.repeat(np.arange(pretrained + new), per)
        return (np.abs(centers[y] + rng.normal(0, 1.0, (len(y), dim)))).astype(np.float32), y

    w = rng.normal(0, 0.1, (pretrained, dim)).astype(np.float32)
    return {"train": draw(), "validation": draw(), "test": draw(), "head": (w, np.zeros(pretrained, np.float32)), "pretrained": pretrained}


def test_probe_separates_what_the_embedding_separates():
    good = head_ceiling.probe(_embeddings(True), 5, 3)
    assert good["all"] > 0.95 and good["new"] > 0.95
    bad = head_ceiling.probe(_embeddings(False), 5, 3)
    # three classes share one cluster: at best one of them is right there
    assert bad["all"] < 0.75


def test_probe_setting_is_chosen_on_the_validation_split():
    """A decay that wipes the weights out is on offer first and last: validation rejects it."""
    E = _embeddings(True)
    r = head_ceiling.probe(E, 5, 3, decays=(50.0, 0.0, 20.0), steps=(50, 200))
    assert r["decay"] == 0.0 and r["steps"] in (50, 200) and r["validation"] > 0.95 and r["all"] > 0.95
    crippled = head_ceiling.probe(E, 5, 3, decays=(50.0,), steps=(200,))
    assert crippled["validation"] < r["validation"]


def test_embeddings_are_the_folded_networks(tmp_path):
    """On a tiny saved BNN and dataset: every split, through the folded network in numpy (the board's
    computation, tests/test_learn_cli.py checks it against the board), not Keras."""
    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.data.speech_commands import load_split
    from mcuforge.model.keras_bnn import load_bnn_keras, quantize_inputs
    from mcuforge.reference.executor import run_graph
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, NEW_KEYWORDS, build_bnn_kws, save_bnn

    data = tmp_path / "data"
    words = [w for w in list(BASE_LABELS) + list(NEW_KEYWORDS) if w not in ("silence", "unknown")]
    build_kws_dataset(data, words=words, clips_per_voice=1, voices=6, seed=1, progress=False)
    model = build_bnn_kws((*BNN_FEATURES.shape, 1), len(BASE_LABELS), widths=(32,), strides=(2,),
                          first_filters=8, embedding_dim=16)
    path = save_bnn(model, BNN_FEATURES.with_stats(-6.0, 3.0), BASE_LABELS, tmp_path / "bnn.keras")
    E = head_ceiling.embeddings(path, data)
    graph, meta = load_bnn_keras(path)
    X, y, _ = load_split(data, list(BASE_LABELS) + list(NEW_KEYWORDS), "test", features=meta["feature_config"])
    emb, labels = E["test"]
    assert emb.shape == (len(y), 16) and np.array_equal(labels, y) and set(E) >= {"train", "validation"}
    shape = graph.tensors[graph.inputs[0]].shape
    for i, q in enumerate(quantize_inputs(X, meta)):  # batched in bench, one clip at a time here
        np.testing.assert_array_equal(emb[i], run_graph(graph, [q.reshape(shape)])[0].reshape(-1))
    np.testing.assert_array_equal(E["head"][0], meta["head_W"])


def test_the_float_twins_probe_is_measured_on_its_own_embedding(tmp_path):
    """train_bnn_kws hands the float phase's network to ``float_report`` (bench.bnn_levers probes
    it there); float_embeddings are that network's embedding layer on every split."""
    import keras

    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.data.speech_commands import load_split
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS, train_bnn_kws

    data = tmp_path / "data"
    words = [w for w in list(BASE_LABELS) + list(NEW_KEYWORDS) if w not in ("silence", "unknown")]
    build_kws_dataset(data, words=words, clips_per_voice=1, voices=6, seed=1, progress=False)
    seen = {}

    def report(float_model, cfg):
        seen["E"] = head_ceiling.float_embeddings(float_model, data, cfg)
        seen["model"], seen["cfg"] = float_model, cfg
        return {"float_probe": head_ceiling.bounds(seen["E"])}

    model, history, _ = train_bnn_kws(data, BASE_LABELS, widths=(32,), strides=(2,), first_filters=8,
                                      embedding_dim=16, batch_size=16, progress=False, epochs=1, float_epochs=1,
                                      float_report=report)
    assert set(history["float_probe"]) == {"1 new", "4 new"} and 0 <= history["float_probe"]["4 new"]["all"] <= 1
    assert seen["model"] is not model and seen["cfg"].normalized
    X, y, _ = load_split(data, list(BASE_LABELS) + list(NEW_KEYWORDS), "test", features=seen["cfg"])
    net = keras.Model(seen["model"].input, seen["model"].get_layer("embedding").output)
    emb, labels = seen["E"]["test"]
    assert np.array_equal(labels, y) and emb.shape == (len(y), 16)
    np.testing.assert_allclose(emb, net.predict(X[..., None], verbose=0), rtol=1e-5, atol=1e-6)


def test_rule_runs_learn_new_classes_on_a_separable_embedding():
    E = _embeddings(True)
    r = head_ceiling.rule_run(E, "tinyol", n_new=2, train_new=40, train_old=10, lr=0.05, passes=2)
    assert r["new"] > 0.8 and 0.0 <= r["old"] <= 1.0


def test_bench_entry_points_parse(capsys):
    """`make bench` runs `python -m bench`; nothing else imports it, so a broken module would go unseen."""
    import pytest

    from bench import __main__ as bench_main

    for main in (bench_main.main, head_ceiling.main):
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        assert exc.value.code == 0
    assert "ceiling" in capsys.readouterr().out
