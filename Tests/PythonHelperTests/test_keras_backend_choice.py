"""`import finetop.keras` without KERAS_BACKEND and without TensorFlow (issue 16 item 4): it picks an
installed backend (JAX, then PyTorch) and says which in one line on stderr; with none installed
it says in one line what to install. Each case runs in a fresh Python with a clean environment
(no KERAS_BACKEND, a HOME without ~/.keras/keras.json)."""
import importlib.util
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "assets", "python")

if importlib.util.find_spec("keras") is None:
    pytest.skip("keras is not installed in this Python", allow_module_level=True)

# Hides modules from the import system, as if they were not installed.
BLOCK = """
import sys
class _Hide:
    def __init__(self, names): self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError("No module named %r" % name, name=name)
        return None
sys.meta_path.insert(0, _Hide({NAMES}))
"""


def run(tmp_path, code, **env_extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": ASSETS, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path))


def test_without_a_backend_it_picks_jax_and_says_so(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed in this Python")
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: Keras's own default works")
    p = run(tmp_path, "import finetop.keras, keras; print(keras.backend.backend())")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "jax"
    said = [l for l in p.stderr.splitlines() if l.startswith("finetop:")]
    assert len(said) == 1 and "jax backend" in said[0] and "KERAS_BACKEND" in said[0]


def test_then_torch_when_jax_is_missing(tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed in this Python")
    p = run(tmp_path, BLOCK.replace("NAMES", '"jax", "tensorflow"') +
            "import finetop.keras, os; print(os.environ['KERAS_BACKEND'])")
    # Keras itself may or may not import with torch here; what matters is the choice and the line.
    said = [l for l in p.stderr.splitlines() if l.startswith("finetop:")]
    assert len(said) == 1 and "torch backend" in said[0], p.stderr[-2000:]


def test_with_no_backend_installed_one_line_says_what_to_install(tmp_path):
    p = run(tmp_path, BLOCK.replace("NAMES", '"jax", "torch", "tensorflow"') + "import finetop.keras")
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: finetop.keras:") and "pip install jax" in last
    assert "tensorflow'" not in last  # not Keras's confusing "No module named 'tensorflow'"


def test_a_chosen_backend_is_respected_silently(tmp_path):
    p = run(tmp_path, "import finetop.keras, keras; print(keras.backend.backend())",
            KERAS_BACKEND="numpy")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "numpy"
    assert not [l for l in p.stderr.splitlines() if l.startswith("finetop:")]
