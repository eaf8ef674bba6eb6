"""'mcuforge adapt': few-shot adaptation on netduinoplus2 under QEMU. A tiny backbone (tests/models
global_pool: conv2d+ReLU, global average pooling, dense, softmax), 2 classes, 3 shots: the
board's TinyTrain Fisher sums equal the numpy twin's (so its choice is the host's), what the
board trained equals the numpy twin trained on the same steps, the query predictions equal the
twin's with those weights; class prototypes of the board's features; refusals with their exit
codes; the verb end to end on a Speech Commands-layout folder (ds_cnn_kws, synthetic clips)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcuforge.cli import main
from mcuforge.errors import exit_code_for
from mcuforge.graph.backward import selection_graph, training_graph
from mcuforge.model.loader import load
from mcuforge.reference.executor import initial_state, run_graph, run_graph_all
from mcuforge.train.adapt import (DEFAULT_LEARNING_RATES, HOST, METHODS, SELECTION, AdaptError, MethodUnsupported, Task,
                                  adapt, feature_graph, kws_tasks, plan_update, trained_model,
                                  training_samples)
from mcuforge.train.adapt_lr import LR_GRID, choose_learning_rate, validation_tasks
from mcuforge.train.imprint import host_features, imprinted, prototypes
from mcuforge.train.tinytrain import potential_sums
from models.zoo import fixture
from speech_folder import speech_folder

KEYS = {"method", "board", "classes", "shots", "tasks", "accuracy", "accuracy_std", "train_memory_bytes",
        "macs_per_step", "cycles_per_step", "cycles_kind", "selection_ran"}


def tiny_task(graph, shots=3, queries=3, seed=0) -> Task:
    """Two classes: noisy copies of two random int8 patterns."""
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    base = [rng.integers(-128, 128, shape) for _ in range(2)]

    def sample(k):
        return np.clip(base[k] + rng.integers(-40, 41, shape), -128, 127).astype(np.int8), k

    return Task([sample(k) for k in (0, 1) for _ in range(shots)], [sample(k) for k in (0, 1) for _ in range(queries)])


def prototype_head(graph, task, classes=2):
    """``graph`` with the head the trained methods start from: rows imprinted from the class
    prototypes of the support set's features (here on the numpy twin; the board's are the same)."""
    feats = host_features(feature_graph(graph), [x for x, _ in task.support])
    return imprinted(graph, prototypes(feats, [y for _, y in task.support], classes), feats)


def test_imprinted_head_classifies_as_the_nearest_prototype():
    """The int8 graph with imprinted rows predicts the nearest prototype's class, before any
    training, and the outputs outside the task are switched off (probability -128)."""
    graph = load(fixture("global_pool")).graph
    task = tiny_task(graph, shots=3, queries=6, seed=2)
    head = prototype_head(graph, task)
    fg = feature_graph(graph)
    protos = prototypes(host_features(fg, [x for x, _ in task.support]), [y for _, y in task.support], 2)
    nearest = [int(np.argmin(((protos - f) ** 2).sum(axis=1))) for f in host_features(fg, [x for x, _ in task.query])]
    logits = [run_graph_all(head, [x])[head.ops[-1].inputs[0]].reshape(-1) for x, _ in task.query]
    assert [int(np.argmax(v[:2])) for v in logits] == nearest
    assert all((v[2:] == -128).all() for v in logits)
    assert not np.array_equal(head.tensor(head.ops[-2].inputs[1]).data, graph.tensor(graph.ops[-2].inputs[1]).data)


@pytest.mark.qemu
def test_tinytrain_trains_on_the_board_as_the_numpy_twin(tmp_path):
    """TinyTrain chosen on the board (its Fisher sums and its choice equal the host's twin) and
    trained there as the twin, with QEMU killed after the
    4th of 12 steps: the board is restored from the checkpoint of step 4 and no step is lost or
    taken twice; every step's checkpoint is in the results database."""
    from mcuforge.results.store import ResultsStore
    from mcuforge.train import checkpoint

    model = fixture("global_pool")
    graph = load(model).graph
    task = tiny_task(graph)
    killed = []

    def kill_once(target, task_index, done):
        if done == 4 and not killed:
            killed.append(done)
            target.session.proc.kill()
            target.session.proc.wait()

    with ResultsStore(tmp_path / "r.db") as store:
        r = adapt(model, [task], ["a", "b"], method="tinytrain", epochs=2, budget_ram=4096, learning_rate=0.05,
                  workdir=tmp_path, store=store, after_step=kill_once)
        arts = store.artifacts(r["run_id"], checkpoint.ARTIFACT, with_data=True)
        last = checkpoint.latest(store, r["run_id"], 0)
    assert killed == [4] and r["recoveries"] == 1
    assert KEYS <= set(r) and r["cycles_kind"] == "emulated instructions" and r["selection_ran"].startswith("board")
    assert r["chosen"][0] and all(0 < c["channels"] <= c["of"] for c in r["chosen"][0])
    row = r["per_task"][0]
    start = prototype_head(graph, task)  # where training started (from the board's features)
    # the board's Fisher sums are the numpy twin's, exactly, so it chose what the host chooses
    sel = selection_graph(start, [x for x, _ in task.support], row["selection"]["first_layer"])
    assert row["selection"]["sums"] == [v.tolist() for v in potential_sums(sel, task.support)]
    assert any(v > 0 for sums in row["selection"]["sums"] for v in sums)
    assert r["selection_cycles"] > 0 and r["selection_memory_bytes"] > 0
    with ResultsStore(tmp_path / "r.db", readonly=True) as store:  # the selection's cost is in the database
        assert store.metric(r["run_id"], "selection_cycles") == r["selection_cycles"]
        assert store.metric(r["run_id"], "selection_memory_bytes") == r["selection_memory_bytes"]
    host_update, host_chosen = plan_update("tinytrain", start, task.support, 4096, r["budget_macs"], 0.05)
    assert r["chosen"][0] == host_chosen and r["selection_host_agrees"] is True
    assert row["selection"]["choice"] == host_update.weights  # the board chose what the host chooses
    assert row["train_memory_bytes"] == row["arena_bytes"] + row["stack_high_water_bytes"]
    assert 0 < row["trainable_bytes"] < row["arena_bytes"] and row["stack_high_water_bytes"] > 0
    # the numpy twin over the same steps from the same choice
    tg = training_graph(start, host_update, [x for x, _ in task.support])
    state = initial_state(tg)
    for i in row["order"]:
        x, label = task.support[i]
        run_graph(tg, [x, np.array([label], np.int32)], state)
    assert set(row["trained"]) == set(state)
    for name, value in row["trained"].items():
        np.testing.assert_array_equal(value, state[name], err_msg=f"{name}: the board trained otherwise")
    assert [a.step for a in arts] == list(range(1, 13)) and last[0] == 12
    assert set(last[1]) == set(state) and all(np.array_equal(last[1][n], state[n]) for n in state)
    assert any(not np.array_equal(state[n], start.tensor(n).data) for n in state), "nothing changed"
    evaluated = trained_model(start, state)
    want = [int(np.argmax(run_graph(evaluated, [x])[0].reshape(-1)[:2])) for x, _ in task.query]
    assert row["predictions"] == want
    assert r["accuracy"] == np.mean([p == y for p, (_, y) in zip(want, task.query)])


@pytest.mark.qemu
def test_none_fits_prototypes_to_the_board_features(tmp_path):
    model = fixture("global_pool")
    graph = load(model).graph
    task = tiny_task(graph, seed=1)
    r = adapt(model, [task], ["a", "b"], method="none", workdir=tmp_path)
    assert KEYS <= set(r) and r["epochs"] == 0 and "prototypes" in r["classifier"]
    fg = feature_graph(graph)
    t = fg.tensor(fg.outputs[0])

    def feats(x):
        return t.quant.s * (run_graph(fg, [x])[0].reshape(-1).astype(np.float64) - t.quant.zp)

    protos = np.stack([np.mean([feats(x) for x, y in task.support if y == k], axis=0) for k in (0, 1)])
    np.testing.assert_allclose(r["per_task"][0]["prototypes"], protos)
    want = [int(np.argmin(((protos - feats(x)) ** 2).sum(axis=1))) for x, _ in task.query]
    assert r["per_task"][0]["predictions"] == want


def test_refusals_name_the_problem(tmp_path, capsys):
    model = tmp_path / "kws.tflite"
    model.write_bytes(fixture("ds_cnn_kws"))
    data = tmp_path / "data"
    (data / "yes").mkdir(parents=True)
    with pytest.raises(SystemExit) as exc:
        main(["adapt", "--help"])
    assert exc.value.code == 0 and "tinytrain" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["adapt", str(model), "--data", str(data), "--classes", "yes,no", "--method", "magic"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["adapt", str(model), "--data", str(data), "--classes", "yes,no", "--lr", "0"])
    assert exc.value.code == 2 and "invalid learning_rate value: '0'" in capsys.readouterr().err
    words = ",".join(f"w{i}" for i in range(13))
    assert main(["adapt", str(model), "--data", str(data), "--classes", words]) == 2
    assert "needs 2..12" in capsys.readouterr().err
    assert main(["adapt", str(model), "--data", str(data), "--classes", "yes,no"]) == 2
    assert "kws.features.json not found" in capsys.readouterr().err
    # a model whose backward needs a gradient the backward cannot compute yet (through max
    # pooling): tinytrain's probe trains from the first layer, so it is refused before any firmware
    graph = load(fixture("uno_conv1d")).graph
    x = np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)
    with pytest.raises(MethodUnsupported, match="cannot train .* yet: no backward for max_pool2d") as err:
        adapt(fixture("uno_conv1d"), [Task([(x, 0), (x, 1)], [(x, 0)])], ["a", "b"], method="tinytrain")
    assert exit_code_for(err.value) == 3


