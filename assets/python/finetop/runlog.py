"""Writes the run format (version 1): one JSON object per line in ``events.jsonl``.

Every line goes out with a single ``os.write`` on a file opened with ``O_APPEND`` (no Python
buffering), so a dashboard tailing the file sees whole lines as soon as they are written and
never a line interleaved with another writer's. Numbers may be ``NaN``/``Infinity``: Python's
``json`` writes them and finetop's reader accepts them.
"""

import json
import math
import os
import time

EVENTS = "events.jsonl"
CONTROL = "control.json"
FORMAT_VERSION = 1


def default_run_dir(run_dir=None):
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


def _json_default(o):
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


def to_number(v):
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


def numeric_metrics(d, skip=()):
    """The numeric entries of a metrics dict, as plain floats, in a stable order."""
    out = {}
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

    def __init__(self, run_dir=None, batch_interval=0.1):
        self.dir = default_run_dir(run_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, EVENTS)
        self.control_path = os.path.join(self.dir, CONTROL)
        self.batch_interval = batch_interval
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._last_batch = -math.inf
        self.ended = False

    # -- the raw writer -------------------------------------------------------------------------

    def write(self, obj):
        """Writes one JSON object as one line, with a single write() when the OS allows."""
        if self._fd is None:
            raise ValueError("RunLog is closed")
        data = (json.dumps(obj, default=_json_default, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- one method per line type ---------------------------------------------------------------

    def run(self, framework, framework_version=None, run_id=None, task=None, hparams=None,
            started=None, **extra):
        obj = {
            "type": "run", "version": FORMAT_VERSION, "framework": framework,
            "framework_version": framework_version,
            "run_id": run_id or os.path.basename(os.path.normpath(os.path.abspath(self.dir))),
            "started": time.time() if started is None else started,
            "task": task or {"kind": None, "num_classes": None, "loss": None},
            "hparams": hparams or {},
        }
        obj.update(extra)
        self.ended = False
        self.write(obj)

    def model(self, revision, layers):
        """``layers``: dicts with name, class, shape, params, trainable_params, trainable, depth."""
        self.write({"type": "model", "revision": int(revision), "layers": list(layers)})

    def batch(self, epoch, step, loss, metrics=None, force=False):
        """Writes a batch line unless one was written less than ``batch_interval`` ago.
        Returns whether it wrote."""
        now = time.monotonic()
        if not force and now - self._last_batch < self.batch_interval:
            return False
        self._last_batch = now
        loss = to_number(loss)
        self.write({"type": "batch", "epoch": int(epoch), "step": int(step),
                    "loss": float("nan") if loss is None else loss,
                    "metrics": numeric_metrics(metrics, skip=("loss",))})
        return True

    def epoch(self, epoch, loss=None, val_loss=None, metrics=None, step=None, time=None):
        obj = {"type": "epoch", "epoch": int(epoch)}
        if step is not None:
            obj["step"] = int(step)
        loss = to_number(loss)
        obj["loss"] = float("nan") if loss is None else loss
        val_loss = to_number(val_loss)
        if val_loss is not None:
            obj["val_loss"] = val_loss
        obj["metrics"] = numeric_metrics(metrics, skip=("loss", "val_loss"))
        if time is not None:
            obj["time"] = float(time)
        self.write(obj)

    def control(self, revision, status, changed=(), message=None):
        assert status in ("applied", "rejected")
        self.write({"type": "control", "revision": int(revision), "status": status,
                    "changed": list(changed), "message": message})

    def end(self, reason, message=None):
        assert reason in ("completed", "early_stopping", "stopped", "error")
        self.write({"type": "end", "reason": reason, "message": message})
        self.ended = True
