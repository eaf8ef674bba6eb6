"""The espeak-ng keyword dataset: layout, wav format, voice-disjoint splits, determinism, errors."""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mcuforge.data import kws, splits
from mcuforge.data.wav import read_wav

VOICES = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb-x-rp+f4", "en-029+m7", "en-gb-scotland+f1"]
TINY = dict(words=["yes", "no"], voices=VOICES, clips_per_voice=2, unknown_per_voice=2, seed=3,
            progress=False, noise_seconds=20)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("kws") / "data"
    summary = kws.build_kws_dataset(out, workers=2, **TINY)
    return out, summary


def _wavs(root: Path):
    return sorted(p for p in root.rglob("*.wav"))


def _digest(root: Path):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "dataset.json"}


def test_layout_and_wav_format(tiny):
    root, summary = tiny
    assert not summary["reused"]
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    assert {"yes", "no", "silence", "_background_noise_"} <= folders
    unknown = set(summary["unknown_words"])
    assert unknown and folders == {"yes", "no", "silence", "_background_noise_"} | unknown
    assert not unknown & set(kws.KEYWORDS), "unknown words must be none of the 14 keywords"
    assert sorted(p.name for p in (root / "_background_noise_").iterdir()) == \
        ["babble.wav", "brown_noise.wav", "pink_noise.wav", "white_noise.wav"]
    for name in ("yes", "no", "silence"):
        assert len(list((root / name).glob("*.wav"))) == sum(summary["counts"][name].values())
    assert len(list((root / "yes").glob("*.wav"))) == len(VOICES) * 2
    clips = [p for p in _wavs(root) if p.parent.name != "_background_noise_"]
    assert len(clips) == summary["n_clips"]
    for p in clips:
        rate, x = read_wav(p)
        assert rate == 16000 and x.dtype == np.int16 and x.size == 16000, p
    rate, bg = read_wav(root / "_background_noise_" / "babble.wav")
    assert rate == 16000 and bg.size == 20 * 16000
    stored = json.loads((root / "dataset.json").read_text())
    assert stored["complete"] and stored["params"]["voices"] == VOICES


def test_splits_are_voice_disjoint(tiny):
    root, summary = tiny
    listed = splits.read_split_lists(root)
    voices = {s: set() for s in splits.SPLITS}
    for p in _wavs(root):
        rel = str(p.relative_to(root))
        if rel.startswith("_background_noise_"):
            continue
        voices[listed.get(rel, "train")].add(splits.speaker_of(rel))
    assert all(voices[s] for s in splits.SPLITS)
    assert not voices["train"] & voices["validation"]
    assert not voices["train"] & voices["test"]
    assert not voices["validation"] & voices["test"]
    for s in splits.SPLITS:
        assert voices[s] - {f"noise-{s}"} == set(summary["voices"][s])
    assert sum(len(v) for v in summary["voices"].values()) == len(VOICES)


def test_clips_are_noisy_and_placed_randomly(tiny):
    root, _ = tiny
    starts, floors = [], []
    for p in sorted((root / "yes").glob("*.wav")) + sorted((root / "no").glob("*.wav")):
        x = read_wav(p)[1].astype(np.float64) / 32768
        energy = np.convolve(x ** 2, np.ones(800) / 800, mode="valid")
        starts.append(int(np.argmax(energy > 0.3 * energy.max())))
        floors.append(energy.min())
    assert min(floors) > 0, "every spoken clip carries background noise"
    assert np.std(starts) > 800, "words must not all sit at the same place in the window"
    silence = [read_wav(p)[1] for p in sorted((root / "silence").glob("*.wav"))]
    levels = [np.sqrt(np.mean((s / 32768.0) ** 2)) for s in silence]
    assert max(levels) / min(levels) > 2, "silence clips come at different levels"


def test_deterministic_whatever_the_worker_count(tiny, tmp_path):
    root, _ = tiny
    again = kws.build_kws_dataset(tmp_path / "again", workers=1, **TINY)
    assert _digest(tmp_path / "again") == _digest(root)
    assert again["counts"] == tiny[1]["counts"]
    other = kws.build_kws_dataset(tmp_path / "other", workers=1, **{**TINY, "seed": 4})
    assert _digest(tmp_path / "other") != _digest(root)
    assert other["n_clips"] == tiny[1]["n_clips"]


