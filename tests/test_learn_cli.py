"""'mcuforge learn' end to end on QEMU with a tiny untrained BNN: audio -> the board's front end ->
BNN -> head, every step and accuracy equal to the host reference of the same stream; the CLI's
plumbing, JSON and results DB (accuracy targets are the demo's business; the learning rules
themselves are checked in test_learning_*)."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from test_learning_support import accuracies, head_of, predictions

BOARD = "netduinoplus2"


@pytest.fixture(scope="module")
def tiny_bnn_and_data(tmp_path_factory):
    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.train.bnn import BNN_FEATURES, build_bnn_kws, save_bnn

    root = tmp_path_factory.mktemp("learn")
    data = root / "data"
    build_kws_dataset(data, words=["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero"],
                      clips_per_voice=1, voices=6, seed=3, progress=False)
    # 4 pretrained classes, not the 12 of BASE_LABELS (the other words are its "unknown"): a held-out
    # set of one clip per class is then 5 clips streamed through the board's UART, not 13
    labels = ("silence", "unknown", "yes", "no")
    model = build_bnn_kws((*BNN_FEATURES.shape, 1), len(labels), widths=(32, 32), strides=(2, 2),
                          first_filters=16, embedding_dim=32)
    path = save_bnn(model, BNN_FEATURES.with_stats(-6.0, 3.0), labels, root / "bnn.keras")
    return path, data


@pytest.fixture(scope="module")
def learning_project(tiny_bnn_and_data, tmp_path_factory):
    """The tiny BNN's learning firmware for BOARD, generated and built once for the board tests below."""
    from mcuforge.learning.keywords import prepare_firmware

    return prepare_firmware(tiny_bnn_and_data[0], BOARD, tmp_path_factory.mktemp("learn-fw") / "fw")


# ---- the host reference of a session ---------------------------------------------------------

def learn_data(model, data_dir, **picks):
    from mcuforge.learning.keywords import load_learn_data

    labels = json.loads(model.with_suffix(".json").read_text())["labels"]
    return load_learn_data(data_dir, labels, ["zero"], seed=0, **picks)


def host_session(model, max_classes, data, train_emb, eval_emb, rule, lr, batch, eval_every):
    """What the board's head should do with these embeddings: (prediction and label probability
    per step, accuracies per evaluation step, final state blob), from the numpy twin."""
    from mcuforge.learning.rules import Head
    from mcuforge.model.keras_bnn import load_bnn_keras

    _, meta = load_bnn_keras(model)
    head = Head(meta["head_W"], meta["head_b"], max_classes, rule, lr, batch)
    steps, curve = [], {0: accuracies(predictions(head, eval_emb), data.eval_labels, data.pretrained)}
    n = len(data.train_labels)
    for s, (x, y) in enumerate(zip(train_emb, data.train_labels), 1):
        while head.state.classes <= y:
            head.add_class()
        r = head.train(x, int(y))
        steps.append((r.predicted, np.float32(r.p_label)))
        if s % eval_every == 0 or s == n:
            curve[s] = accuracies(predictions(head, eval_emb), data.eval_labels, data.pretrained)
    return steps, curve, head.state.to_bytes()


