"""An offline keyword-spotting dataset in the Google Speech Commands layout, spoken by espeak-ng.

    DIR/<word>/<voice>_nohash_<n>.wav   16 kHz mono 16-bit, exactly 1 s
    DIR/silence/noise-<split>_nohash_<n>.wav   noise only
    DIR/_background_noise_/{white,pink,brown}_noise.wav, babble.wav
    DIR/validation_list.txt, DIR/testing_list.txt   voice-disjoint splits
    DIR/dataset.json   parameters and counts of the build

Keywords and "unknown" words (none of the 14 keywords) each get their own folder, as in Speech
Commands; the loader maps words that are not labels to "unknown". A voice is an espeak-ng English
voice plus a variant (``en-gb-x-rp+f2``): each voice belongs to exactly one split. Synthetic speech
is much easier than real speech, so every clip gets a random speed, pitch, position, microphone-like
band limit, level and background noise (white/pink/brown/babble at 0-20 dB SNR); babble is other
words spoken by voices of the same split, so no voice crosses splits even inside the noise.

Everything is derived from ``seed``: the same arguments give byte-identical files.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import time
import wave
from dataclasses import dataclass
from functools import lru_cache
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

from . import splits
from .wav import read_wav, to_float, write_wav

SAMPLE_RATE = 16000
CLIP = SAMPLE_RATE  # 1 s

BASE_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
NUMBER_KEYWORDS = ("zero", "one", "two", "three")
KEYWORDS = BASE_KEYWORDS + NUMBER_KEYWORDS
SILENCE, UNKNOWN = "silence", "unknown"
NOISE_DIR = "_background_noise_"

# Speech Commands' auxiliary words plus a few near-misses of the keywords ("tree"/"three",
# "start"/"stop", "lift"/"left"): "unknown" must be learned, not guessed from duration.
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin", "nine",
    "seven", "sheila", "six", "tree", "wow", "backward", "forward", "follow", "learn", "visual",
    "start", "lift", "yellow", "bright", "know", "done", "tone", "often", "free", "hello", "open",
)
# More "unknown" words, used after UNKNOWN_WORDS when a build asks for a larger vocabulary
# (unknown_words > len(UNKNOWN_WORDS)): pretraining on many words as their own classes gives an
# embedding that separates words it never saw (mcuforge.train.bnn, word_classes). Short everyday
# words; no homophone of a keyword ("won", "to", "for", "ate", "hero", "write") and none of BABBLE_WORDS.
EXTRA_UNKNOWN_WORDS = (
    "apple", "baby", "ball", "bank", "bear", "bell", "big", "black", "blue", "boat", "book", "box", "boy",
    "bread", "brown", "bus", "cake", "car", "chair", "city", "clock", "cloud", "cold", "cook", "cup", "dance",
    "dark", "day", "deep", "desk", "door", "dream", "drink", "drive", "duck", "earth", "egg", "face", "farm",
    "fast", "fire", "fish", "flag", "floor", "flower", "fly", "food", "foot", "friend", "frog", "game", "gift",
    "girl", "glass", "gold", "good", "grass", "green", "hand", "hat", "head", "heart", "hill", "horse", "hot",
    "ice", "jump", "key", "king", "lake", "lamp", "leaf", "light", "lion", "long", "love", "map", "milk",
    "moon", "mouse", "music", "name", "night", "nose", "ocean", "pen", "pink", "plane", "queen", "rain", "red",
    "ring", "road", "rock", "room", "round", "run", "salt", "sand", "sea", "ship", "shoe", "shop", "sing",
    "sky", "sleep", "slow", "small", "snow", "song", "star", "sun", "swim", "tall", "tea", "time", "toy",
    "train", "wall", "warm", "wave", "white", "wind", "wish", "wood", "word", "world", "young",
)
# Words for the babble noise only (never clips of their own).
BABBLE_WORDS = (
    "table", "window", "garden", "morning", "river", "paper", "silver", "orange", "number", "people",
    "little", "market", "winter", "summer", "yesterday", "computer", "because", "another", "together",
    "between", "family", "country", "problem", "question", "kitchen", "evening", "station", "picture",
    "weather", "letter", "doctor", "teacher", "basket", "coffee", "monday", "sugar", "travel", "water",
)

# espeak-ng's formant English voices (the mbrola ones need packages Debian does not install).
BASE_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
               "en-029", "en-us-nyc")
# Human-sounding variants: the numbered male/female ones plus a few named ones (robots left out).
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "Annie", "Andy", "adam", "anika", "aunty", "belinda", "david", "linda", "grandma",
            "steph", "whisper")

SPEED_WPM = (110, 230)   # espeak-ng -s range (default 175)
PITCH = (20, 80)         # espeak-ng -p range (default 50)
SNR_DB = (0.0, 20.0)     # speech-to-noise ratio of every keyword/unknown clip
SPEECH_DBFS = (-35.0, -12.0)  # RMS level of the spoken word
SILENCE_DBFS = (-65.0, -25.0)  # RMS level of "silence" clips
NOISE_SECONDS = 60       # length of each _background_noise_ file (Speech Commands' are ~1 min)
NOISE_TYPES = ("white_noise", "pink_noise", "brown_noise", "babble")
NOISE_P = (0.2, 0.25, 0.2, 0.35)  # babble is the hardest and most realistic: used most

_WORD_RE = re.compile(r"^[a-z][a-z']*$")


@dataclass(frozen=True)
class _Job:
    rel: str          # path relative to out_dir
    kind: str         # "speech" | "silence"
    word: str = ""
    voice: str = ""
    speed: int = 0
    pitch: int = 0
    split: str = "train"
    seed: int = 0


# ---------------------------------------------------------------- espeak-ng


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not on PATH; install it (apt-get install espeak-ng)")
    return exe


@lru_cache(maxsize=1)
def available_voices() -> tuple[frozenset, frozenset]:
    """(English base voice names, variant names) that this espeak-ng really has.

    espeak-ng silently falls back to its default voice for an unknown variant, so the
    variants are checked against its list instead of trusting its exit code.
    """
    exe = _espeak()

    def table(arg: str, col: int) -> set[str]:
        out = subprocess.run([exe, f"--voices={arg}"], capture_output=True, text=True, check=True).stdout
        rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
        return {r[col] for r in rows if len(r) > col}

    bases = {lang for lang in table("en", 1)}
    files = table("variant", 4)  # "!v/m1"
    variants = {f.split("/", 1)[1] for f in files if f.startswith("!v/")}
    return frozenset(bases), frozenset(variants)


def default_voices() -> list[str]:
    """Every BASE_VOICES x VARIANTS voice that the installed espeak-ng has."""
    bases, variants = available_voices()
    return [f"{b}+{v}" for b in BASE_VOICES if b in bases for v in VARIANTS if v in variants]


def check_voices(voices: list[str]) -> list[str]:
    bases, variants = available_voices()
    bad = []
    for v in voices:
        b, _, var = v.partition("+")
        if b not in bases or (var and var not in variants):
            bad.append(v)
    if bad:
        raise ValueError(f"espeak-ng has no voice {bad}; English bases: {sorted(bases)}; "
                         f"variants: see `espeak-ng --voices=variant`")
    return list(voices)


def speak(text: str, voice: str, speed: int = 175, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech as float32 at 16 kHz (espeak-ng itself synthesizes at 22.05 kHz)."""
    cmd = [_espeak(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", text]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0 or len(r.stdout) < 44:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    # espeak-ng writes a 44-byte streaming header whose data size is a placeholder (0x7ffff000):
    # read the format from it, then take every byte after it as samples.
    with wave.open(io.BytesIO(r.stdout), "rb") as w:
        rate, width, ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
    if width != 2 or ch != 1:
        raise RuntimeError(f"espeak-ng produced {ch} channel(s) of {8 * width}-bit audio; expected mono 16-bit")
    pcm = np.frombuffer(r.stdout[44:len(r.stdout) - (len(r.stdout) - 44) % 2], dtype="<i2")
    x = to_float(pcm).astype(np.float64)
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g)
    return x.astype(np.float32)


def _trim(x: np.ndarray, rel_threshold: float = 0.02) -> np.ndarray:
    """Cut espeak-ng's leading/trailing silence (keeps 10 ms either side of the word)."""
    env = np.convolve(np.abs(x), np.ones(80) / 80, mode="same")
    idx = np.flatnonzero(env > rel_threshold * max(env.max(), 1e-9))
    if idx.size == 0:
        return x[:0]
    return x[max(0, idx[0] - 160): idx[-1] + 160]


def speak_word(word: str, voice: str, speed: int, pitch: int, max_len: int = CLIP - 800) -> np.ndarray:
    """One trimmed word that fits in a clip with room to move: speeds up until it does."""
    for s in range(int(speed), 451, 40):
        x = _trim(speak(word, voice, s, pitch))
        if x.size == 0:
            raise RuntimeError(f"espeak-ng produced silence for {word!r} with voice {voice}")
        if x.size <= max_len:
            return x
    raise RuntimeError(f"{word!r} with voice {voice} is longer than {max_len} samples even at 450 wpm")


# ---------------------------------------------------------------- noise


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec /= f ** (exponent / 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / _rms(x)


def _babble(rng: np.random.Generator, n: int, voices: list[str], exclude=(), streams: int = 5) -> np.ndarray:
    """Several voices reading random words (never a keyword) at once, unit RMS: speech-like noise."""
    pool = [w for w in BABBLE_WORDS if w not in exclude and w not in KEYWORDS]
    out = np.zeros(n)
    for _ in range(streams):
        voice = voices[rng.integers(len(voices))]
        stream = np.zeros(0, np.float32)
        while stream.size < n:  # one espeak-ng call reads a long run of words
            text = " ".join(rng.choice(pool, size=60))
            stream = np.concatenate([stream, speak(text, voice, int(rng.integers(*SPEED_WPM)),
                                                   int(rng.integers(*PITCH)))])
        start = int(rng.integers(0, stream.size - n + 1))
        seg = stream[start:start + n].astype(np.float64)
        out += seg / _rms(seg) * rng.uniform(0.5, 1.0)
    return out / _rms(out)


def make_background(out_dir: Path, voices_by_split: dict[str, list[str]], seed: int,
                    seconds: int = NOISE_SECONDS, keywords=KEYWORDS) -> list[str]:
    """Write the _background_noise_ files; babble in each split's time region uses that split's voices."""
    n = seconds * SAMPLE_RATE
    rng = np.random.default_rng([seed, 0xB6])
    noise = {"white_noise": _colored(rng, n, 0.0), "pink_noise": _colored(rng, n, 1.0),
             "brown_noise": _colored(rng, n, 2.0)}
    babble = np.zeros(n)
    for split in splits.SPLITS:
        lo, hi = splits.noise_region(n, split)
        babble[lo:hi] = _babble(rng, hi - lo, voices_by_split[split], exclude=keywords)
    noise["babble"] = babble
    d = out_dir / NOISE_DIR
    d.mkdir(parents=True, exist_ok=True)
    names = []
    for name in NOISE_TYPES:
        x = noise[name]
        write_wav(d / f"{name}.wav", np.clip(x * 10 ** (-20 / 20), -1, 1), SAMPLE_RATE)  # -20 dBFS RMS
        names.append(f"{NOISE_DIR}/{name}.wav")
    return names


# ---------------------------------------------------------------- clip rendering (in threads)

def load_noise(out_dir: Path) -> dict[str, np.ndarray]:
    """The background noise files of a dataset being built, by noise type."""
    noise = {}
    for name in NOISE_TYPES:
        _, pcm = read_wav(Path(out_dir) / NOISE_DIR / f"{name}.wav")
        noise[name] = to_float(pcm).astype(np.float64)
    return noise


def _noise_segment(noise: dict, rng: np.random.Generator, split: str) -> np.ndarray:
    name = NOISE_TYPES[rng.choice(len(NOISE_TYPES), p=NOISE_P)]
    x = noise[name]
    lo, hi = splits.noise_region(x.size, split)
    start = int(rng.integers(lo, hi - CLIP + 1))
    seg = x[start:start + CLIP]
    return seg / _rms(seg)


def _mic(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """A random band limit, as different microphones and rooms would give (half the clips)."""
    if rng.random() < 0.5:
        return x
    lo, hi = rng.uniform(80, 400), rng.uniform(3000, 7500)
    return sosfilt(butter(2, [lo, hi], btype="band", fs=SAMPLE_RATE, output="sos"), x)


def render(job: _Job, out: Path, noise: dict) -> str:
    """Make one clip and write it under ``out``; returns its relative path."""
    rng = np.random.default_rng(job.seed)
    if job.kind == "speech":
        word = speak_word(job.word, job.voice, job.speed, job.pitch).astype(np.float64)
        word = _mic(rng, word)
        level = 10 ** (rng.uniform(*SPEECH_DBFS) / 20)
        word *= level / _rms(word)  # RMS of the voiced part, so SNR means the same for short words
        x = np.zeros(CLIP)
        start = int(rng.integers(0, CLIP - word.size + 1))
        x[start:start + word.size] = word
        snr = rng.uniform(*SNR_DB)
        x += _noise_segment(noise, rng, job.split) * level * 10 ** (-snr / 20)
    elif job.kind == "silence":
        x = _noise_segment(noise, rng, job.split)
        if rng.random() < 0.3:  # a mix of two noises
            x = x + _noise_segment(noise, rng, job.split) * rng.uniform(0.3, 1.0)
            x /= _rms(x)
        x = _mic(rng, x) * 10 ** (rng.uniform(*SILENCE_DBFS) / 20)
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    write_wav(out / job.rel, np.clip(x, -1.0, 1.0), SAMPLE_RATE)
    return job.rel


# ---------------------------------------------------------------- the dataset


def _check_words(words) -> tuple[str, ...]:
    if words is None:
        return KEYWORDS
    if isinstance(words, str):
        words = [w for w in re.split(r"[,\s]+", words) if w]
    words = tuple(w.strip().lower() for w in words)
    if not words:
        raise ValueError("words is empty: give at least one keyword")
    bad = [w for w in words if not _WORD_RE.match(w)]
    if bad:
        raise ValueError(f"keywords must be lower-case English words (letters and '), got {bad}")
    reserved = [w for w in words if w in (SILENCE, UNKNOWN)]
    if reserved:
        raise ValueError(f"{reserved} are class names, not keywords")
    if len(set(words)) != len(words):
        raise ValueError(f"duplicate keywords in {list(words)}")
    return words


def unknown_vocabulary(n: int | None = None) -> tuple[str, ...]:
    """The first ``n`` words of UNKNOWN_WORDS + EXTRA_UNKNOWN_WORDS (default: UNKNOWN_WORDS)."""
    pool = UNKNOWN_WORDS + EXTRA_UNKNOWN_WORDS
    if n is None:
        return UNKNOWN_WORDS
    if not 1 <= n <= len(pool):
        raise ValueError(f"unknown_words must be 1..{len(pool)}, got {n}")
    return pool[:n]


def _plan(words, voices, split_of, clips_per_voice, unknown_per_voice, seed, unknown_words=None) -> list[_Job]:
    unknown_pool = [w for w in unknown_vocabulary(unknown_words) if w not in KEYWORDS and w not in words]
    rng = np.random.default_rng([seed, 0x7A5])
    jobs: list[_Job] = []
    counter: dict[tuple[str, str], int] = {}

    def add(word: str, voice: str) -> None:
        n = counter.get((word, voice), 0)
        counter[(word, voice)] = n + 1
        jobs.append(_Job(rel=f"{word}/{voice}_nohash_{n}.wav", kind="speech", word=word, voice=voice,
                         speed=int(rng.integers(*SPEED_WPM)), pitch=int(rng.integers(*PITCH)),
                         split=split_of[voice], seed=int(rng.integers(2 ** 63))))

    for voice in voices:
        for word in words:
            for _ in range(clips_per_voice):
                add(word, voice)
        if unknown_pool:
            for word in rng.choice(unknown_pool, size=unknown_per_voice, replace=True):
                add(str(word), voice)
    # As many silence clips per split as one keyword has there.
    for split in splits.SPLITS:
        n_voices = sum(1 for v in voices if split_of[v] == split)
        for i in range(n_voices * clips_per_voice):
            jobs.append(_Job(rel=f"{SILENCE}/noise-{split}_nohash_{i}.wav", kind="silence", split=split,
                             seed=int(rng.integers(2 ** 63))))
    return jobs


def _own_files(params: dict) -> list[str]:
    """Every file a build with ``params`` writes, relative to its folder (the build is planned
    again from its parameters, so a rebuild removes exactly those and nothing the user added)."""
    voices = list(params["voices"])
    jobs = _plan(tuple(params["words"]), voices, splits.assign_voices(voices, params["seed"]),
                 params["clips_per_voice"], params["unknown_per_voice"], params["seed"], params.get("unknown_words"))
    return ([j.rel for j in jobs] + [f"{NOISE_DIR}/{name}.wav" for name in NOISE_TYPES]
            + list(splits.LIST_FILES.values()) + ["dataset.json"])


def _remove_own_files(out: Path, params) -> None:
    try:
        files = _own_files(params)
    except (KeyError, TypeError, ValueError):
        raise FileExistsError(f"{out}/dataset.json does not describe a build this mcuforge can redo; "
                              "choose another output folder") from None
    for rel in files:
        p = out / rel
        if ".." in Path(rel).parts or p.is_symlink() or not p.is_file():
            continue
        p.unlink()
        if p.parent != out and not any(p.parent.iterdir()):
            p.parent.rmdir()


def _prepare_out_dir(out: Path, params: dict, overwrite: bool) -> dict | None:
    """Returns the stored summary if out already holds this exact dataset; else empties/creates it.

    dataset.json is written first (complete: false) and completed last, so an interrupted build
    is recognized as ours and rebuilt.
    """
    meta = out / "dataset.json"
    if meta.is_file():
        try:
            old = json.loads(meta.read_text())
        except json.JSONDecodeError:
            old = {}
        same = old.get("params") == params
        if same and old.get("complete"):
            return old
        if not (same or overwrite):
            raise FileExistsError(f"{out} holds a keyword dataset built with other parameters; "
                                  f"pass overwrite=True (--overwrite) to rebuild it")
        _remove_own_files(out, old.get("params"))
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder or a dataset built by mcuforge; "
                              f"choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"params": params, "complete": False}) + "\n")
    return None


def build_kws_dataset(out_dir, words=None, clips_per_voice: int = 2, seed: int = 0, progress: bool = True,
                      *, voices: list[str] | int | None = None, unknown_per_voice: int | None = None,
                      workers: int | None = None, overwrite: bool = False,
                      noise_seconds: int = NOISE_SECONDS, unknown_words: int | None = None) -> dict:
    """Build the keyword dataset in out_dir; returns a summary (also saved as out_dir/dataset.json).

    words: keywords (default: the 10 base Speech Commands words + zero..three); "unknown" clips
      use other words, never any of the 14 default keywords nor ``words``.
    clips_per_voice: takes of each keyword per voice, each with its own speed/pitch/noise (the
      size knob: 2 gives ~6,900 clips in about a minute on 2 cores; 1 halves it).
    voices: espeak-ng voice names ("en-us+f3"), or an int to keep the first N of a seeded shuffle
      of the default voices (192 = 8 English accents x 24 variants); at least 3.
    unknown_per_voice: unknown-word clips per voice (default 2 x clips_per_voice, so "unknown"
      is about twice the size of one keyword class).
    workers: threads rendering clips (default: up to 2, the cores of this machine).
    noise_seconds: length of each _background_noise_ file (>= 10, so that the 10 % test and
      validation regions hold a whole clip).
    unknown_words: size of the "unknown" vocabulary (default: the 32 UNKNOWN_WORDS; up to
      len(UNKNOWN_WORDS + EXTRA_UNKNOWN_WORDS)); raise unknown_per_voice with it so that each
      word gets enough clips to be a class of its own in pretraining.
    A folder that already holds the same build is reused as is (summary["reused"] is True).
    """
    t0 = time.time()
    words = _check_words(words)
    if clips_per_voice < 1:
        raise ValueError(f"clips_per_voice must be >= 1, got {clips_per_voice}")
    all_voices = default_voices()
    if voices is None:
        voices = all_voices
    elif isinstance(voices, int):
        if not 3 <= voices <= len(all_voices):
            raise ValueError(f"voices={voices}: choose 3..{len(all_voices)} voices")
        pick = np.random.default_rng([seed, 0x40]).permutation(len(all_voices))[:voices]
        voices = [all_voices[i] for i in sorted(pick)]
    else:
        voices = check_voices(list(voices))
        if len(set(voices)) != len(voices):
            raise ValueError("duplicate voices")
    if unknown_per_voice is None:
        unknown_per_voice = 2 * clips_per_voice
    if unknown_per_voice < 0:
        raise ValueError(f"unknown_per_voice must be >= 0, got {unknown_per_voice}")
    unknown_vocabulary(unknown_words)  # checks the range
    if noise_seconds < 10:
        raise ValueError(f"noise_seconds must be >= 10 (each split needs a 1 s region), got {noise_seconds}")
    split_of = splits.assign_voices(voices, seed)
    voices_by_split = {s: [v for v in voices if split_of[v] == s] for s in splits.SPLITS}

    out = Path(out_dir)
    params = {"words": list(words), "clips_per_voice": clips_per_voice, "seed": seed, "voices": list(voices),
              "unknown_per_voice": unknown_per_voice, "noise_seconds": noise_seconds, "sample_rate": SAMPLE_RATE,
              "version": 1}
    if unknown_words is not None:  # only when given: the default build keeps its parameters (and cache keys)
        params["unknown_words"] = unknown_words
    old = _prepare_out_dir(out, params, overwrite)
    if old is not None:
        return {**old, "reused": True}

    jobs = _plan(words, voices, split_of, clips_per_voice, unknown_per_voice, seed, unknown_words)
    for d in sorted({j.rel.split("/")[0] for j in jobs}):
        (out / d).mkdir(exist_ok=True)
    background = make_background(out, voices_by_split, seed, noise_seconds, keywords=words)

    workers = workers or min(2, os.cpu_count() or 1)
    from tqdm import tqdm
    bar = tqdm(total=len(jobs), desc="espeak-ng clips", unit="clip", disable=not progress)
    noise = load_noise(out)
    try:
        # Threads, not processes: a clip's time is espeak-ng's own process and numpy/scipy, which
        # release the GIL (2 threads were as fast as 2 spawned processes here), and a spawned worker
        # would first run the caller's main script again (a script without a __main__ guard, or one
        # read from stdin, made multiprocessing's Pool start dying workers forever).
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(lambda job: render(job, out, noise), jobs):
                bar.update()
    finally:
        bar.close()

    split_of_file = {j.rel: j.split for j in jobs}
    splits.write_split_lists(out, split_of_file)

    counts: dict[str, dict[str, int]] = {}
    for j in jobs:
        label = j.rel.split("/")[0]
        counts.setdefault(label, {s: 0 for s in splits.SPLITS})[j.split] += 1
    summary = {
        "out_dir": str(out),
        "params": params,
        "keywords": list(words),
        "unknown_words": sorted({j.word for j in jobs if j.kind == "speech" and j.word not in words}),
        "voices": voices_by_split,
        "counts": counts,
        "n_clips": len(jobs),
        "background": background,
        "seconds": round(time.time() - t0, 1),
        "complete": True,
    }
    (out / "dataset.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {**summary, "reused": False}
