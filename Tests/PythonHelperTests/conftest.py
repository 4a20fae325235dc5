"""Checks that the finetop package under test is this checkout's, and picks the JAX backend
before anything imports Keras.

The tests import the installed package (Tests/test.sh installs assets/python into .venv with
``pip install -e``), as users do; they never edit ``sys.path`` to find it. ``PYTHONPATH=assets/python``
works too. A finetop imported from another checkout stops the run with a message saying so."""
import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "assets", "python", "finetop")


def _check_package():
    spec = importlib.util.find_spec("finetop")
    found = os.path.dirname(spec.origin) if spec is not None and spec.origin else None
    if found is not None and os.path.realpath(found) == os.path.realpath(PACKAGE):
        return
    pytest.exit("the finetop package imported here is %s, not this checkout's %s: run Tests/test.sh "
                "(it installs assets/python into .venv), or `pip install -e assets/python`, or set "
                "PYTHONPATH=assets/python" % (found or "missing", PACKAGE), returncode=2)


os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests pass run directories explicitly; an inherited one must not leak in.
os.environ.pop("FINETOP_RUN_DIR", None)

import pytest  # noqa: E402

_check_package()


def read_events(run_dir):
    with open(os.path.join(run_dir, "events.jsonl"), encoding="utf-8") as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "every line must end with a newline"
    return [json.loads(line) for line in text.splitlines()]


def of_type(events, t):
    return [e for e in events if e["type"] == t]


def write_control(run_dir, obj_or_text):
    """Writes control.json the way the dashboard does: temporary file, then rename."""
    tmp = os.path.join(run_dir, ".control.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(run_dir, "control.json"))


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    return str(d)