def synthetic_words(root, per_split=(3, 2, 0), seed=0):
    """Two 'words' a DS-CNN can tell apart, a hum (a tone at 200-400 Hz) and a hiss (white noise),
    ``per_split`` (train, test, validation) clips each."""
    speech_folder(root, {"hum": lambda rng, t: 0.3 * np.sin(2 * np.pi * rng.uniform(200, 400) * t),
                         "hiss": lambda rng, t: 0.3 * rng.standard_normal(t.size) / 3}, per_split, seed)


def kws_folder(tmp_path, per_split=(3, 2, 0)):
    """ds_cnn_kws (49x40 log-mel input) with its features config, and a synthetic_words folder."""
    from mcuforge.data.features import FeatureConfig
    from mcuforge.data.speech_commands import load_split

    model = tmp_path / "kws.tflite"
    tmp_path.mkdir(parents=True, exist_ok=True)
    model.write_bytes(fixture("ds_cnn_kws"))
    synthetic_words(tmp_path / "data", per_split)
    raw = load_split(tmp_path / "data", ["hum", "hiss"], "train", features=FeatureConfig())[0]
    FeatureConfig().with_stats(raw.mean(), raw.std()).save(tmp_path / "kws.features.json")
    return model, tmp_path / "data"


@pytest.mark.qemu
def test_adapt_verb_end_to_end_on_a_dataset_folder(tmp_path, capsys):
    """ds_cnn_kws (49x40 log-mel input), its last layer trained on 2 shots of 2 words, 2 queries
    each, with --lr auto (the rate chosen on a validation task, host twin): the JSON has the issue's
    keys, what trained and the rate chosen; the printout the same numbers."""
    model, data = kws_folder(tmp_path, (3, 2, 2))
    out = tmp_path / "adapt.json"
    code = main(["adapt", str(model), "--data", str(data), "--classes", "hum,hiss", "--method",
                 "last-layer", "--shots", "2", "--queries", "2", "--tasks", "1", "--epochs", "1", "--lr", "auto",
                 "--workdir", str(tmp_path / "work"), "--json", str(out), "--db", str(tmp_path / "r.db")])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    r = json.loads(out.read_text())
    assert KEYS <= set(r) and r["classes"] == ["hum", "hiss"] and r["shots"] == r["queries"] == 2 and r["tasks"] == 1
    sel = r["learning_rate_selection"]
    assert sorted([*LR_GRID, *sel["extended"]]) == [g["learning_rate"] for g in sel["grid"]]
    assert sel["tasks"] == 1 and sel["board"] == HOST
    assert r["learning_rate"] == sel["learning_rate"] and f"lr         {r['learning_rate']:g} (the best" in printed.out
    assert r["cycles_kind"] == "emulated instructions" and r["updates"] == [{"biases": 1, "weights": {"9": 1.0}}]
    assert 0 <= r["accuracy"] <= 1 and len(r["per_task"][0]["predictions"]) == 4
    assert r["train_memory_bytes"] > r["trainable_bytes"] > 0 and r["cycles_per_step"] > 0
    assert f"{r['train_memory_bytes']:,} bytes on the board" in printed.out
    assert printed.err == ""  # no progress lines when stderr is not a terminal
    from mcuforge.results.store import ResultsStore

    with ResultsStore(tmp_path / "r.db", readonly=True) as store:
        run = store.get_run(r["run_id"])
        assert (run.kind, run.status, run.board, run.cycles_kind) == ("adapt", "ok", "netduinoplus2",
                                                                       "emulated-instructions")
        assert store.metric(run.id, "train_memory_bytes") == r["train_memory_bytes"]
        assert [s.predicted for s in store.samples(run.id)] == r["per_task"][0]["predictions"]
        assert run.summary["learning_rate_selection"] == sel  # how the rate was chosen stays with the run


