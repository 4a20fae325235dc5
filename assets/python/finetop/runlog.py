"""Writes the run format (version 1): one JSON object per line in ``events.jsonl``.

Every line goes out with a single ``os.write`` on a file opened with ``O_APPEND`` (no Python
buffering), so a dashboard tailing the file sees whole lines as soon as they are written and
never a line interleaved with another writer's. Numbers may be ``NaN``/``Infinity``: Python's
``json`` writes them and finetop's reader accepts them.

Run directories may be shared (/tmp, NFS): ``events.jsonl`` is opened without following a
symbolic link and without blocking, and anything but a regular file there is refused with a clear
error. Strings that cannot be UTF-8 (lone surrogates, e.g. from a hostile layer name in
control.json) are written as visible ``\\udXXX`` escapes instead of failing.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import stat
import time
from typing import Any, Callable, Iterable, Mapping

EVENTS = "events.jsonl"
CONTROL = "control.json"
FORMAT_VERSION = 1


def default_run_dir(run_dir: str | os.PathLike[str] | None = None) -> str:
    """The run directory to use: ``run_dir`` if given, else ``$FINETOP_RUN_DIR``, else a new
    ``runs/<timestamp>`` under the current directory."""
    if run_dir:
        return os.fspath(run_dir)
    env = os.environ.get("FINETOP_RUN_DIR")
    if env:
        return env
    base = os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = "%s-%d" % (base, n)
    return path


# run_id of the latest run line written for each run directory (realpath), so that a
# ControlReader of the same process knows which job it belongs to (stop addressing).
_RUN_IDS: dict[str, str] = {}


def _dir_key(path: str) -> str:
    try:
        return os.path.realpath(path)
    except Exception:
        return os.path.abspath(path)


def run_id_for(run_dir: str) -> str | None:
    """The run_id of the latest ``run`` line this process wrote in ``run_dir``, or None."""
    return _RUN_IDS.get(_dir_key(run_dir))


def new_run_id(run_dir: str) -> str:
    """A run_id unique to this job: the run directory's name and a random suffix (a job rerun in
    the same directory gets another, so a stop addressed to the old one cannot stop it)."""
    base = os.path.basename(os.path.normpath(os.path.abspath(run_dir))) or "run"
    return "%s-%s" % (base, secrets.token_hex(3))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogates(o: Any) -> Any:
    if isinstance(o, str):
        return _SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), o)
    if isinstance(o, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_escape_surrogates(v) for v in o]
    return o


_FILE_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a directory"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def _kind(mode: int) -> str:
    for test, name in _FILE_KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_append(path: str, mode: int = 0o644) -> int:
    """Opens ``path`` for appending, creating it if needed, the safe way for shared directories:
    never follows a symbolic link (O_NOFOLLOW), never blocks (O_NONBLOCK: a FIFO without a reader
    fails at once), and refuses anything but a regular file with a single link. Returns the descriptor; raises
    OSError with a message that says what is wrong and what to do."""
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        fd = os.open(path, flags, mode)
    except OSError as e:
        try:
            found = os.lstat(path).st_mode
        except OSError:
            raise e from None
        if not stat.S_ISREG(found):
            raise OSError(e.errno, "finetop: %s is %s; finetop writes its log only to a regular "
                                   "file and never follows links (remove it and start again)"
                          % (path, _kind(found))) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "finetop: %s is %s; finetop writes its log only to a "
                                        "regular file (remove it and start again)"
                          % (path, _kind(st.st_mode)))
        if st.st_nlink > 1:  # a hard link planted to another file: appending would change it
            raise OSError(errno.EINVAL, "finetop: %s has %d hard links; finetop appends only to a "
                                        "file of its own (remove it and start again)"
                          % (path, st.st_nlink))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _json_default(o: Any) -> Any:
    # numpy / jax / torch scalars and small arrays.
    for attr in ("item", "tolist"):
        f = getattr(o, attr, None)
        if callable(f):
            try:
                return f()
            except Exception:
                pass
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def to_number(v: Any) -> float | None:
    """A float from a Python/numpy/jax/torch scalar, or None when it isn't one."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    try:
        if hasattr(v, "item"):
            v = v.item()
        return float(v)
    except Exception:
        return None


def numeric_metrics(d: Mapping[Any, Any] | None, skip: Iterable[str] = ()) -> dict[str, float]:
    """The numeric entries of a metrics dict, as plain floats, in a stable order."""
    out: dict[str, float] = {}
    skip = tuple(skip)
    for k, v in (d or {}).items():
        if k in skip:
            continue
        n = to_number(v)
        if n is not None:
            out[str(k)] = n
    return out


