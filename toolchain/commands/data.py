"""``mcuforge data``: datasets built offline. ``data kws``: spoken keywords (espeak-ng) in the Speech Commands layout."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="build datasets offline (kws: spoken keywords, Speech Commands layout)",
                       description=_common.doc(__doc__))
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    k = kinds.add_parser("kws", help="keyword clips spoken by espeak-ng voices, noise, silence/unknown, voice-disjoint splits",
                         description="Keyword clips in the Speech Commands layout (DIR/<label>/*.wav, 16 kHz mono), "
                                     "with testing_list.txt/validation_list.txt splits that no voice crosses.")
    k.add_argument("-o", "--out", required=True, help="dataset folder")
    k.add_argument("--words", default=None,
                   help="comma-separated keywords (default: yes,no,up,down,left,right,on,off,stop,go,zero,one,two,three)")
    k.add_argument("--clips-per-voice", type=int, default=2, help="clips per keyword per voice (default 2)")
    k.add_argument("--voices", type=int, default=None, help="use N voices drawn (seeded) from all (default: all)")
    k.add_argument("--unknown-words", type=_common.positive_int, default=None,
                   help="size of the 'unknown' vocabulary (default 32; up to 160): more words to pretrain on "
                        "as classes of their own ('train bnn-kws --word-classes')")
    k.add_argument("--unknown-per-voice", type=_common.natural_int, default=None,
                   help="'unknown' clips per voice (default 2 x --clips-per-voice)")
    k.add_argument("--seed", type=_common.natural_int, default=0)
    k.add_argument("--overwrite", action="store_true", help="rebuild even if DIR holds a dataset built with other settings")
    _common.add_json(k, "the dataset summary")
    k.set_defaults(func=run_kws)


def run_kws(args) -> int:
    from ..data.kws import build_kws_dataset

    words = [w.strip() for w in args.words.split(",") if w.strip()] if args.words else None
    summary = build_kws_dataset(args.out, words=words, clips_per_voice=args.clips_per_voice, seed=args.seed,
                                voices=args.voices, overwrite=args.overwrite, unknown_words=args.unknown_words,
                                unknown_per_voice=args.unknown_per_voice,
                                progress=_common.progress())
    counts = summary.get("counts") or {}
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else f"wrote {args.out}")
    _common.write_json(args.json, summary)
    return 0