@pytest.mark.qemu
def test_full_trains_on_the_host_twin_where_its_firmware_does_not_fit(tmp_path):
    """full on ds_cnn_kws: its training firmware needs more RAM than netduinoplus2 has, so the
    steps run on the host's numpy twin of the same integer training graph (labelled, memory the
    plan's, no counts) and the query set still runs on the board, with the twin's predictions."""
    graph = load(fixture("ds_cnn_kws")).graph
    rng = np.random.default_rng(3)
    shape = graph.tensor(graph.inputs[0]).shape
    xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(4)]
    task = Task([(xs[0], 0), (xs[1], 1)], [(xs[2], 0), (xs[3], 1)])
    r = adapt(fixture("ds_cnn_kws"), [task], ["a", "b"], method="full", epochs=1, learning_rate=0.05, workdir=tmp_path)
    row = r["per_task"][0]
    start = prototype_head(graph, task)
    assert r["trained_on"].startswith("host (numpy twin") and "does not fit netduinoplus2" in r["trained_on"]
    assert r["cycles_per_step"] is None and r["stack_high_water_bytes"] == 0 and r["train_memory_bytes"] > 128 * 1024
    assert any(not np.array_equal(v, start.tensor(n).data) for n, v in row["trained"].items())
    evaluated = trained_model(start, row["trained"])
    assert row["predictions"] == [int(np.argmax(run_graph(evaluated, [x])[0].reshape(-1)[:2])) for x, _ in task.query]