@pytest.mark.qemu
def test_board_learning_equals_the_host_reference_of_the_same_stream(tiny_bnn_and_data, learning_project, tmp_path):
    """Audio streamed to the board: its front end's features equal numpy's (to 1e-4; the int8 input
    may differ by 1 LSB, so the chain is checked link by link), the BNN's embedding of each clip
    equals the numpy of the folded network on the board's features bit for bit, and every step's
    prediction and label probability, every accuracy and the final head state equal the numpy head
    fed those embeddings, for a session on audio and one replaying the embeddings (SET_EMBEDDING)."""
    from mcuforge.learning.keywords import LearnData, learn
    from mcuforge.frontend import clip_features, quantize_features, read_features, send_clip
    from mcuforge.learning.client import LearningClient
    from mcuforge.learning.session import board_opener
    from mcuforge.model.keras_bnn import load_bnn_keras
    from mcuforge.reference.executor import run_graph
    from mcuforge.results.store import ResultsStore

    model, data_dir = tiny_bnn_and_data
    graph, meta = load_bnn_keras(model)
    full = learn_data(model, data_dir, train_new=4, train_old=1, eval_per_class=1)
    # a handful of clips: 4 new + 4 old in the stream's order, 3 old + the new one held out
    new_tr, new_te = full.train_labels >= full.pretrained, full.eval_labels >= full.pretrained
    tr = np.flatnonzero(new_tr | (np.cumsum(~new_tr) <= 4))
    te = np.flatnonzero(new_te | (np.cumsum(~new_te) <= 3))
    data = LearnData(full.labels, full.pretrained, full.train_clips[tr], full.train_labels[tr],
                     full.eval_clips[te], full.eval_labels[te])
    assert (len(tr), len(te)) == (8, 4)
    project = learning_project
    plan = dict(lr=0.05, batch=3, eval_every=4)
    captured: dict = {}
    with ResultsStore(tmp_path / "r.db") as store:
        audio = learn(model, data_dir, BOARD, rule="tinyolv2", data=data, project=project, store=store,
                      capture=captured, progress=False, **plan)
        replay = learn(model, data_dir, BOARD, rule="cwr", data=data, project=project, store=store,
                       train_embeddings=captured["train"], embeddings=captured["eval"], progress=False, **plan)
        runs = {r["rule"]: (r, store.samples(r["run_id"]),
                            max(store.artifacts(r["run_id"], "head-state", with_data=True),
                                key=lambda a: (a.step, a.id)).data) for r in (audio, replay)}
    assert audio["stream"] == "audio" and replay["stream"] == "replayed board embeddings"

    # link by link: clip -> features -> embedding, on a fresh board, for an old and a new clip of
    # each set (the session's embeddings of them must be what this clip gives, not a stale output)
    cfg, scale, zp = meta["feature_config"], meta["input_scale"], meta["input_zero_point"]
    conn = board_opener(project.path, BOARD, expected_hash=project.firmware_hash)()
    try:
        link = conn.link
        max_classes = LearningClient(link).info().max_classes
        for clips, labels, emb in ((data.train_clips, data.train_labels, captured["train"]),
                                   (data.eval_clips, data.eval_labels, captured["eval"])):
            for i in (int(np.argmax(labels < data.pretrained)), int(np.argmax(labels >= data.pretrained))):
                clip = clips[i]
                send_clip(link, clip)
                feats = read_features(link).reshape(cfg.n_frames, cfg.n_mels)
                assert np.abs(feats - clip_features(cfg, clip)).max() < 1e-4, f"clip {i}: front end"
                assert link.invoke()[0] == 0
                board = np.frombuffer(link.read_output(0), "<f4")
                np.testing.assert_array_equal(board, emb[i], err_msg=f"clip {i}: not the session's embedding")
                x = quantize_features(feats, scale, zp).reshape(graph.tensors[graph.inputs[0]].shape)
                np.testing.assert_array_equal(board, run_graph(graph, [x])[0].reshape(-1),
                                              err_msg=f"clip {i}: board embedding != folded BNN in numpy")
    finally:
        conn.close()
    assert np.count_nonzero(captured["eval"]) > captured["eval"].size // 4  # a live embedding

    for rule, (summary, rows, blob) in runs.items():
        steps, curve, want_blob = host_session(model, max_classes, data, captured["train"], captured["eval"],
                                               rule, plan["lr"], plan["batch"], plan["eval_every"])
        assert [(r.predicted, np.float32(r.extra["label_probability"])) for r in rows] == steps, rule
        got_curve = {e["step"]: {k: e[k] for k in curve[0]} for e in summary["curve"]}
        assert got_curve == curve, rule
        assert blob == want_blob, f"{rule}: the board's final head state differs from numpy's"
    assert len({p for _, p in steps}) == len(steps)  # every clip gave the head a different embedding


