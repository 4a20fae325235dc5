"""Makes assets/python importable and picks the JAX backend before anything imports Keras."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "assets", "python"))
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests pass run directories explicitly; an inherited one must not leak in.
os.environ.pop("FINETOP_RUN_DIR", None)

import pytest  # noqa: E402


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