def test_a_method_whose_training_firmware_does_not_fit_is_refused_with_why():
    """Every bias of ds_cnn_kws: the backward to its first layer needs ~140 KB (its 32,000 B outputs
    kept as clamp bits, the gradients and one int8 stand-in), netduinoplus2 has 128 KB: refused (exit 3) before anything is built, naming what
    trains and the RAM it needs."""
    graph = load(fixture("ds_cnn_kws")).graph
    x = np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)
    with pytest.raises(MethodUnsupported, match=r"(?s)method bias trains the biases of the last 10 layers: its "
                                                r"training firmware does not fit netduinoplus2 .*RAM: needs") as err:
        adapt(fixture("ds_cnn_kws"), [Task([(x, 0), (x, 1)], [(x, 0)])], ["a", "b"], method="bias")
    assert exit_code_for(err.value) == 3


def test_checkpoints_round_trip_and_refuse_another_graph():
    """A checkpoint's bytes give back its tensors; a firmware restored from it starts there (its
    trainable tensors' initial values); one of another training graph or damaged bytes are
    refused by name (exit 2)."""
    from mcuforge.graph.backward import SparseUpdate
    from mcuforge.train import checkpoint

    graph = load(fixture("global_pool")).graph
    xs = [x for x, _ in tiny_task(graph).support]
    tg = training_graph(graph, SparseUpdate(biases=1, weights={1: 1.0}), xs)
    tensors = {n: (v + 1).astype(v.dtype) for n, v in checkpoint.trainable(tg).items()}
    back, meta = checkpoint.from_bytes(checkpoint.to_bytes(tensors, task=2, step=7))
    assert meta == {"task": 2, "step": 7} and all(np.array_equal(back[n], tensors[n]) for n in tensors)
    assert initial_state(checkpoint.restored(tg, back)).keys() == tensors.keys()
    assert all(np.array_equal(initial_state(checkpoint.restored(tg, back))[n], tensors[n]) for n in tensors)
    assert all(np.array_equal(initial_state(tg)[n], tensors[n] - 1) for n in tensors)  # tg itself untouched
    other = training_graph(graph, SparseUpdate(biases=1), xs)
    with pytest.raises(checkpoint.CheckpointError, match="the training graph .* trains") as err:
        checkpoint.restored(other, back)
    assert exit_code_for(err.value) == 2
    name = next(iter(tensors))
    with pytest.raises(checkpoint.CheckpointError, match=f"checkpoint tensor {name!r} is int8"):
        checkpoint.restored(tg, {**back, name: back[name].astype(np.int8).reshape(-1)[:1]})
    with pytest.raises(checkpoint.CheckpointError, match="damaged checkpoint"):
        checkpoint.from_bytes(b"not a checkpoint")