@pytest.mark.qemu
@pytest.mark.slow
def test_learn_streams_audio_and_stores_every_step(tiny_bnn_and_data, tmp_path):
    model, data_dir = tiny_bnn_and_data
    db, out = tmp_path / "r.db", tmp_path / "learn.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mcuforge", "learn", model, "--data", data_dir, "--new", "zero", "--rule", "lwf",
         "--train-new", "3", "--train-old", "1", "--eval-per-class", "1", "--eval-every", "5",
         "--workdir", tmp_path / "fw", "--db", db, "--json", out], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    s = json.loads(out.read_text())
    assert s["rule"] == "lwf" and s["new_classes"] == ["zero"] and s["stream"] == "audio"
    assert s["update_cycles"] > 0 and s["head_bytes"] > 0 and s["cycles_kind"] == "emulated-instructions"

    from mcuforge.results.store import ResultsStore

    store = ResultsStore(db)
    run = store.runs(kind="learn")[0]
    assert run.status == "ok"
    assert len(store.samples(run.id)) == s["train_clips"]
    steps = {m.step for m in store.metrics(run.id, "accuracy_all")}
    assert max(steps) == s["train_clips"] and len(steps) >= 2
    # the JSON's accuracies are the final head's on the held-out embeddings the board computed
    final = max(store.artifacts(run.id, "head-state", with_data=True), key=lambda a: (a.step, a.id))
    emb = np.load(io.BytesIO(store.artifacts(run.id, "eval-embeddings", with_data=True)[-1].data))
    data = learn_data(model, data_dir, train_new=3, train_old=1, eval_per_class=1)  # the CLI's picks, seed 0
    want = accuracies(predictions(head_of(model, final.data), emb), data.eval_labels, data.pretrained)
    assert {k: s[k] for k in want} == want


