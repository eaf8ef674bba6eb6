"""Loading any folder in the Speech Commands layout: hand-made user folders, splits, clear errors."""
import wave

import numpy as np
import pytest

from mcuforge.data import kws, splits
from mcuforge.data.features import FeatureConfig, log_mel
from mcuforge.data.speech_commands import list_split, load_split, word_folders
from mcuforge.data.wav import write_wav

RATE = 16000


def _tone(freq, seconds=1.0, seed=0):
    t = np.arange(int(RATE * seconds)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def _user_folder(root, speakers=("alice", "bob", "carol", "dave"), with_lists=True, noise=True):
    """A hand-made dataset: yes/no/cat/dog folders, one tone per word, several speakers."""
    freqs = {"yes": 440, "no": 880, "cat": 1500, "dog": 2500}
    split_of = {}
    for word, f in freqs.items():
        (root / word).mkdir(parents=True)
        for i, spk in enumerate(speakers):
            for n in range(2):
                rel = f"{word}/{spk}_nohash_{n}.wav"
                write_wav(root / rel, _tone(f + 10 * i, seed=i * 7 + n), RATE)
                split_of[rel] = {"carol": "validation", "dave": "test"}.get(spk, "train")
    if with_lists:
        splits.write_split_lists(root, split_of)
    if noise:
        (root / "_background_noise_").mkdir()
        rng = np.random.default_rng(5)
        write_wav(root / "_background_noise_" / "hum.wav", (rng.standard_normal(RATE * 12) * 0.1).astype(np.float32), RATE)
    return split_of


def test_user_folder_loads(tmp_path):
    split_of = _user_folder(tmp_path)
    labels = ["silence", "unknown", "yes", "no"]
    X, y, files = load_split(tmp_path, labels, "train")
    assert X.shape[1:] == (49, 40) and X.dtype == np.float32 and y.dtype == np.int64
    words = [f for f in files if not f.startswith("_background_noise_")]
    assert sorted(words) == sorted(r for r, s in split_of.items() if s == "train")
    for f, label in zip(files, y):
        word = f.split("/")[0]
        expected = "silence" if word == "_background_noise_" else word if word in labels else "unknown"
        assert labels[label] == expected, f
    # cat and dog become "unknown"; silence is cut from the background noise, as many as one word has
    assert np.sum(y == 1) == 2 * np.sum(y == 2) and np.sum(y == 0) == np.sum(y == 2)
    # the features are those of the file
    from mcuforge.data.wav import read_wav, to_float
    np.testing.assert_allclose(X[0], log_mel(to_float(read_wav(tmp_path / files[0])[1])), atol=1e-5)

    Xt, yt, ft = load_split(tmp_path, labels, "test")
    assert {f.split("/")[1].split("_nohash_")[0] for f in ft if "@" not in f} == {"dave"}


def test_silence_slices_stay_in_their_split_region(tmp_path):
    _user_folder(tmp_path)
    n = RATE * 12
    # Speech Commands-like convention: first 80 % of every noise file trains, then 10 % + 10 %.
    regions = {"train": (0, int(0.8 * n)), "validation": (int(0.8 * n), int(0.9 * n)), "test": (int(0.9 * n), n)}
    for split in splits.SPLITS:
        _, y, files = load_split(tmp_path, ["silence", "yes"], split, features=None)
        starts = [int(f.split("@")[1]) for f in files if "@" in f]
        assert starts
        lo, hi = regions[split]
        assert all(lo <= s and s + RATE <= hi for s in starts), (split, starts)


def test_without_lists_the_speaker_hash_decides(tmp_path):
    _user_folder(tmp_path, speakers=[f"spk{i:02d}" for i in range(30)], with_lists=False, noise=False)
    seen = {}
    for split in splits.SPLITS:
        files, _ = list_split(tmp_path, ["yes", "no"], split)
        for f in files:
            spk = splits.speaker_of(f)
            assert seen.setdefault(spk, split) == split, "a speaker must stay in one split"
            assert splits.which_set(f) == split
    assert set(seen.values()) == set(splits.SPLITS)


def test_which_set_proportions():
    got = [splits.which_set(f"w/{i:08x}_nohash_0.wav") for i in range(3000)]
    frac = {s: got.count(s) / len(got) for s in splits.SPLITS}
    assert 0.07 < frac["validation"] < 0.13 and 0.07 < frac["test"] < 0.13
    assert splits.which_set("a/abc_nohash_0.wav") == splits.which_set("b/abc_nohash_7.wav")


def test_short_clips_are_padded_and_waveforms_returned(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "no").mkdir()
    write_wav(tmp_path / "yes" / "a_nohash_0.wav", _tone(500, 0.5), RATE)
    write_wav(tmp_path / "no" / "a_nohash_0.wav", _tone(700, 1.0), RATE)
    split = splits.which_set("yes/a_nohash_0.wav")
    W, y, files = load_split(tmp_path, ["yes", "no"], split, features=None)
    assert W.shape == (2, RATE)
    short = W[files.index("yes/a_nohash_0.wav")]
    assert np.all(short[RATE // 2:] == 0) and np.any(short[: RATE // 2] != 0)
    X, _, _ = load_split(tmp_path, ["yes", "no"], split, features=FeatureConfig(n_mels=64))
    assert X.shape == (2, 49, 64)


def test_generated_dataset_loads(tmp_path):
    voices = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-029+f4"]
    summary = kws.build_kws_dataset(tmp_path, words=["yes", "no", "up"], voices=voices, clips_per_voice=1,
                                    unknown_per_voice=1, progress=False, noise_seconds=10, workers=1)
    labels = ["silence", "unknown", "yes", "no"]  # "up" and the unknown words map to "unknown"
    total = 0
    for split in splits.SPLITS:
        X, y, files = load_split(tmp_path, labels, split)
        c = summary["counts"]
        assert np.sum(y == 2) == c["yes"][split] and np.sum(y == 0) == c["silence"][split]
        n_unknown = sum(v[split] for k, v in c.items() if k not in ("silence", "yes", "no"))
        assert np.sum(y == 1) == n_unknown
        assert all(not f.startswith("_background_noise_") for f in files), "silence comes from silence/"
        total += len(y)
    assert total == summary["n_clips"]


def _write_raw(path, rate=RATE, channels=1, width=2, frames=RATE):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(b"\0" * frames * channels * width)


def test_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_split(tmp_path / "nope", ["yes"])
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        load_split(tmp_path / "afile", ["yes"])
    empty = tmp_path / "empty"
    (empty / "_background_noise_").mkdir(parents=True)
    (empty / "docs").mkdir()
    (empty / "docs" / "readme.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="not in the Speech Commands layout"):
        load_split(empty, ["yes"])

    root = tmp_path / "ds"
    _user_folder(root)
    with pytest.raises(ValueError, match=r"label\(s\) \['left'\]"):
        load_split(root, ["yes", "left"])
    with pytest.raises(ValueError, match="split must be one of"):
        load_split(root, ["yes"], "testing")
    with pytest.raises(ValueError, match="duplicate labels"):
        load_split(root, ["yes", "yes"])
    with pytest.raises(ValueError, match=r"needs \S*/unknown/\*\.wav or word folders that are not labels"):
        load_split(root, ["unknown", "yes", "no", "cat", "dog"])

    _write_raw(root / "yes" / "zed_nohash_0.wav", rate=8000)
    with pytest.raises(ValueError, match=r"zed_nohash_0.wav: sample rate 8000"):
        load_split(root, ["yes"], "train")
    _write_raw(root / "yes" / "zed_nohash_0.wav", channels=2)
    with pytest.raises(ValueError, match="2 channels"):
        load_split(root, ["yes"], "train")
    _write_raw(root / "yes" / "zed_nohash_0.wav", width=1)
    with pytest.raises(ValueError, match="8-bit"):
        load_split(root, ["yes"], "train")
    (root / "yes" / "zed_nohash_0.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(ValueError, match="not a PCM WAV"):
        load_split(root, ["yes"], "train")
    (root / "yes" / "zed_nohash_0.wav").unlink()

    (root / "testing_list.txt").write_text("yes/ghost_nohash_0.wav\n")
    with pytest.raises(ValueError, match="ghost_nohash_0.wav' does not exist"):
        load_split(root, ["yes"], "test")

    quiet = tmp_path / "quiet"
    _user_folder(quiet, noise=False)
    with pytest.raises(ValueError, match="silence.*found neither"):
        load_split(quiet, ["silence", "yes"])
    assert set(word_folders(quiet)) == {"yes", "no", "cat", "dog"}


def _unknown_folder(root, words=("bed", "tree")):
    """An explicit unknown/ folder (a common layout for one's own recordings), clips named by speaker."""
    (root / "unknown").mkdir()
    for i, spk in enumerate(("alice", "bob", "carol", "dave")):
        for n, w in enumerate(words):
            write_wav(root / "unknown" / f"{spk}_nohash_{w}{n}.wav", _tone(3000 + 100 * n + 10 * i, seed=40 + i), RATE)
    return sorted(f"unknown/{p.name}" for p in (root / "unknown").iterdir())


def test_an_unknown_folder_is_the_unknown_class(tmp_path):
    _user_folder(tmp_path, with_lists=False)
    clips = _unknown_folder(tmp_path)
    every_word = ["silence", "unknown", "yes", "no", "cat", "dog"]  # no word folder left over
    files, y = [], []
    for split in splits.SPLITS:
        f, lab = list_split(tmp_path, every_word, split)
        files += f
        y += lab
    unknown = sorted(f for f, lab in zip(files, y) if every_word[lab] == "unknown")
    assert unknown == clips  # the unknown/ folder's clips, each in exactly one split
    # With a word left over, "unknown" is the folder's clips plus that word's.
    f, lab = list_split(tmp_path, ["unknown", "yes", "no", "cat"], "train")
    got = {x.split("/")[0] for x, l in zip(f, lab) if l == 0}
    assert got == {"unknown", "dog"}


def test_learn_takes_a_folder_with_unknown(tmp_path):
    from mcuforge.learning.keywords import load_learn_data

    _user_folder(tmp_path)
    _unknown_folder(tmp_path)
    # Clips without a list entry are train clips; the unknown/ clips are the only "unknown" ones.
    d = load_learn_data(tmp_path, ["unknown", "yes", "no"], ["cat", "dog"], train_new=2, train_old=2,
                        eval_per_class=1, seed=0)
    assert d.labels == ["unknown", "yes", "no", "cat", "dog"]
    assert sorted(set(d.train_labels.tolist())) == [0, 1, 2, 3, 4]