def test_report_plots_adapt_runs_accuracy_against_memory_and_counts(tmp_path):
    """Two recorded adapt runs (their summaries as adapt writes them) give the report's adapt
    section: accuracy against training memory and against counts per step, one point per method."""
    from mcuforge.results.report import render_report
    from mcuforge.results.store import ResultsStore
    from mcuforge.train.adapt import METRICS, record, start

    graph = load(fixture("global_pool")).graph
    with ResultsStore(tmp_path / "r.db") as store:
        for method, acc in (("last-layer", 0.5), ("tinytrain", 0.75)):
            rid = start(store, graph, "netduinoplus2", method, ["a", "b"])
            result = dict({k: 1000.0 for k in METRICS}, method=method, board="netduinoplus2", classes=["a", "b"],
                          accuracy=acc, accuracy_std=0.1, cycles_kind="emulated instructions",
                          per_task=[dict(predictions=[0, 1], labels=[0, 0])])
            record(store, rid, result)
        store.finish_run(start(store, graph, "netduinoplus2", "full", ["a", "b"]), "failed")
        html = render_report(store)
    part = html[html.index("Few-shot adaptation"):].split("</section>")[0]
    assert part.count("<img") == 2 and "tasks of a, b: accuracy vs training memory" in part
    assert "accuracy vs emulated instructions (QEMU -icount) per training step" in part


@pytest.mark.qemu
def test_host_sweep_path_is_the_board_run_without_the_board(tmp_path):
    """board=HOST (every pass on the numpy twin, for sweeps) trains the same weights and predicts
    the same queries as the board does on the same task, steps and choice; it claims no counts."""
    model = fixture("global_pool")
    task = tiny_task(load(model).graph, seed=3)
    for method in ("last-layer", "tinytrain"):
        kw = dict(method=method, epochs=1, budget_ram=4096, learning_rate=0.05, seed=1)
        on_board = adapt(model, [task], ["a", "b"], workdir=tmp_path / method, **kw)
        on_host = adapt(model, [task], ["a", "b"], board=HOST, **kw)
        b, h = on_board["per_task"][0], on_host["per_task"][0]
        assert h["order"] == b["order"] and h["predictions"] == b["predictions"], method
        assert set(h["trained"]) == set(b["trained"])
        for name, value in b["trained"].items():
            np.testing.assert_array_equal(h["trained"][name], value, err_msg=f"{method} {name}")
        assert on_host["cycles_per_step"] is None and on_host["trained_on"].startswith("host")
        if method == "tinytrain":
            assert on_host["chosen"] == on_board["chosen"]