def test_reuse_and_refusal(tiny, tmp_path):
    root, _ = tiny
    reused = kws.build_kws_dataset(root, **TINY)
    assert reused["reused"]
    with pytest.raises(FileExistsError, match="other parameters"):
        kws.build_kws_dataset(root, **{**TINY, "clips_per_voice": 1})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        kws.build_kws_dataset(tmp_path / "mine", **TINY)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_overwrite_removes_only_the_datasets_own_files(tiny, tmp_path):
    root, _ = tiny
    data = tmp_path / "data"
    shutil.copytree(root, data)
    (data / "my_recordings").mkdir()
    (data / "my_recordings" / "me_nohash_0.wav").write_bytes(b"mine")
    (data / "yes" / "notes.txt").write_text("mine too")
    small = {**TINY, "clips_per_voice": 1, "unknown_per_voice": 1}
    rebuilt = kws.build_kws_dataset(data, overwrite=True, workers=1, **small)
    assert (data / "my_recordings" / "me_nohash_0.wav").read_bytes() == b"mine"
    assert (data / "yes" / "notes.txt").read_text() == "mine too"
    listed = set(kws._own_files(rebuilt["params"]))
    assert {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} == listed | {
        "my_recordings/me_nohash_0.wav", "yes/notes.txt"}


def test_unknown_pool_excludes_all_keywords():
    split_of = {v: "train" for v in VOICES}
    jobs = kws._plan(("tree", "marvin"), VOICES, split_of, 1, 40, seed=0)
    unknown = {j.word for j in jobs if j.kind == "speech" and j.word not in ("tree", "marvin")}
    assert unknown and not unknown & (set(kws.KEYWORDS) | {"tree", "marvin"})
    assert len(unknown) > 10


def test_unknown_vocabulary_grows_past_the_speech_commands_words():
    split_of = {v: "train" for v in VOICES}
    pool = kws.UNKNOWN_WORDS + kws.EXTRA_UNKNOWN_WORDS
    assert len(set(pool)) == len(pool) and not set(pool) & (set(kws.KEYWORDS) | set(kws.BABBLE_WORDS))
    assert kws.unknown_vocabulary() == kws.UNKNOWN_WORDS and kws.unknown_vocabulary(40) == pool[:40]
    jobs = kws._plan(("yes",), VOICES, split_of, 1, 400, seed=0, unknown_words=len(pool))
    spoken = {j.word for j in jobs if j.kind == "speech"} - {"yes"}
    assert spoken & set(kws.EXTRA_UNKNOWN_WORDS) and spoken <= set(pool)
    few = kws._plan(("yes",), VOICES, split_of, 1, 40, seed=0, unknown_words=3)
    assert {j.word for j in few if j.kind == "speech"} - {"yes"} == set(kws.UNKNOWN_WORDS[:3])
    # the default plan is the one before the option existed (same clips, same cache keys)
    assert kws._plan(("yes",), VOICES, split_of, 1, 4, seed=0) == kws._plan(("yes",), VOICES, split_of, 1, 4, 0, None)
    for n in (0, len(pool) + 1):
        with pytest.raises(ValueError, match="unknown_words must be"):
            kws.unknown_vocabulary(n)


def test_default_voices_exist():
    voices = kws.default_voices()
    assert len(voices) >= 100
    assert kws.check_voices(voices[:3]) == voices[:3]


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(words=["Yes!"]), ValueError, "lower-case"),
    (dict(words=["silence"]), ValueError, "class names"),
    (dict(words=["yes", "yes"]), ValueError, "duplicate"),
    (dict(words=[]), ValueError, "empty"),
    (dict(voices=["en-us+nosuchvariant"]), ValueError, "no voice"),
    (dict(voices=["klingon+m1"]), ValueError, "no voice"),
    (dict(voices=2), ValueError, "3.."),
    (dict(voices=VOICES[:2]), ValueError, "at least 3 voices"),
    (dict(clips_per_voice=0), ValueError, "clips_per_voice"),
    (dict(unknown_words=0), ValueError, "unknown_words must be"),
])
def test_bad_arguments(tmp_path, kwargs, err, match):
    with pytest.raises(err, match=match):
        kws.build_kws_dataset(tmp_path / "d", **{**TINY, **kwargs})
    assert not (tmp_path / "d").exists()



@pytest.mark.parametrize("how", ["stdin", "script without a main guard"])
def test_scripts_that_multiprocessing_could_not_respawn_build_with_two_workers(tmp_path, how):
    """``python -`` and a script without ``if __name__ == "__main__"``: a spawned worker process runs
    the caller's main script again (none to read; or building again from inside the worker) and dies,
    and multiprocessing's Pool used to start worker after dying worker forever. Threads render now."""
    import subprocess
    import sys

    script = (f"from mcuforge.data.kws import build_kws_dataset\n"
              f"s = build_kws_dataset({str(tmp_path / 'd')!r}, words=['yes'], voices={VOICES[:3]!r}, clips_per_voice=1, "
              f"unknown_per_voice=1, progress=False, noise_seconds=20, workers=2)\nprint('built', s['reused'])\n")
    if how == "stdin":
        r = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    else:
        (tmp_path / "build.py").write_text(script)
        r = subprocess.run([sys.executable, str(tmp_path / "build.py")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "built False" in r.stdout, r.stderr[-2000:]
    assert len([w for w in (tmp_path / "d").rglob("*.wav") if w.parent.name != "_background_noise_"]) >= 9
