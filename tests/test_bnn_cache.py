"""The pretrained-BNN cache: a miss trains and seals an entry, a hit reuses it, a change of data or config
trains another, and a damaged or half-written entry is found and trained again."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mcuforge.train import bnn_cache
from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, build_bnn_kws, load_bnn, save_bnn

CONFIG = dict(labels=list(BASE_LABELS), epochs=1, float_epochs=0, seed=0)


@pytest.fixture(scope="module")
def tiny_bnn():
    """A real (untrained) BNN of the generator's layout, as small as it gets."""
    return build_bnn_kws((*BNN_FEATURES.shape, 1), len(BASE_LABELS), widths=(32,), strides=(2,),
                         first_filters=8, embedding_dim=8)


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    (d / "yes").mkdir(parents=True)
    (d / "yes" / "a.wav").write_bytes(b"RIFF" + bytes(range(64)))
    (d / "testing_list.txt").write_text("yes/a.wav\n")
    return d


class Trainer:
    def __init__(self, model, fail=False):
        self.model, self.fail, self.calls = model, fail, 0

    def __call__(self, path):
        self.calls += 1
        save_bnn(self.model, BNN_FEATURES.with_stats(0.0, 1.0), BASE_LABELS, path, extra={"test_accuracy": 0.5})
        if self.fail:
            raise KeyboardInterrupt  # killed after the files were written, before the entry was sealed


def test_miss_trains_once_then_hits(tmp_path, data, tiny_bnn):
    train = Trainer(tiny_bnn)
    path, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    assert (hit, train.calls) == (False, 1)
    again, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    assert (again, hit, train.calls) == (path, True, 1)
    model, meta = load_bnn(again)
    assert meta["labels"] == list(BASE_LABELS) and meta["extra"] == {"test_accuracy": 0.5}
    assert model.count_params() == tiny_bnn.count_params()
    assert json.loads((path.parent / "entry.json").read_text())["config"] == CONFIG


def test_the_demo_keeps_a_copy_in_its_workdir(tmp_path, data, tiny_bnn):
    """bench.head_ceiling and bench look for WORKDIR/bnn.keras: a hit is copied there (both files, the
    same bytes), the sealed entry stays intact, and a model already in WORKDIR is not copied onto itself."""
    path, _ = bnn_cache.cached_bnn(data, CONFIG, Trainer(tiny_bnn), root=tmp_path / "cache")
    work = tmp_path / "build" / "demo"
    copy = bnn_cache.copy_to_workdir(path, work)
    assert copy == work / "bnn.keras"
    for name in bnn_cache.FILES:
        assert (work / name).read_bytes() == (path.parent / name).read_bytes()
    assert bnn_cache.entry_ok(path.parent)
    (work / "bnn.json").write_text("{}")  # a stale copy is replaced by the next demo run
    bnn_cache.copy_to_workdir(path, work)
    assert (work / "bnn.json").read_bytes() == (path.parent / "bnn.json").read_bytes()
    assert bnn_cache.copy_to_workdir(copy, work) == copy and load_bnn(copy)[1]["labels"] == list(BASE_LABELS)


def test_other_data_config_or_code_is_a_miss(tmp_path, data, tiny_bnn, monkeypatch):
    train = Trainer(tiny_bnn)
    first, _ = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    (data / "yes" / "a.wav").write_bytes(b"RIFF" + bytes(range(1, 65)))  # same size, other content
    second, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    assert not hit and second != first
    third, hit = bnn_cache.cached_bnn(data, {**CONFIG, "epochs": 2}, train, root=tmp_path / "cache")
    assert not hit and third not in (first, second)
    monkeypatch.setattr(bnn_cache, "code_hash", lambda: "edited training code")
    fourth, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    assert not hit and fourth not in (first, second, third) and train.calls == 4