@pytest.mark.qemu
def test_augmented_views_train_on_the_board_as_the_numpy_twin(tmp_path):
    """adapt(augment=1) on ds_cnn_kws (49x40 log-mel input), last layer: every epoch the board
    trains on each support clip and one augmented view of it (4 steps here), and what it trained
    equals the numpy twin stepped over the same samples (train.adapt.training_samples)."""
    model = fixture("ds_cnn_kws")
    graph = load(model).graph
    rng = np.random.default_rng(4)
    shape = graph.tensor(graph.inputs[0]).shape
    xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(4)]
    task = Task([(xs[0], 0), (xs[1], 1)], [(xs[2], 0), (xs[3], 1)])
    r = adapt(model, [task], ["a", "b"], method="last-layer", epochs=1, learning_rate=0.05, seed=2, augment=1,
              workdir=tmp_path)
    assert r["augment"] == 1 and r["steps_per_task"] == 4 and r["trained_on"] == "board"
    start = prototype_head(graph, task)
    update, _ = plan_update("last-layer", start, task.support, 16384, 0, 0.05)
    tg = training_graph(start, update, [x for x, _ in task.support])
    samples, order = training_samples(start, task, 1, np.random.default_rng(2), augment=1)
    assert order == r["per_task"][0]["order"] and len(samples) == 4
    state = initial_state(tg)
    for i in order:
        x, label = samples[i]
        run_graph(tg, [x, np.array([label], np.int32)], state)
    for name, value in r["per_task"][0]["trained"].items():
        np.testing.assert_array_equal(value, state[name], err_msg=f"{name}: the board trained otherwise")


def test_validation_tasks_never_draw_a_test_query(tmp_path):
    """--lr auto's validation tasks take their queries from the validation split only (other voices
    than the test split's) and the test tasks from the test split only: over several tasks every
    validation clip is drawn and no test clip; a folder without a validation list is refused."""
    model, data = kws_folder(tmp_path, (3, 2, 2))
    classes = ["hum", "hiss"]
    val = validation_tasks(model, data, classes, shots=2, queries=1, tasks=6)
    test = kws_tasks(model, data, classes, shots=2, queries=1, tasks=6, query_split="test")
    queries = lambda tasks: {x.tobytes() for t in tasks for x, _ in t.query}  # noqa: E731
    supports = {x.tobytes() for t in val + test for x, _ in t.support}
    assert len(queries(val)) == len(queries(test)) == 4  # 2 clips per word and split, each drawn
    assert queries(val).isdisjoint(queries(test)) and supports.isdisjoint(queries(val) | queries(test))
    bare, bare_data = kws_folder(tmp_path / "bare")  # testing_list.txt only
    with pytest.raises(AdaptError, match="no validation clips for the query set"):
        validation_tasks(bare, bare_data, classes, shots=2, queries=1, tasks=1)