def test_learn_refuses_a_new_keyword_the_dataset_lacks(tiny_bnn_and_data, tmp_path):
    model, data = tiny_bnn_and_data
    proc = subprocess.run([sys.executable, "-m", "mcuforge", "learn", model, "--data", data, "--new", "seven",
                           "--db", tmp_path / "r.db", "--workdir", tmp_path / "fw"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "seven" in proc.stderr


@pytest.mark.qemu
def test_learn_port_reaches_a_board_that_is_already_running(tiny_bnn_and_data, learning_project, tmp_path):
    """``mcuforge flash DIR --listen`` keeps the learning firmware running; ``mcuforge learn --port URL``
    (no --method) learns on that board: nothing is flashed, and afterwards the board at URL itself
    holds the new class and the session's samples (a learn that ignored --port and started its own
    QEMU would leave this one at its pretrained head)."""
    import signal

    from conftest import default_sigint
    from mcuforge.learning.client import LearningClient
    from mcuforge.link import Link

    model, data_dir = tiny_bnn_and_data
    project = learning_project
    listen = subprocess.Popen([sys.executable, "-m", "mcuforge", "flash", str(project.path), "--listen"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        url = next((line.split()[2] for line in listen.stdout if line.startswith("listening on ")), None)
        assert url is not None, listen.stderr.read()
        db, out = tmp_path / "r.db", tmp_path / "learn.json"
        proc = subprocess.run(
            [sys.executable, "-m", "mcuforge", "learn", model, "--data", data_dir, "--new", "zero", "--rule",
             "tinyol", "--train-new", "2", "--train-old", "0", "--eval-per-class", "1", "--eval-every", "4",
             "--port", url, "--workdir", project.path, "--db", db, "--json", out],
            capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        s = json.loads(out.read_text())
        assert s["stream"] == "audio" and s["new_classes"] == ["zero"] and s["recoveries"] == 0
        with Link(url, expected_hash=project.firmware_hash) as link:
            link.connect(boot_timeout=0.1)  # a running board: no boot HELLO, it asks for one
            info = LearningClient(link).info()
        assert info.classes == info.pretrained + 1 and info.samples == s["train_clips"], info
    finally:
        listen.send_signal(signal.SIGINT)  # Ctrl-C: the board is stopped
        assert listen.wait(30) == 0


@pytest.mark.qemu
def test_learn_below_the_head_equals_its_twin_on_the_boards_features(tiny_bnn_and_data, tmp_path):
    """learn(train_backbone=True): audio streamed to the learning firmware with the last_conv
    extension; given the packed features the board computed (below the slice), the numpy twin
    (keywords.backbone_learner) gives every step's prediction, every evaluation and the final slice
    checkpoint bit for bit, and the summary reports the slice the board trained."""
    from mcuforge.learning.client import parse_slice_state
    from mcuforge.learning.keywords import LearnData, backbone_learner, learn
    from mcuforge.results.store import ResultsStore

    model, data_dir = tiny_bnn_and_data
    full = learn_data(model, data_dir, train_new=4, train_old=1, eval_per_class=1)
    tr = np.arange(len(full.train_labels))[:8]
    data = LearnData(full.labels, full.pretrained, full.train_clips[tr], full.train_labels[tr],
                     full.eval_clips, full.eval_labels)
    plan = dict(rule="lwf", lr=0.05, batch=1, eval_every=4, budget_ram=2048, lr_backbone=0.3)
    captured: dict = {}
    with ResultsStore(tmp_path / "r.db") as store:
        s = learn(model, data_dir, BOARD, data=data, store=store, workdir=tmp_path / "fw", capture=captured,
                  progress=False, train_backbone=True, **plan)
        rows = store.samples(s["run_id"])
        last = max(store.artifacts(s["run_id"], "last-conv-state", with_data=True), key=lambda a: (a.step, a.id))
    lc, _, _ = backbone_learner(model, plan["rule"], plan["lr"], plan["batch"], plan["budget_ram"], plan["lr_backbone"])
    assert s["train_backbone"] and s["backbone"]["channels"] == len(lc.channels) > 0
    assert s["backbone"]["ram_bytes"] > s["backbone"]["state_bytes"] == len(last.data)
    train_f, eval_f = captured["train"], captured["eval"]
    assert train_f.dtype == np.uint32 and eval_f.shape[0] == len(data.eval_labels)
    lc.head.configure(plan["rule"], plan["lr"], plan["batch"])
    preds, curve = [], {}
    for step, (f, y) in enumerate(zip(train_f, data.train_labels), 1):
        while lc.head.state.classes <= y:
            lc.head.add_class()
        preds.append(lc.predict(f))
        lc.train(f, int(y))
        if step % plan["eval_every"] == 0 or step == len(tr):
            curve[step] = accuracies(np.array([lc.predict(x) for x in eval_f]), data.eval_labels, data.pretrained)
    assert [r.predicted for r in rows] == preds
    got = {e["step"]: {k: e[k] for k in curve[len(tr)]} for e in s["curve"] if e["step"] > 0}
    assert got == curve
    offset, residual, filt = parse_slice_state(last.data, len(lc.channels), lc.in_c)
    assert np.any(residual != 0), "the slice never moved"
    np.testing.assert_array_equal(filt, lc.w.reshape(len(lc.channels), -1))
    np.testing.assert_array_equal(residual, lc.r.reshape(len(lc.channels), -1))


def test_learn_train_backbone_refuses_a_budget_that_holds_no_channel(tiny_bnn_and_data, tmp_path):
    model, data = tiny_bnn_and_data
    proc = subprocess.run([sys.executable, "-m", "mcuforge", "learn", model, "--data", data, "--new", "zero",
                           "--train-backbone", "--budget-ram", "64", "--train-new", "1", "--eval-per-class", "1",
                           "--db", tmp_path / "r.db", "--workdir", tmp_path / "fw"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr
    assert "64" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "fw").exists()
