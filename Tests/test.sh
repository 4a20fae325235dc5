#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the tests need, then runs `swift test`.
#
#   Tests/test.sh                 # install (idempotent; seconds the second time) + swift test
#   Tests/test.sh --filter Keras  # extra arguments go to `swift test`
#
# What it installs: Debian's libncurses-dev, tmux and bsdutils (when missing and run as root,
# else it says which to install), and a Python venv in .venv with the real libraries the
# training-side tests drive: Keras 3 (JAX, CPU), PyTorch, transformers, accelerate, Lightning,
# TensorBoard, scikit-learn, pytest, mypy (assets/python/requirements-test.txt), and the finetop
# package itself (`pip install -e assets/python`). Each is reinstalled only when its file changes
# (stamps in .venv record the hashes). `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

missing=()
for pkg in libncurses-dev tmux bsdutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    exit 2
  fi
fi

req=assets/python/requirements-test.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
stamp=.venv/.finetop-requirements
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  say "installing $req into .venv (PyTorch brings ~6 GB of CUDA libraries: a few minutes the first time)"
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
  KERAS_BACKEND=jax .venv/bin/python -c \
    "import keras, jax, sklearn, tensorboard, torch, transformers, accelerate, lightning, pytest"
  echo "$want" > "$stamp"
fi
# The tests import the finetop package as installed (editable: this checkout's assets/python), as
# users do. Reinstalled when its pyproject.toml changes or the checkout moves.
pkg_want=$(printf '%s %s' "$(sha256sum assets/python/pyproject.toml | cut -d' ' -f1)" "$(pwd -P)")
pkg_stamp=.venv/.finetop-package
if [[ ! -f $pkg_stamp || $(cat "$pkg_stamp") != "$pkg_want" ]]; then
  say "installing assets/python into .venv (pip install -e)"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e assets/python
  echo "$pkg_want" > "$pkg_stamp"
fi

exec swift test "$@"