def test_learning_rate_is_the_grid_point_best_on_the_validation_tasks():
    """choose_learning_rate runs adapt on the validation tasks at every grid rate (host twin) and
    keeps the best mean accuracy, ties to the smaller rate; an edge of the grid that beats its
    neighbour makes it go on outward by the edge's ratio while that strictly helps. The rates here
    do differ (a pretrained head learns only with a large one), so a wrong pick shows."""
    model = fixture("global_pool")
    graph = load(model).graph
    val = [tiny_task(graph, shots=3, queries=6, seed=s) for s in (5, 6)]
    kw = dict(method="last-layer", epochs=2, head="pretrained")

    def accuracy(lr):
        return adapt(model, val, ["a", "b"], board=HOST, learning_rate=lr, **kw)["accuracy"]

    grid = (0.5, 0.0001, 0.01)  # unsorted on purpose; the top edge wins, the step past it (x50) does not help
    sel = choose_learning_rate(model, val, ["a", "b"], grid=grid, **kw)
    each = {lr: accuracy(lr) for lr in grid}
    assert len(set(each.values())) > 1 and max(each, key=each.get) == 0.5
    assert sel["extended"] == [25.0]
    each[25.0] = accuracy(25.0)
    assert [(g["learning_rate"], g["accuracy"]) for g in sel["grid"]] == sorted(each.items())
    assert each[25.0] <= each[0.5] and sel["learning_rate"] == 0.5
    assert sel["tasks"] == 2 and sel["board"] == HOST
    tie = choose_learning_rate(model, val, ["a", "b"], grid=(0.01, 0.0001), **kw)
    assert each[0.01] == each[0.0001] and tie["learning_rate"] == 0.0001 and tie["extended"] == []  # no edge wins

    # The bottom edge wins here: x0.8 once helps (0.4), the next step (0.32) does not: 0.4 is chosen.
    past = choose_learning_rate(model, val, ["a", "b"], grid=(0.5, 0.625), **kw)
    rates = {lr: accuracy(lr) for lr in (0.32, 0.4, 0.5, 0.625)}
    assert rates[0.5] > rates[0.625] and rates[0.4] > rates[0.5] and rates[0.32] <= rates[0.4]
    assert past["extended"] == [0.4, 0.32] and past["learning_rate"] == 0.4
    assert [(g["learning_rate"], g["accuracy"]) for g in past["grid"]] == sorted(rates.items())
    with pytest.raises(AdaptError, match="none trains nothing"):
        choose_learning_rate(model, val, ["a", "b"], "none")


def test_without_a_rate_each_method_trains_at_its_own_default():
    """No learning_rate: every method steps at DEFAULT_LEARNING_RATES' rate (full's far smaller than
    the head's), the same weights as that rate given explicitly; none reports no rate."""
    assert DEFAULT_LEARNING_RATES["full"] < DEFAULT_LEARNING_RATES["last-layer"]
    # every method that trains has its rate and a selection named (a new method is not left at none)
    assert set(DEFAULT_LEARNING_RATES) == set(METHODS) - {"none"} and set(SELECTION) == set(METHODS)
    model = fixture("global_pool")
    task = tiny_task(load(model).graph, seed=4)
    for method in ("last-layer", "full"):
        kw = dict(board=HOST, method=method, epochs=1, seed=1)
        default = adapt(model, [task], ["a", "b"], **kw)
        explicit = adapt(model, [task], ["a", "b"], learning_rate=DEFAULT_LEARNING_RATES[method], **kw)
        assert default["learning_rate"] == DEFAULT_LEARNING_RATES[method]
        for name, value in explicit["per_task"][0]["trained"].items():
            np.testing.assert_array_equal(default["per_task"][0]["trained"][name], value, err_msg=f"{method} {name}")
    assert adapt(model, [task], ["a", "b"], board=HOST, method="none")["learning_rate"] is None


def test_bench_adapt_prints_a_row_per_method_at_its_rate(tmp_path, capsys, monkeypatch):
    """bench.adapt on the host twin: one row per method with the rate it trained at (each method's
    default, none's "-"), the JSON the same runs."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))  # bench/ is not installed
    from bench import adapt as bench_adapt

    model, data = kws_folder(tmp_path, (3, 2, 2))
    out = tmp_path / "bench.json"
    code = bench_adapt.main(["--board", HOST, "--model", str(model), "--data", str(data), "--classes", "hum,hiss",
                             "--methods", "none,last-layer", "--tasks", "1", "--shots", "2", "--queries", "2",
                             "--epochs", "1", "--work", str(tmp_path / "work"), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    runs = json.loads(out.read_text())
    assert [r["method"] for r in runs] == ["none", "last-layer"]
    assert runs[1]["learning_rate"] == DEFAULT_LEARNING_RATES["last-layer"] and runs[0]["learning_rate"] is None
    assert "lr each method's default" in printed
    lines = printed.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    none, last = ([c.strip() for c in line.split("  ") if c.strip()] for line in lines[rule + 1:rule + 3])
    assert none[:2] == ["none", "-"] and last[:2] == ["last-layer", "0.003"]  # no "(host)": every row is
    assert last[2] == f"{100 * runs[1]['accuracy']:.1f}"
