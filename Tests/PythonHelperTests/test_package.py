"""The finetop package as shipped: one version number, a requires-python the code keeps to,
type hints (PEP 561 ``py.typed``) on every function of the typed modules, and mypy passing on them."""
import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

import finetop
from conftest import ROOT

PKG_ROOT = os.path.join(ROOT, "assets", "python")
PYPROJECT = os.path.join(PKG_ROOT, "pyproject.toml")
# The modules typed in full: all of them (mypy's `files` in pyproject.toml lists the same).
TYPED = ["__init__.py", "control.py", "runlog.py", "keras.py", "moves.py", "_torch_stats.py",
         "torch.py", "transformers.py", "lightning.py"]


def _pyproject():
    with open(PYPROJECT, encoding="utf-8") as f:
        return f.read()


def test_the_version_is_declared_once_in_the_package():
    project = _pyproject().split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r'^version\s*=', project, re.M), "[project] must not carry its own version"
    assert 'dynamic = ["version"]' in project
    setuptools = pytest.importorskip("setuptools", reason="setuptools is not installed")
    from setuptools.config.pyprojecttoml import read_configuration
    config = read_configuration(PYPROJECT, expand=True)
    assert config["project"]["version"] == finetop.__version__
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["finetop"]
    assert setuptools is not None


def test_the_package_says_it_is_typed():
    assert os.path.isfile(os.path.join(PKG_ROOT, "finetop", "py.typed"))


def _minimum_python():
    m = re.search(r'^requires-python\s*=\s*">=\s*3\.(\d+)"', _pyproject(), re.M)
    assert m, "requires-python must be a lower bound like \">=3.10\""
    return (3, int(m.group(1)))


def test_every_module_parses_as_the_oldest_python_it_claims():
    low = _minimum_python()
    assert low <= sys.version_info[:2]
    for name in sorted(os.listdir(os.path.join(PKG_ROOT, "finetop"))):
        if name.endswith(".py"):
            path = os.path.join(PKG_ROOT, "finetop", name)
            with open(path, encoding="utf-8") as f:
                ast.parse(f.read(), path, feature_version=low)  # SyntaxError names file and line


def test_every_function_of_the_typed_modules_has_type_hints():
    missing = []
    for name in TYPED:
        path = os.path.join(PKG_ROOT, "finetop", name)
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            bare = [a.arg for i, a in enumerate(args)
                    if a.annotation is None and not (i == 0 and a.arg in ("self", "cls"))]
            if bare or node.returns is None:
                missing.append("%s:%d %s (%s)" % (name, node.lineno, node.name,
                                                  ", ".join(bare) or "return"))
    assert not missing, "functions without type hints:\n" + "\n".join(missing)


def test_mypy_passes_on_the_typed_modules():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (assets/python/requirements-test.txt installs it)")
    # The settings (strict, python_version = the oldest supported, the files) are pyproject's.
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir=/dev/null"], cwd=PKG_ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout


def test_mypy_settings_check_the_oldest_supported_python():
    low = _minimum_python()
    assert re.search(r'^python_version\s*=\s*"%d\.%d"' % low, _pyproject(), re.M)
