"""The command line keeps TensorFlow's C++ start-up notes and log lines off the user's screen."""
import os
import subprocess
import sys

# After the CLI has run a command, TensorFlow is imported and runs a tf.data pipeline with a parallel
# map (which logs a NodeDef error line on every epoch with this TensorFlow) and an op (cuInit's error).
SCRIPT = """
import contextlib, io
from mcuforge.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["boards"])
import keras, tensorflow as tf
ds = tf.data.Dataset.range(8).map(lambda x: x * 2, num_parallel_calls=2)
print("sum", sum(int(x) for x in ds), flush=True)
tf.get_logger().warning("a python-side warning")  # e.g. tf.function retracing, in the EMI-RNN part
"""
NATIVE = ("I0000", "W0000", "E0000", "absl::InitializeLog", "WARNING:tensorflow")


def run(**env):
    env = {**{k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MCUFORGE_TF_LOG")}, **env}
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)


def test_cli_hides_tensorflow_native_log_and_the_env_var_shows_it():
    quiet = run()
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "sum 56" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if any(m in line for m in NATIVE)], quiet.stderr
    shown = run(MCUFORGE_TF_LOG="1")  # the same run shows TensorFlow's notes: the check above can fail
    assert shown.returncode == 0 and any(m in shown.stderr for m in NATIVE), shown.stderr[-2000:]


def test_a_failing_quiet_import_shows_what_it_wrote(tmp_path):
    (tmp_path / "tflite_micro").mkdir()
    (tmp_path / "tflite_micro" / "__init__.py").write_text(
        "import os\nos.write(2, b'native: library missing\\n')\nraise ImportError('no runtime')\n")
    script = ("from mcuforge.native_log import quiet_tensorflow\nquiet_tensorflow()\n"
              "try:\n    import tflite_micro\nexcept ImportError as e:\n    print('caught', e)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert "caught no runtime" in r.stdout and "native: library missing" in r.stderr, (r.stdout, r.stderr)