def test_every_training_and_data_module_is_in_the_key(tmp_path, data, monkeypatch):
    """Edit, add or rename any .py file under train/ or data/ (of a copy of the tree) and the key changes;
    bytecode and other packages do not count."""
    root = tmp_path / "toolchain"
    for pkg in bnn_cache.TRAINING_CODE:
        shutil.copytree(Path(bnn_cache.__file__).parent.parent / pkg, root / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(bnn_cache, "_ROOT", root)
    key = bnn_cache.cache_key(data, CONFIG)
    modules = sorted(root.rglob("*.py"))
    assert {p.parent.name for p in modules} == {"train", "data"} and len(modules) > 20
    keys = {key}
    for p in modules:
        text = p.read_bytes()
        p.write_bytes(text + b"# edited\n")
        keys.add(bnn_cache.cache_key(data, CONFIG))
        p.write_bytes(text)
    assert len(keys) == len(modules) + 1 and bnn_cache.cache_key(data, CONFIG) == key
    (root / "train" / "new_layer.py").write_text("X = 1\n")
    keys.add(bnn_cache.cache_key(data, CONFIG))
    (root / "train" / "new_layer.py").rename(root / "data" / "new_layer.py")  # same bytes, other path
    keys.add(bnn_cache.cache_key(data, CONFIG))
    assert len(keys) == len(modules) + 3
    (root / "data" / "new_layer.py").unlink()
    (root / "train" / "__pycache__").mkdir()
    (root / "train" / "__pycache__" / "bnn.cpython-311.pyc").write_bytes(b"bytecode")
    (root / "data" / "notes.txt").write_text("not code\n")
    (root / "ops").mkdir()
    (root / "ops" / "conv.py").write_text("# not training code\n")
    assert bnn_cache.cache_key(data, CONFIG) == key


@pytest.mark.parametrize("damage", ["truncated model", "edited metadata", "no entry file", "bad entry file"])
def test_damaged_entry_is_trained_again(tmp_path, data, tiny_bnn, damage):
    train = Trainer(tiny_bnn)
    path, _ = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    entry = path.parent
    if damage == "truncated model":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "edited metadata":
        (entry / "bnn.json").write_text((entry / "bnn.json").read_text().replace("0.5", "0.9"))
    elif damage == "no entry file":
        (entry / "entry.json").unlink()
    else:
        (entry / "entry.json").write_text("{not json")
    messages = []
    again, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache", say=messages.append)
    assert (again, hit, train.calls) == (path, False, 2)
    assert any("damaged or incomplete" in m for m in messages)
    assert bnn_cache.entry_ok(entry) and load_bnn(again)[1]["extra"] == {"test_accuracy": 0.5}


def test_interrupted_training_leaves_no_entry(tmp_path, data, tiny_bnn):
    with pytest.raises(KeyboardInterrupt):
        bnn_cache.cached_bnn(data, CONFIG, Trainer(tiny_bnn, fail=True), root=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    train = Trainer(tiny_bnn)
    _, hit = bnn_cache.cached_bnn(data, CONFIG, train, root=tmp_path / "cache")
    assert not hit and train.calls == 1


def test_default_folder_follows_xdg_cache_home(tmp_path, data, tiny_bnn, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path, _ = bnn_cache.cached_bnn(data, CONFIG, Trainer(tiny_bnn))
    assert path.parent.parent == tmp_path / "xdg" / "mcuforge" / "bnn"


def test_unwritable_cache_folder_trains_in_the_work_folder(tmp_path, data, tiny_bnn, monkeypatch):
    """XDG_CACHE_HOME names a regular file, so making the cache folder fails (NotADirectoryError) even
    for root, who writes into a chmod 0555 folder regardless (the suite runs as root here)."""
    xdg = tmp_path / "a-file"
    xdg.write_text("not a folder\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    train, messages = Trainer(tiny_bnn), []
    path, hit = bnn_cache.cached_bnn(data, CONFIG, train, fallback=tmp_path / "work" / "bnn.keras",
                                     say=messages.append)
    assert (path, hit, train.calls) == (tmp_path / "work" / "bnn.keras", False, 1)
    assert load_bnn(path)[1]["extra"] == {"test_accuracy": 0.5}
    assert len(messages) == 1 and "\n" not in messages[0]
    assert messages[0].startswith(f"cannot write the BNN cache in {xdg / 'mcuforge' / 'bnn'} (")
    assert messages[0].endswith(f"training in {tmp_path / 'work'} without the cache")
    assert xdg.read_text() == "not a folder\n"  # the user's file is untouched
    with pytest.raises(OSError):  # no fallback given: the caller sees why
        bnn_cache.cached_bnn(data, CONFIG, train)