class RunLog:
    """Appends run-format lines to ``<run_dir>/events.jsonl``.

    ``run_dir`` defaults to ``$FINETOP_RUN_DIR`` (set by ``finetop run -- …``), then to a new
    ``runs/<timestamp>``. The directory is created if needed. ``batch`` lines are throttled to at
    most one per ``batch_interval`` seconds (0.1 s: ~10 per second)."""

    def __init__(self, run_dir: str | os.PathLike[str] | None = None, batch_interval: float = 0.1) -> None:
        self.dir = default_run_dir(run_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, EVENTS)
        self.control_path = os.path.join(self.dir, CONTROL)
        self.batch_interval = batch_interval
        self._fd: int | None = None
        self._fd = open_append(self.path)
        self.run_id = new_run_id(self.dir)
        self._last_batch = -math.inf
        self.ended = False

    # -- the raw writer -------------------------------------------------------------------------

    def write(self, obj: Mapping[str, Any]) -> None:
        """Writes one JSON object as one line, with a single write() when the OS allows."""
        if self._fd is None:
            raise ValueError("RunLog is closed")
        text = json.dumps(obj, default=_json_default, ensure_ascii=False) + "\n"
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: write them as visible escapes
            data = (json.dumps(_escape_surrogates(obj), default=_json_default, ensure_ascii=False)
                    + "\n").encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- one method per line type ---------------------------------------------------------------

    def run(self, framework: str, framework_version: str | None = None, run_id: str | None = None,
            task: Mapping[str, Any] | None = None, hparams: Mapping[str, Any] | None = None,
            started: float | None = None, **extra: Any) -> None:
        obj: dict[str, Any] = {
            "type": "run", "version": FORMAT_VERSION, "framework": framework,
            "framework_version": framework_version,
            "run_id": run_id or self.run_id,
            "started": time.time() if started is None else started,
            "task": task or {"kind": None, "num_classes": None, "loss": None},
            "hparams": hparams or {},
        }
        obj.update(extra)
        self.ended = False
        _RUN_IDS[_dir_key(self.dir)] = obj["run_id"]
        self.write(obj)

    def model(self, revision: int, layers: Iterable[Mapping[str, Any]], **extra: Any) -> None:
        """``layers``: dicts with name, class, shape, params, trainable_params, trainable, depth
        (and optionally learnable_params, partial, stats_frozen). ``extra``: more fields of the
        line, e.g. ``optimizer_params`` (Keras)."""
        obj: dict[str, Any] = {"type": "model", "revision": int(revision), "layers": list(layers)}
        obj.update({k: v for k, v in extra.items() if v is not None})
        self.write(obj)

    def batch(self, epoch: int, step: int, loss: Any, metrics: Mapping[str, Any] | None = None,
              force: bool = False) -> bool:
        """Writes a batch line unless one was written less than ``batch_interval`` ago.
        Returns whether it wrote."""
        now = time.monotonic()
        if not force and now - self._last_batch < self.batch_interval:
            return False
        self._last_batch = now
        value = to_number(loss)
        self.write({"type": "batch", "epoch": int(epoch), "step": int(step),
                    "loss": float("nan") if value is None else value,
                    "metrics": numeric_metrics(metrics, skip=("loss",))})
        return True

    def epoch(self, epoch: int, loss: Any = None, val_loss: Any = None,
              metrics: Mapping[str, Any] | None = None, step: int | None = None,
              time: float | None = None) -> None:
        obj: dict[str, Any] = {"type": "epoch", "epoch": int(epoch)}
        if step is not None:
            obj["step"] = int(step)
        train = to_number(loss)
        obj["loss"] = float("nan") if train is None else train
        val = to_number(val_loss)
        if val is not None:
            obj["val_loss"] = val
        obj["metrics"] = numeric_metrics(metrics, skip=("loss", "val_loss"))
        if time is not None:
            obj["time"] = float(time)
        self.write(obj)

    def layer_stats(self, epoch: int, update_ratio: Mapping[str, float],
                    grad_norm: Mapping[str, float] | None = None) -> None:
        """``update_ratio`` {row name: ‖w_end − w_start‖ / ‖w_start‖ over the epoch} (exactly 0.0
        for a layer whose weights did not change); ``grad_norm`` {row name: number}, optional."""
        obj: dict[str, Any] = {"type": "layer_stats", "epoch": int(epoch),
               "update_ratio": {str(k): float(v) for k, v in update_ratio.items()}}
        if grad_norm is not None:
            obj["grad_norm"] = {str(k): float(v) for k, v in grad_norm.items()}
        self.write(obj)

    def control(self, revision: int, status: str, changed: Iterable[str] = (),
                message: str | None = None) -> None:
        assert status in ("applied", "rejected")
        self.write({"type": "control", "revision": int(revision), "status": status,
                    "changed": list(changed), "message": message})

    def end(self, reason: str, message: str | None = None) -> None:
        assert reason in ("completed", "early_stopping", "stopped", "error")
        self.write({"type": "end", "reason": reason, "message": message})
        self.ended = True


_TARGET_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss")


def target_hparam(target: Any) -> dict[str, float] | None:
    """The run line's ``hparams["target"]`` for the ``target`` argument of every helper (Keras,
    PyTorch, Hugging Face, Lightning): what the user expects the run to reach, the reference of the
    diagnosis's avoidable bias. A number is an accuracy (0-1, or percent); a dict may give
    ``accuracy`` and/or ``loss`` (or ``val_accuracy`` / ``val_loss``). None: no target. Anything
    else raises ValueError saying why (the helper is not built: nothing is written)."""
    if target is None:
        return None
    if isinstance(target, bool):
        raise ValueError("target must be a number (an accuracy) or a dict such as "
                         "{\"accuracy\": 0.9} or {\"loss\": 0.3}, not %r" % (target,))
    if isinstance(target, (int, float)):
        target = {"accuracy": target}
    if not isinstance(target, dict) or not target:
        raise ValueError("target must be a number (an accuracy) or a dict such as "
                         "{\"accuracy\": 0.9} or {\"loss\": 0.3}, not %r" % (target,))
    out: dict[str, float] = {}
    for k, v in target.items():
        if k not in _TARGET_KEYS:
            raise ValueError("target: unknown key %r (use %s)" % (k, ", ".join(_TARGET_KEYS)))
        n = to_number(v) if not isinstance(v, bool) else None
        if n is None or not math.isfinite(n) or ("accuracy" in k and not 0 < n <= 100):
            raise ValueError("target: %s must be a finite number%s, not %r"
                             % (k, " in (0, 1] (or percent)" if "accuracy" in k else "", v))
        out[k] = float(n)
    return out
