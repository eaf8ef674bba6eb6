"""bench/__main__.py's baselines, without a board: the arena without reuse is computed (not read from
a key that never exists), TFLM's arena is split into activations (like for like) and its host total,
and the on-device TFLM numbers come from the recorded baseline, labelled per model."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import __main__ as bench  # noqa: E402

from mcuforge.validation import Validation  # noqa: E402
from mcuforge.reference.tflm import tflm_arena  # noqa: E402

MODEL = bench.TFLM_BASELINE / "model_int8.tflite"


def _validation(**over) -> Validation:
    fields = dict(board="netduinoplus2", samples=1, mismatches=0, mismatched_elements=0, max_abs_diff=0.0,
                  cycles=[1_000_000], cycles_kind="emulated-instructions", macs=34064, arena_bytes=0,
                  reference_arena_bytes=0, flash_bytes=40_000, ram_bytes=8_000, model_hash="m", firmware_hash="f")
    return Validation(**{**fields, **over})


def test_tflm_arena_parts_add_up_and_activations_are_the_smaller_part():
    t = tflm_arena(MODEL.read_bytes())
    assert t["activations"] + t["persistent"] == t["total"]
    assert 0 < t["activations"] < t["total"] and t["persistent"] > 0


def test_zoo_row_prints_the_arena_without_reuse_and_both_tflm_numbers():
    a = bench.arena_baselines(MODEL)
    assert 0 < a["arena"] <= a["no_reuse"] and a["tflm_activations"] < a["tflm_host_total"]
    # the arena printed is the one of the firmware that ran (board kernel variants, in place), not a["arena"]
    row = dict(zip(bench.ZOO_HEADERS, bench.zoo_row("tiny", _validation(arena_bytes=1234), a)))
    assert row["no reuse B"] == a["no_reuse"] and row["arena B"] == 1234
    assert row["TFLM act. B (host)"] == a["tflm_activations"]
    assert row["TFLM total B (x86-64 host)"] == a["tflm_host_total"]
    assert row["arena/TFLM act."] == f"{1234 / a['tflm_activations']:.2f}x"


def test_device_rows_use_tflm_measured_on_the_same_board():
    recorded = json.loads((bench.TFLM_BASELINE / "tflm-baseline.json").read_text())
    assert sorted(recorded["models"]) == ["kws_dscnn_int8.tflite", "model_int8.tflite"]
    assert all((bench.TFLM_BASELINE / name).is_file() for name in recorded["models"])
    assert recorded["board"] == "netduinoplus2" and "on the emulated STM32F405" in recorded["about"]
    a = bench.arena_baselines(bench.TFLM_BASELINE / "kws_dscnn_int8.tflite")
    row = dict(zip(bench.DEVICE_HEADERS, bench.device_row("kws_dscnn_int8.tflite", _validation(arena_bytes=8744), a, recorded)))
    assert row["TFLM arena B (device)"] == 22756 and row["TFLM CMSIS-NN instr"] == 8759528
    assert row["arena B"] == 8744 and row["instr"] == 1_000_000


def test_rnn_rows_count_per_bag_and_per_prediction():
    """bench/rnn.py: a prediction in a stream is one instance, so its cost is the board's counts per
    bag over instances per bag; savings of each against the LSTM's row on the same board."""
    from bench import rnn
    from mcuforge.rnn.reference import BagResult
    from mcuforge.rnn.validation import RnnValidation

    def v(cycles, instances, steps):
        bags = [BagResult(0, instances, steps) for _ in cycles]
        return RnnValidation(board="netduinoplus2", samples=len(cycles), mismatches=0, accuracy_board=0.5,
                             accuracy_host=0.5, cycles=cycles, cycles_kind="emulated-instructions", mean_exit_step=1,
                             mean_steps=steps, full_steps=steps, flash_bytes=1, ram_bytes=2, arena_bytes=3,
                             model_hash="m", firmware_hash="f", data="d", split="test", board_results=bags)

    lstm = rnn.costs(v([800_000, 1_000_000, 1_200_000], 1, 98))
    assert lstm == dict(bag=1_000_000, prediction=1_000_000, per_step=1_000_000 / 98)
    emi = v([300_000, 400_000, 500_000], 4, 150)
    row = dict(zip(rnn.HEADERS, rnn.row("EMI", "netduinoplus2", "float32", emi, 1234, lstm)))
    assert row["counts/bag"] == 400_000 and row["counts/prediction"] == 100_000
    assert row["savings/bag"] == "2.50x" and row["savings/prediction"] == "10.00x"
    assert row["accuracy (board = host)"] == "50.0%" and row["weights B"] == 1234
