"""bench/bnn_levers.py --float-only: the float phase of a lever alone, its float network probed on
the demo's data, the result saved and printed (a tiny lever on a tiny dataset)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import bnn_levers  # noqa: E402


def test_float_only_trains_the_float_phase_and_probes_it(tmp_path, monkeypatch, capsys):
    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS

    words = [w for w in list(BASE_LABELS) + list(NEW_KEYWORDS) if w not in ("silence", "unknown")]

    def tiny_dataset(work, kwargs):
        build_kws_dataset(work / "data-tiny", words=words, clips_per_voice=1, voices=6, seed=1, progress=False)
        return work / "data-tiny"

    monkeypatch.setattr(bnn_levers, "dataset", tiny_dataset)
    monkeypatch.setitem(bnn_levers.LEVERS, "tiny", ("a tiny float net", {}, dict(
        widths=(32,), strides=(2,), first_filters=8, embedding_dim=16, batch_size=16, float_epochs=1, epochs=40)))
    assert bnn_levers.main(["--levers", "tiny", "--float-only", "--work", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "tiny" / "float.json").read_text())
    probe = saved["float_probe_demo_data"]["4 new"]
    assert saved["float_only"] and 0 <= probe["all"] <= 1 and not (tmp_path / "tiny" / "bnn.keras").exists()
    printed = capsys.readouterr().out
    assert f"{100 * probe['all']:.1f}%" in printed and "a tiny float net" in printed
    assert bnn_levers.main(["--levers", "tiny", "--float-only", "--table", "--work", str(tmp_path)]) == 0
    assert f"{100 * probe['all']:.1f}%" in capsys.readouterr().out
