"""finetop for Keras 3 (any backend): a callback that writes the run format, and a drop-in
``fit`` that also applies the layer toggles from the dashboard.

Which one to use
----------------
``finetop.keras.fit(model, x, y, ...)`` — recommended. It takes the same arguments as
``model.fit`` and returns a ``History`` covering all epochs. It runs ``model.fit`` with a
``FinetopCallback`` and applies control.json at epoch boundaries: Keras only honours a change of
``layer.trainable`` after ``compile()``, and recompiling inside ``fit()`` is known to fail
(keras-team/keras#16234, tensorflow/tensorflow#47906). So when the dashboard asks for a change the
callback ends the current ``fit`` after the epoch, the wrapper sets the flags, recompiles with the
same loss, metrics and optimizer settings, carries the optimizer's state over (step count,
current learning rate, and the slot variables — Adam's moments, SGD's momentum… — of every
variable that stays trainable; newly trainable variables start from zero), writes a new ``model``
line and a ``control`` line, and resumes with ``fit(initial_epoch=next epoch)``.

The toggle is invisible to your callbacks: ``model.fit`` is handed one relaying callback that
forwards every hook to them except ``set_model``/``on_train_begin`` on a resume and
``on_train_end`` at the stop for the recompile. So each callback sees one ``on_train_begin`` and
one ``on_train_end`` for the whole training: EarlyStopping does not restore its best weights at a
toggle nor reset its patience, ReduceLROnPlateau keeps its counters, BackupAndRestore neither
reloads nor deletes its backup, CSVLogger and TensorBoard keep their files open, History is one
continuous record.

The dashboard's other moves (control.json fields, see ``finetop.control``): ``learning_rate``
applies at the next batch (no recompile; a LearningRateSchedule is replaced by the constant at a
recompile at the epoch's end), ``unfreeze_lr_factor`` ≠ 1 is refused whole (one rate per Keras
optimizer: set ``learning_rate``), a gradual-unfreezing ``plan`` is carried out at epoch
boundaries (``FinetopCallback.take_plan_step``), ``apply_now`` ends the current epoch early at a
batch boundary to apply a trainable change. At every epoch end a ``layer_stats`` line gives each
layer's update ratio (``LayerStats``).

``model.fit(..., callbacks=[FinetopCallback()])`` — logging only. The dashboard shows the run,
``stop`` and a plain ``learning_rate`` work, ``layer_stats`` are written, but a layer toggle
can't be applied inside ``model.fit``: the callback acknowledges it with a ``rejected`` control
line that says to use ``finetop.keras.fit``.

The run directory is ``$FINETOP_RUN_DIR`` (set by ``finetop run -- python train.py``), else the
``run_dir`` you pass, else ``runs/<timestamp>``.

Importing this module without ``KERAS_BACKEND`` set (and no backend in ``~/.keras/keras.json``)
when TensorFlow, Keras's default backend, is not installed picks JAX, else PyTorch, and says so
on stderr in one line.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import zlib
from typing import Any, Callable, Iterable, Mapping, Sequence


def _choose_backend() -> None:
    """Sets KERAS_BACKEND before Keras is imported when Keras would otherwise fail: no backend
    chosen anywhere and TensorFlow (Keras's default) not installed."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            if json.load(f).get("backend"):
                return
    except Exception:
        pass
    import importlib.util

    def installed(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except Exception:
            return False

    if installed("tensorflow"):
        return
    for name in ("jax", "torch"):
        if installed(name):
            os.environ["KERAS_BACKEND"] = name
            print("finetop: KERAS_BACKEND is not set and TensorFlow is not installed: using "
                  "Keras's %s backend (set KERAS_BACKEND to choose another)" % name, file=sys.stderr)
            return
    raise ImportError("finetop.keras: Keras needs a backend and none is installed: "
                      "pip install jax (or torch, or tensorflow), or set KERAS_BACKEND")


_choose_backend()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from .control import ControlError, ControlFile, ControlReader, Plan  # noqa: E402
from .runlog import RunLog, target_hparam, to_number  # noqa: E402

__all__ = ["FinetopCallback", "fit", "model_layers", "layer_map", "hparams_of", "task_of",
           "apply_trainable", "recompile", "optimizer_params", "connected_to", "LayerStats", "set_learning_rate"]

# Layers that perturb the inputs only while training: reported as augmentation.
_AUGMENTATION_EXTRA = {"GaussianNoise", "GaussianDropout", "AlphaDropout", "MixUp", "CutMix",
                       "AugMix", "RandAugment", "Solarization"}
_DROPOUT = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
            "GaussianDropout"}
_AUG_ARGS = ("mode", "factor", "height_factor", "width_factor", "stddev", "rate", "value_range",
             "height", "width")


# -- the model: flattened layer rows ------------------------------------------------------------

def _size(w: Any) -> int:
    return int(math.prod(int(d) for d in w.shape))


def _shape_text(layer: Any) -> str:
    try:
        out = layer.output
    except Exception:
        return "?"
    try:
        if isinstance(out, (list, tuple)):
            return "[" + ", ".join(_one_shape(o.shape) for o in out) + "]"
        if isinstance(out, dict):
            return "{" + ", ".join("%s: %s" % (k, _one_shape(o.shape)) for k, o in out.items()) + "}"
        return _one_shape(out.shape)
    except Exception:
        return "?"


def _one_shape(shape: Iterable[Any]) -> str:
    return "(" + ", ".join("None" if d is None else str(int(d)) for d in shape) + ")"


def _children(layer: Any) -> list[Any]:
    """The sub-layers to list under a nested model (Functional, Sequential, subclassed Model)."""
    if isinstance(layer, keras.Model):
        try:
            return list(layer.layers)
        except Exception:
            return []
    return []


# A flattened row: (row name, layer, depth, the layers it is nested in, outermost first).
Row = tuple[str, Any, int, tuple[Any, ...]]


def _walk(layers: Iterable[Any], prefix: str, depth: int, ancestors: Sequence[Any],
          out: list[Row]) -> None:
    for layer in layers:
        name = prefix + layer.name
        out.append((name, layer, depth, tuple(ancestors)))
        kids = _children(layer)
        if kids:
            _walk(kids, name + "/", depth + 1, list(ancestors) + [layer], out)


def _flatten(model: Any) -> list[Row]:
    out: list[Row] = []
    _walk(list(model.layers), "", 0, [], out)
    return out


def _learnable(layer: Any) -> int:
    """Scalars of the layer's weights that are trainable by nature (created trainable: kernels,
    biases, BatchNormalization's gamma/beta, not its moving statistics), whatever the flags say;
    sub-layers included, shared variables counted once."""
    seen: set[int] = set()
    n = 0
    stack = [layer]
    while stack:
        l = stack.pop()
        for v in list(getattr(l, "_trainable_variables", None) or ()):
            if id(v) not in seen:
                seen.add(id(v))
                n += _size(v)
        stack.extend(getattr(l, "_layers", None) or ())
    return n


def _sequential_like(model: Any) -> bool:
    """Keras's own test in ``summary_utils.print_summary``: no branch, no shared layer (then the
    summary has no "Connected to" column)."""
    from keras.src import tree
    from keras.src.models import Functional, Sequential
    if isinstance(model, Sequential) or not isinstance(model, Functional):
        return True
    nodes: list[Any] = []
    for v in model._nodes_by_depth.values():
        if len(v) > 1 or (len(v) == 1 and len(tree.flatten(v[0].input_tensors)) > 1):
            return False
        nodes += v
    for layer in model.layers:
        seen = False
        for node in layer._inbound_nodes:
            if node in nodes:
                if seen:
                    return False
                seen = True
    return True


def connected_to(model: Any) -> dict[str, str]:
    """{top-level layer name: "layer[node][tensor], …"} as ``model.summary()`` prints its
    "Connected to" column, or {} when Keras prints no such column (a chain). Best effort: Keras
    internals, so any failure gives {}."""
    try:
        if _sequential_like(model):
            return {}
        relevant = [n for v in model._nodes_by_depth.values() for n in v]
        out: dict[str, str] = {}
        for layer in model.layers:
            parts: list[str] = []
            for node in layer._inbound_nodes:
                if relevant and node not in relevant:
                    continue
                for kt in node.input_tensors:
                    h = kt._keras_history
                    parts.append("%s[%d][%d]" % (h.operation.name, h.node_index, h.tensor_index))
            out[layer.name] = ", ".join(parts) or "-"
        return out
    except Exception:
        return {}


def optimizer_params(model: Any) -> int | None:
    """Scalars in the optimizer's variables once it is built (what Keras 3's summary prints as
    "Optimizer params", counted in its "Total params"), else None."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return None
    try:
        return int(sum(_size(v) for v in opt.variables))
    except Exception:
        return None


def layer_map(model: Any) -> dict[str, Any]:
    """{row name: layer}, nested models' layers named ``outer/inner``."""
    return {name: layer for name, layer, _, _ in _flatten(model)}


def model_layers(model: Any) -> list[dict[str, Any]]:
    """The ``layers`` of a ``model`` line: every layer of ``model``, nested models flattened as
    ``outer/inner`` with their ``depth``; a nested model's own row carries its full count.

    ``params`` is the size of ``layer.weights``; ``trainable_params`` the size of
    ``layer.trainable_weights`` — exactly what Keras counts (BatchNormalization's moving mean and
    variance are never trainable, a frozen layer has none) — and 0 inside a frozen ancestor,
    whose own ``trainable_weights`` is empty whatever its children's flags say. Summing the
    depth-0 rows gives ``model.summary()``'s totals. ``learnable_params`` is what the optimizer
    would update if the layer (and its ancestors) were trainable: its weights that are trainable
    by nature, i.e. not BatchNormalization's moving statistics."""
    rows: list[dict[str, Any]] = []
    for name, layer, depth, ancestors in _flatten(model):
        weights = layer.weights
        if all(a.trainable for a in ancestors):
            trainable = sum(_size(w) for w in layer.trainable_weights)
        else:
            trainable = 0
        rows.append({
            "name": name,
            "class": type(layer).__name__,
            "shape": _shape_text(layer),
            "params": sum(_size(w) for w in weights),
            "trainable_params": trainable,
            "learnable_params": _learnable(layer),
            "trainable": bool(layer.trainable),
            "depth": depth,
        })
    return rows


# -- what the run line can see ------------------------------------------------------------------

def _loss_name(loss: Any) -> str | None:
    if loss is None:
        return None
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict):
        return ", ".join("%s: %s" % (k, _loss_name(v)) for k, v in loss.items())
    if isinstance(loss, (list, tuple)):
        return ", ".join(str(_loss_name(v)) for v in loss)
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None)
    return name or type(loss).__name__


_CLASSIFICATION = ("crossentropy", "hinge", "kl_divergence", "kld", "focal", "poisson_nll")
_REGRESSION = ("mean_squared", "mse", "mean_absolute", "mae", "mape", "msle", "huber", "log_cosh",
               "logcosh", "cosine")


def task_of(model: Any) -> dict[str, Any]:
    """{kind, num_classes, loss} as far as the compiled loss and the output shape tell."""
    loss = _loss_name(getattr(model, "loss", None))
    kind: str | None = None
    low = (loss or "").lower()
    if any(k in low for k in _CLASSIFICATION):
        kind = "classification"
    elif any(k in low for k in _REGRESSION):
        kind = "regression"
    num_classes: int | None = None
    if kind == "classification":
        try:
            shape = model.outputs[0].shape if len(model.outputs) == 1 else None
            if shape is not None and shape[-1] is not None:
                n = int(shape[-1])
                num_classes = 2 if n == 1 and "binary" in low else n
        except Exception:
            pass
    return {"kind": kind, "num_classes": num_classes, "loss": loss}


def _describe_aug(layer: Any) -> str:
    try:
        cfg = layer.get_config()
    except Exception:
        cfg = {}
    args: list[str] = []
    for k in _AUG_ARGS:
        if k in cfg and cfg[k] is not None:
            v = cfg[k]
            args.append("%s=%s" % (k, list(v) if isinstance(v, tuple) else v))
    return "%s(%s)" % (type(layer).__name__, ", ".join(args))


def _is_augmentation(layer: Any) -> bool:
    cls = type(layer).__name__
    return cls.startswith("Random") or cls in _AUGMENTATION_EXTRA


def _early_stopping(callbacks: Iterable[Any] | None) -> dict[str, Any] | None:
    for cb in callbacks or ():
        if isinstance(cb, keras.callbacks.EarlyStopping):
            return {
                "monitor": cb.monitor, "patience": cb.patience, "min_delta": abs(cb.min_delta),
                "mode": getattr(cb, "mode", "auto"),
                "restore_best_weights": bool(cb.restore_best_weights),
                "baseline": cb.baseline, "start_from_epoch": getattr(cb, "start_from_epoch", 0),
            }
    return None


def _current_lr(optimizer: Any) -> float | None:
    if optimizer is None:
        return None
    try:
        value = keras.ops.convert_to_numpy(optimizer.learning_rate)
    except Exception:
        return None
    try:
        import numpy as np
        if value.dtype == np.float32:  # 0.001, not 0.0010000000474974513
            return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
    except Exception:
        pass
    return to_number(value)


def hparams_of(model: Any, callbacks: Iterable[Any] | None = None, epochs: int | None = None,
               batch_size: int | None = None) -> dict[str, Any]:
    """The hyper-parameters visible from the model, its optimizer and the callbacks."""
    opt = getattr(model, "optimizer", None)
    flat = _flatten(model)
    augmentation = [_describe_aug(l) for _, l, _, _ in flat if _is_augmentation(l)]
    dropout = [float(l.rate) for _, l, _, _ in flat
               if type(l).__name__ in _DROPOUT and to_number(getattr(l, "rate", None)) is not None]
    callbacks = list(callbacks or ())
    h: dict[str, Any] = {
        "optimizer": type(opt).__name__ if opt is not None else None,
        "learning_rate": _current_lr(opt),
        "batch_size": batch_size,
        "epochs": epochs,
        "augmentation": augmentation,
        "dropout": dropout,
        "early_stopping": _early_stopping(callbacks),
    }
    for cb in callbacks or ():
        if isinstance(cb, keras.callbacks.ReduceLROnPlateau):
            h["reduce_lr_on_plateau"] = {"monitor": cb.monitor, "factor": cb.factor,
                                         "patience": cb.patience, "min_lr": cb.min_lr}
    if opt is not None:
        for k in ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue"):
            v = to_number(getattr(opt, k, None))
            if v is not None:
                h[k] = v
    return h


def _sibling_callbacks(cb: Any) -> list[Any]:
    """The callbacks ``model.fit`` runs next to ``cb`` (for EarlyStopping settings), found in the
    calling frame; best effort, [] if not found."""
    frame: Any
    try:
        frame = sys._getframe(2)
    except Exception:
        return []
    for _ in range(8):
        if frame is None:
            break
        for v in frame.f_locals.values():
            inner = getattr(v, "callbacks", None)
            if isinstance(v, keras.callbacks.CallbackList) and isinstance(inner, list) and cb in inner:
                return list(inner)
        frame = frame.f_back
    return []


# -- per-layer learning signal (layer_stats) -----------------------------------------------------

def _flat32(a: Any) -> Any:
    a = np.asarray(a).reshape(-1)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    return a


def _sq(a: Any) -> float:
    """‖a‖² as a Python float (float64 again if float32 overflows)."""
    v = float(np.dot(a, a))
    if not math.isfinite(v) and np.all(np.isfinite(a)):
        a = a.astype(np.float64)
        v = float(np.dot(a, a))
    return v


def _view(v: Any) -> Any:
    """The variable's value as a numpy array without copying where the backend allows (JAX and
    PyTorch on the CPU); a copy otherwise."""
    try:
        return np.asarray(v.value)
    except Exception:
        return keras.ops.convert_to_numpy(v)


def _fingerprint(a: Any) -> tuple[str, int, int]:
    a = np.ascontiguousarray(a).reshape(-1)
    return (a.dtype.str, a.size, zlib.crc32(a.view(np.uint8)))


class LayerStats:
    """The ``update_ratio`` of a ``layer_stats`` line: for every row with weights,
    ‖w_end − w_start‖ / ‖w_start‖ over the epoch, all of the layer's weights (trainable or not,
    so BatchNormalization's moving statistics show), exactly 0.0 when nothing changed.

    Cheap by design: at the epoch's beginning it copies only the weights that can change — the
    variables the optimizer trains and the weights of layers that are trainable (BatchNorm's
    moving statistics) — and keeps a CRC32 fingerprint and the norm of every other weight (frozen
    layers: no copy). At the end a frozen weight whose fingerprint is unchanged contributes
    exactly 0; one that changed anyway (a custom layer writing its own state) contributes the
    lower bound (‖w_end‖ − ‖w_start‖)², and is copied from the next epoch on. ``seconds`` is the
    time spent, for measuring the overhead."""

    def __init__(self) -> None:
        # (rows: [(row name, [variable id])], {variable id: variable}, {variable id: what was kept})
        self._start: tuple[list[tuple[str, list[int]]], dict[int, Any], dict[int, tuple[Any, ...]]] | None = None
        self._promoted: set[int] = set()
        self.seconds = 0.0

    def begin(self, model: Any) -> None:
        t = time.perf_counter()
        try:
            self._start = None
            trainable = {id(v) for v in model.trainable_variables}
            rows: list[tuple[str, list[int]]] = []
            variables: dict[int, Any] = {}
            live: set[int] = set()
            for name, layer, _, ancestors in _flatten(model):
                weights: list[Any] = []
                ids: set[int] = set()
                for w in layer.weights:
                    if id(w) not in ids:
                        ids.add(id(w))
                        weights.append(w)
                if not weights:
                    continue
                rows.append((name, [id(w) for w in weights]))
                effective = layer.trainable and all(a.trainable for a in ancestors) and \
                    not isinstance(layer, keras.Model)
                for w in weights:
                    variables[id(w)] = w
                    if effective or id(w) in trainable or id(w) in self._promoted:
                        live.add(id(w))
            snap: dict[int, tuple[Any, ...]] = {}
            for vid, w in variables.items():
                if vid in live:
                    snap[vid] = ("copy", _flat32(_view(w)).copy())
                else:
                    a = _view(w)
                    snap[vid] = ("print", _fingerprint(a), _sq(_flat32(a)))
            self._start = (rows, variables, snap)
        finally:
            self.seconds += time.perf_counter() - t

    def end(self, model: Any) -> dict[str, float]:
        """{row name: ratio} for the epoch since ``begin``; {} when ``begin`` was not called."""
        if self._start is None:
            return {}
        t = time.perf_counter()
        try:
            rows, variables, snap = self._start
            self._start = None
            per: dict[int, tuple[float, float]] = {}  # id -> (‖Δ‖², ‖w_start‖²)
            for vid, w in variables.items():
                kept = snap[vid]
                if kept[0] == "copy":
                    now = _flat32(_view(w))
                    if now.shape != kept[1].shape:
                        per[vid] = (math.inf, _sq(kept[1]))
                        continue
                    start = kept[1]
                    n2 = _sq(start)
                    per[vid] = (_sq(np.subtract(now, start, out=start)), n2)  # our copy: reuse it
                else:
                    a = _view(w)
                    if _fingerprint(a) == kept[1]:
                        per[vid] = (0.0, kept[2])
                    else:
                        self._promoted.add(vid)
                        per[vid] = ((math.sqrt(_sq(_flat32(a))) - math.sqrt(kept[2])) ** 2, kept[2])
            out: dict[str, float] = {}
            for name, ids in rows:
                d2 = sum(per[i][0] for i in ids)
                n2 = sum(per[i][1] for i in ids)
                if d2 == 0.0:
                    out[name] = 0.0
                elif n2 > 0.0:
                    out[name] = math.sqrt(d2) / math.sqrt(n2)
                else:
                    out[name] = math.inf
            return out
        finally:
            self.seconds += time.perf_counter() - t


# -- the learning rate ---------------------------------------------------------------------------

def _innermost(opt: Any) -> Any:
    seen = 0
    while opt is not None and seen < 8:
        inner = getattr(opt, "inner_optimizer", None)
        if inner is None or inner is opt:
            return opt
        opt, seen = inner, seen + 1
    return opt


def _rate_is_settable(opt: Any) -> bool:
    """Whether the optimizer's rate is a plain value (a variable Keras lets us assign), not a
    LearningRateSchedule or a callable."""
    return isinstance(getattr(_innermost(opt), "_learning_rate", None), keras.Variable)


def _rate_kind(opt: Any) -> str:
    lr = getattr(_innermost(opt), "_learning_rate", None)
    return type(lr).__name__


def set_learning_rate(model: Any, value: float) -> None:
    """Assigns the optimizer's (plain) learning rate; under JAX, syncs the training state held
    by ``fit`` first, so the next batch uses the new rate and the epoch's end keeps it."""
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        sync()
    model.optimizer.learning_rate = float(value)


def _rate_text(v: float | None) -> str:
    return "?" if v is None else "%g" % v


def _set_config_rate(config: dict[str, Any], value: float) -> None:
    """Sets ``learning_rate`` in an optimizer config (a wrapper's inner optimizer too)."""
    if "learning_rate" in config and "inner_optimizer" not in config:
        config["learning_rate"] = float(value)
        return
    inner = config.get("inner_optimizer")
    if isinstance(inner, dict):
        _set_config_rate(inner.get("config", inner), value)
    else:
        config["learning_rate"] = float(value)


# -- applying a control state --------------------------------------------------------------------

def apply_trainable(model: Any, desired: Mapping[str, bool]) -> list[str]:
    """Sets ``layer.trainable`` from ``desired`` {row name: bool} and returns the names of the rows
    whose flag changed (in model order). Outer rows are applied before inner ones, so freezing a
    nested model freezes its layers (Keras semantics) and an explicit inner flag still wins.
    Unfreezing a layer inside a frozen nested model also unfreezes the nested model's own flag —
    Keras trains nothing under a frozen ancestor — while its other layers keep their flags.
    Raises KeyError listing unknown names. Recompile afterwards (``recompile``)."""
    flat = _flatten(model)
    rows = {name: (layer, depth, ancestors) for name, layer, depth, ancestors in flat}
    unknown = [n for n in desired if n not in rows]
    if unknown:
        raise KeyError(unknown)
    before = [(name, layer.trainable) for name, layer, _, _ in flat]
    for name in sorted(desired, key=lambda n: rows[n][1]):
        layer, _, ancestors = rows[name]
        want = bool(desired[name])
        if want:
            for anc in ancestors:
                if not anc.trainable:
                    # The setter propagates to every sub-layer: keep their own flags.
                    keep = [(l, l.trainable) for _, l, _, a in flat if anc in a]
                    anc.trainable = True
                    for l, flag in keep:
                        l.trainable = flag
        if layer.trainable != want:
            layer.trainable = want
    return [name for (name, old), (_, layer, _, _) in zip(before, flat) if layer.trainable != old]


def recompile(model: Any, learning_rate: float | None = None) -> int:
    """Compiles ``model`` again with the arguments of its last ``compile()`` and a new optimizer
    of the same class and config, then carries the old optimizer's state over
    (``carry_optimizer_state``): step count, current learning rate, and the slot variables of
    every variable that stays trainable. Returns the number of slot variables carried over.

    ``learning_rate``: the new optimizer's rate instead of the carried one; a
    LearningRateSchedule (or callable) rate is replaced by this constant."""
    old = model.optimizer
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    kwargs = dict(config) if isinstance(config, dict) else {"loss": getattr(model, "loss", None)}
    new = old
    if old is not None:
        opt_config = old.get_config()
        if learning_rate is not None and not _rate_is_settable(old):
            _set_config_rate(opt_config, learning_rate)
        new = type(old).from_config(opt_config)
        kwargs["optimizer"] = new
    model.compile(**kwargs)
    if old is None or new is old:
        return 0
    carried = carry_optimizer_state(old, new, model.trainable_variables)
    if learning_rate is not None and _rate_is_settable(new):
        new.learning_rate = float(learning_rate)
    return carried


_NOT_SLOTS = {"_variables", "_trainable_variables"}


def _slot_lists(opt: Any, n: int) -> dict[str, Sequence[Any]]:
    """{attribute: list} of the optimizer's per-variable lists: the attributes holding a list of
    ``n`` entries, each a Keras variable or None, aligned with its trainable variables (Adam's
    ``_momentums``/``_velocities``, SGD's ``momentums``, EMA averages, gradient accumulators…)."""
    out: dict[str, Sequence[Any]] = {}
    for name, value in vars(opt).items():
        if name in _NOT_SLOTS or not isinstance(value, (list, tuple)) or len(value) != n or n == 0:
            continue
        if all(v is None or isinstance(v, keras.Variable) for v in value) and \
                any(v is not None for v in value):
            out[name] = value
    return out


def carry_optimizer_state(old: Any, new: Any, trainable_variables: Iterable[Any]) -> int:
    """Builds ``new`` for ``trainable_variables`` (as ``fit`` would) and copies ``old``'s state:
    iterations, learning rate (when a plain value; a schedule follows iterations), and for each
    variable trainable in both, every slot variable (found generically, see ``_slot_lists``).
    Works through wrappers with an ``inner_optimizer`` (LossScaleOptimizer). Returns the number
    of slot variables copied."""
    if not getattr(new, "built", False):
        new.build(list(trainable_variables))
    if not getattr(old, "built", False):
        return 0
    for attr in ("_iterations",):
        a, b = getattr(old, attr, None), getattr(new, attr, None)
        if isinstance(a, keras.Variable) and isinstance(b, keras.Variable):
            b.assign(a)
    a, b = getattr(old, "_learning_rate", None), getattr(new, "_learning_rate", None)
    if isinstance(a, keras.Variable) and isinstance(b, keras.Variable):
        b.assign(a)
    copied = 0
    inner_old, inner_new = getattr(old, "inner_optimizer", None), getattr(new, "inner_optimizer", None)
    if inner_old is not None and inner_new is not None and inner_old is not old:
        copied += carry_optimizer_state(inner_old, inner_new, trainable_variables)
    old_vars = list(getattr(old, "_trainable_variables", None) or ())
    new_vars = list(getattr(new, "_trainable_variables", None) or ())
    where = {id(v): i for i, v in enumerate(old_vars)}
    new_slots = _slot_lists(new, len(new_vars))
    for name, old_list in _slot_lists(old, len(old_vars)).items():
        new_list = new_slots.get(name)
        if new_list is None:
            continue
        for j, var in enumerate(new_vars):
            i = where.get(id(var))
            if i is None or old_list[i] is None or new_list[j] is None:
                continue
            if tuple(old_list[i].shape) == tuple(new_list[j].shape):
                new_list[j].assign(old_list[i])
                copied += 1
    return copied


def _apply_and_recompile(model: Any, desired: Mapping[str, bool],
                         learning_rate: float | None = None) -> tuple[list[str], int]:
    """``apply_trainable`` + ``recompile``; (changed rows, slot variables carried). If either
    fails, puts every flag back, recompiles as before and raises: the job goes on unchanged."""
    flat = _flatten(model)
    before = [(layer, layer.trainable) for _, layer, _, _ in flat]
    try:
        changed = apply_trainable(model, desired)
        carried = recompile(model, learning_rate=learning_rate)
        return changed, carried
    except Exception:
        for layer, flag in before:  # outer before inner: the setter propagates downwards
            layer.trainable = flag
        recompile(model)
        raise


def _names_text(names: Sequence[str], most: int = 10) -> str:
    """Names for a message: at most ``most``, each cut at 60 characters."""
    shown = [n if len(n) <= 60 else n[:57] + "..." for n in names[:most]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (" and %d more" % more if more > 0 else "")


# -- the callback --------------------------------------------------------------------------------

class FinetopCallback(keras.callbacks.Callback):
    """Writes the run format for a Keras 3 ``fit``: ``run`` and ``model`` at the start of training,
    ``batch`` (at most ~10 per second), ``epoch`` at every epoch end, ``end`` when training ends,
    and a ``control`` line for every new control.json revision.

    Use it through ``finetop.keras.fit(model, ...)`` to have layer toggles applied; passed to
    ``model.fit`` directly it logs, honours ``stop``, and rejects toggles with a message saying to
    use ``finetop.keras.fit`` (recompiling inside ``fit`` is not possible in Keras).

    Args:
        run_dir: the run directory (default ``$FINETOP_RUN_DIR``, else ``runs/<timestamp>``).
        hparams: extra hyper-parameters to report (merged over what the callback finds).
        batch_size: reported in ``hparams`` (Keras doesn't tell callbacks; ``fit`` fills it in).
        control: read control.json (default True).
        stop_poll_interval: seconds between checks of control.json during an epoch (for
            ``stop``, ``learning_rate`` and ``apply_now``). While a change waits for the epoch's
            end, a newer revision is noticed at the next batch (an ``lstat`` per batch), so a
            later ``apply_now`` ends the epoch early at once.
        layer_stats: write a ``layer_stats`` line at every epoch end (default True).
        target: what you expect the run to reach, the diagnosis's reference for avoidable bias:
            an accuracy (``0.9``, or percent) or ``{"accuracy": 0.9}`` / ``{"loss": 0.3}``,
            written into the run line's ``hparams["target"]``. A bad value raises ValueError.
    """

    def __init__(self, run_dir: str | None = None, hparams: Mapping[str, Any] | None = None,
                 batch_size: int | None = None, control: bool = True, batch_interval: float = 0.1,
                 stop_poll_interval: float = 1.0, log: RunLog | None = None,
                 layer_stats: bool = True, target: Any = None) -> None:
        super().__init__()
        self.target = target_hparam(target)  # a bad target raises before anything is written
        self.log = log if log is not None else RunLog(run_dir, batch_interval=batch_interval)
        self.run_dir = self.log.dir
        self.control = ControlReader(self.run_dir, run_id=self.log.run_id) if control else None
        self.extra_hparams = dict(hparams or {})
        self.batch_size = batch_size
        self.stop_poll_interval = stop_poll_interval
        self.revision = -1          # of the last model line written
        self.global_step = 0        # train batches seen, across fit calls
        self.last_epoch = -1        # last epoch finished (0-based)
        self.stop_requested: int | None = None  # revision that asked to stop
        self.pending: ControlFile | None = None  # ControlFile waiting for the fit wrapper
        self._managed = False       # True while finetop.keras.fit drives us
        self._callbacks: list[Any] | None = None  # set by the wrapper
        self._last_rows: tuple[list[dict[str, Any]], int | None] | None = None
        self._epoch_start: float | None = None
        self._epoch = 0
        self._batch = 0             # batches done in the current epoch
        self._last_stop_poll = 0.0
        self.layer_stats: LayerStats | None = LayerStats() if layer_stats else None
        self.plan: dict[str, Any] | None = None  # the running plan: {"plan", "revision", "done", "due"}
        self.plans: dict[str, str] = {}  # plan id -> "running" / "finished" / "cancelled" / "failed" / "ended"
        self.plan_step_due = False  # the wrapper takes the plan's next step at this boundary
        self.applied_rate: float | None = None  # the last learning_rate applied from control.json
        self._pending_notes: list[str] = []  # what of the pending revision applied already, and when
        self._pending_old_rate: float | None = None
        self._undone_rate: float | None = None
        self._early_end: tuple[int, int | None] | None = None  # (batch, steps): this epoch ended early for apply_now

    # -- lines ------------------------------------------------------------------------------

    def write_model(self, force: bool = False) -> list[dict[str, Any]]:
        rows = model_layers(self.model)
        links = connected_to(self.model)
        for row in rows:
            if row["depth"] == 0 and row["name"] in links:
                row["connected_to"] = links[row["name"]]
        opt = optimizer_params(self.model)
        if force or (rows, opt) != self._last_rows:
            self.revision += 1
            # The model's own name, as model.summary() titles its table ("functional", …).
            self.log.model(self.revision, rows, optimizer_params=opt, name=getattr(self.model, "name", None))
            self._last_rows = (rows, opt)
        return rows

    def write_run(self, callbacks: Iterable[Any] | None = None) -> None:
        epochs = (self.params or {}).get("epochs")
        h = hparams_of(self.model, callbacks if callbacks is not None else
                       (self._callbacks or _sibling_callbacks(self)),
                       epochs=epochs, batch_size=self.batch_size)
        h.update(self.extra_hparams)
        if self.target is not None:
            h["target"] = self.target
        self.log.run("keras", keras.__version__, task=task_of(self.model), hparams=h,
                     backend=keras.backend.backend())

    # -- Keras hooks ------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.stop_requested = None
        self.pending = None
        self.write_run()
        self.write_model()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._batch = 0
        self._early_end = None
        self._epoch_start = time.monotonic()
        if self.layer_stats is not None:
            try:
                self.layer_stats.begin(self.model)
            except Exception as e:  # statistics must never stop training
                self._stats_failed(e)

    def _stats_failed(self, e: Exception) -> None:
        self.layer_stats = None
        try:
            print("finetop: layer_stats disabled (%s: %s)" % (type(e).__name__, e), file=sys.stderr)
        except Exception:
            pass

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.global_step += 1
        self._batch += 1
        logs = logs or {}
        if "loss" in logs:
            self.log.batch(self._epoch, self.global_step, logs["loss"], logs)
        if self.control is not None and self.stop_poll_interval is not None:
            now = time.monotonic()
            # While a change waits for the epoch's end, a newer revision (the dashboard's `!`:
            # apply_now) is noticed at the next batch boundary: an lstat per batch, not a read.
            changed = self.pending is not None and self._early_end is None and \
                self.control_changed()
            if changed or now - self._last_stop_poll >= self.stop_poll_interval:
                self._last_stop_poll = now
                c = self.control.peek()
                # Within the epoch: a stop, a new rate (next batch) and apply_now (epoch ends
                # early; with a change pending, the newer revision replaces it); everything else
                # waits for the epoch's end.
                if c is not None and not isinstance(c, ControlError) and (
                        c.stop or (self.stop_requested is None and (
                            (self.pending is None and (
                                c.apply_now or (c.learning_rate is not None
                                                and c.learning_rate != self.applied_rate)))
                            or (self.pending is not None and self._early_end is None
                                and c.apply_now)))):
                    self._handle_control(self.control.poll(), during_epoch=True)

    def control_changed(self) -> bool:
        """Whether control.json looks different from the last look (``ControlReader.changed``)."""
        return self.control is not None and self.control.changed()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            lr = _current_lr(self.model.optimizer)
            if lr is not None:
                logs["learning_rate"] = lr
        elapsed = None if self._epoch_start is None else time.monotonic() - self._epoch_start
        self.log.epoch(epoch, logs.get("loss"), logs.get("val_loss"), logs,
                       step=self.global_step, time=elapsed)
        if self.layer_stats is not None:
            try:
                ratios = self.layer_stats.end(self.model)
                if ratios:
                    self.log.layer_stats(epoch, ratios)
            except Exception as e:
                self._stats_failed(e)
        self.last_epoch = epoch
        if self.control is not None and self.stop_requested is None:
            # With a change waiting, a newer revision read here replaces it (control.json is a
            # state), so a second toggle made during the epoch applies at this same boundary.
            self._handle_control(self.control.poll())
        if self.pending is not None and self.stop_requested is None:
            self.model.stop_training = True  # a change read during the epoch applies now
        if self.plan is not None and self._managed and self.stop_requested is None and \
                epoch >= self.plan["due"]:
            self.plan_step_due = True
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._managed:
            return  # the wrapper knows whether training goes on, and writes `end` itself
        self.log.end(*self.end_reason(self._siblings_or_none()))

    def _siblings_or_none(self) -> list[Any]:
        return self._callbacks if self._callbacks is not None else _sibling_callbacks(self)

    # -- control ----------------------------------------------------------------------------

    def _handle_control(self, c: ControlFile | ControlError | None, during_epoch: bool = False) -> None:
        """Acts on what ``ControlReader.poll`` returned. Never raises: whatever goes wrong with a
        control file is a ``rejected`` line and training goes on."""
        if c is None:
            return
        kept = (self.pending, self._pending_notes, self._pending_old_rate)
        try:
            self._handle_control_unsafe(c, during_epoch)
        except Exception as e:
            # The revision it was replacing (if any) still waits, whole.
            self.pending, self._pending_notes, self._pending_old_rate = kept
            try:
                self.log.control(getattr(c, "revision", -1), "rejected", [],
                                 "could not handle this control revision (%s: %s); training goes "
                                 "on unchanged" % (type(e).__name__, e))
            except Exception:
                pass

    def _handle_control_unsafe(self, c: ControlFile | ControlError, during_epoch: bool) -> None:
        if isinstance(c, ControlError):
            self.log.control(c.revision, "rejected", [], "%s; training goes on unchanged" % c)
            return
        if c.stop:
            self.stop_requested = c.revision
            self.model.stop_training = True
            where = "during epoch %d" % (self._epoch + 1) if during_epoch else \
                "at the end of epoch %d" % (self.last_epoch + 1)
            self.log.control(c.revision, "applied", [], "stopping %s as asked" % where)
            return
        opt = self.model.optimizer
        factor = getattr(c, "unfreeze_lr_factor", None)
        if factor is not None and factor != 1:
            lr = _current_lr(opt)
            self.log.control(c.revision, "rejected", [],
                             "unfreeze_lr_factor %g: Keras has one learning rate per optimizer, so "
                             "the layers being unfrozen cannot get a rate of their own; set "
                             "\"learning_rate\" instead (for the whole model, e.g. %s = the current "
                             "%s x %g); nothing in this revision was applied, training goes on"
                             % (factor, _rate_text(None if lr is None else lr * factor),
                                _rate_text(lr), factor))
            return
        replaced = self.pending  # a change still waiting for the epoch's end (apply_now came later)
        if replaced is not None:
            # control.json is a state: the newer revision replaces the waiting one, and a flag
            # of the waiting one it does not repeat (another writer) is kept, never lost.
            merged = dict(replaced.trainable)
            merged.update(c.trainable)
            c.trainable = merged
        flat = {name: (layer, ancestors) for name, layer, _, ancestors in _flatten(self.model)}
        rows = {name: layer for name, (layer, _) in flat.items()}
        plan = c.plan
        names = list(c.trainable) + (plan.names() if plan is not None and not plan.cancel else [])
        unknown = sorted(set(n for n in names if n not in rows))
        if unknown:
            self.log.control(c.revision, "rejected", [],
                             "unknown layer name%s: %s (names are those of the latest model line); "
                             "nothing changed, training goes on"
                             % ("s" if len(unknown) > 1 else "", _names_text(unknown)))
            return
        # A layer under a frozen nested model trains nothing whatever its own flag says.
        todo = {n: v for n, v in c.trainable.items()
                if rows[n].trainable != v or (v and not all(a.trainable for a in flat[n][1]))}
        rate = c.learning_rate
        if rate is not None and rate == self.applied_rate:
            rate = None  # control.json is a state: the rate it still carries was applied already
        rate_by_recompile = rate is not None and opt is not None and not _rate_is_settable(opt)
        # The replaced revision's rate still waiting for the recompile (a schedule) waits on.
        rate_waits = replaced is not None and rate is None and c.learning_rate is not None and \
            opt is not None and not _rate_is_settable(opt)
        plan_action = self._plan_action(plan)
        needs = []
        if todo:
            needs.append("changing trainable flags needs a recompile")
        if rate_by_recompile:
            needs.append("the optimizer's learning rate is a %s, which can only be replaced by a "
                         "constant with a recompile" % _rate_kind(opt))
        if plan_action == "start":
            needs.append("a plan unfreezes layers, which needs a recompile")
        if needs and not self._managed:
            self.log.control(c.revision, "rejected", [],
                             "%s, which Keras can't do inside model.fit (keras-team/keras#16234); "
                             "train with finetop.keras.fit(model, ...) instead of "
                             "model.fit(...); nothing in this revision was applied, training goes "
                             "on unchanged" % "; ".join(needs))
            return
        if rate is not None and opt is None:
            self.log.control(c.revision, "rejected", [], "the model has no optimizer to set the "
                             "learning rate of; nothing in this revision was applied")
            return
        # Everything checked: apply what applies at once, leave the rest to the fit wrapper.
        # Replacing a waiting revision: what of it applied already is said in this one's line,
        # and the rate to put back if the flags fail is the one before it.
        notes: list[str] = list(self._pending_notes) if replaced is not None else []
        old_rate = self._pending_old_rate if replaced is not None else None
        where = ("from batch %d of epoch %d" % (self._batch + 1, self._epoch + 1) if during_epoch
                 else "from epoch %d" % (self.last_epoch + 2))
        if rate is not None and not rate_by_recompile:
            before = _current_lr(opt)
            if old_rate is None:
                old_rate = before
            set_learning_rate(self.model, rate)
            self.applied_rate = rate
            notes.append("learning rate %s -> %g %s (applied at once, no recompile needed)"
                         % (_rate_text(before), rate, where) + self._rate_caveat())
        end_of = self._epoch + 1 if during_epoch else self.last_epoch + 1
        if rate_by_recompile and rate is not None:
            notes.append("the optimizer's learning rate is a %s, which Keras cannot set: it is "
                         "replaced by the constant %g at the recompile at the end of epoch %d"
                         % (_rate_kind(opt), rate, end_of) + self._rate_caveat())
        if plan_action is not None:
            notes.append(self._plan_update(plan, plan_action, c.revision, end_of - 1))
        if c.note:
            notes.append(c.note)
        if not todo and not rate_by_recompile and not rate_waits:
            self.pending, self._pending_notes, self._pending_old_rate = None, [], None
            self.log.control(c.revision, "applied", [],
                             "; ".join(notes) if notes else "the layers already had these flags")
            return
        self.pending = c
        self._pending_notes = notes
        self._pending_old_rate = old_rate
        if rate_by_recompile:
            self.applied_rate = rate
        if during_epoch and getattr(c, "apply_now", False) and todo:
            self._early_end = (self._batch, (self.params or {}).get("steps"))
            self.model.stop_training = True  # Keras ends the epoch after this batch
        elif not during_epoch:
            self.model.stop_training = True

    def _rate_caveat(self) -> str:
        for cb in self._callbacks or ():
            if isinstance(cb, keras.callbacks.LearningRateScheduler):
                return (" (note: your LearningRateScheduler sets the rate again at the beginning "
                        "of every epoch)")
        return ""

    # -- gradual unfreezing ----------------------------------------------------------------------

    def _plan_action(self, plan: Plan | None) -> str | None:
        """What a revision's ``plan`` does: None (no plan and none running), "start",
        "continue", "again" (a finished or ended id), "cancel", "cancel-none" or "end" (the
        revision has no plan while one runs: it ends, as in the demo and the PyTorch helper)."""
        if plan is None:
            return "end" if self.plan is not None else None
        running = self.plan is not None and self.plan["plan"].id == plan.id
        if plan.cancel:
            return "cancel" if running else "cancel-none"
        if running:
            return "continue"
        if plan.id in self.plans:
            return "again"
        return "start"

    def _plan_update(self, plan: Plan | None, action: str, revision: int, epoch: int) -> str:
        """Starts, continues, cancels or ends a plan; returns what to say about it."""
        if plan is None:  # "end": the revision has no plan
            p, self.plan = self.plan, None
            self.plan_step_due = False
            if p is None:  # "end" is decided only for a running plan
                return "no plan is running"
            self.plans[p["plan"].id] = "ended"
            return ("plan %s ended after step %d/%d: this revision has no plan; the layers it "
                    "unfroze stay trainable" % (p["plan"].id, p["done"], len(p["plan"].groups)))
        n = len(plan.groups)
        if action == "start":
            replaced = ""
            if self.plan is not None:
                old = self.plan
                self.plans[old["plan"].id] = "cancelled"
                replaced = " (replaces plan %s, stopped after step %d/%d)" % (
                    old["plan"].id, old["done"], len(old["plan"].groups))
            self.plan = {"plan": plan, "revision": revision, "done": 0, "due": epoch}
            self.plans[plan.id] = "running"
            rate = ("no change of the learning rate" if plan.lr_factor in (None, 1.0) else
                    "the whole optimizer's learning rate x %g at each step (Keras has one rate "
                    "for all layers)" % plan.lr_factor)
            return ("plan %s accepted%s: %d step%s, one group every %d epoch%s, the first at the "
                    "end of epoch %d; %s" % (plan.id, replaced, n, "" if n == 1 else "s",
                                             plan.every_epochs,
                                             "" if plan.every_epochs == 1 else "s", epoch + 1, rate))
        if action == "continue":
            p = self.plan
            if p is None:  # "continue" is decided only for a running plan
                return "plan %s is not running" % plan.id
            return "plan %s continues (%d/%d steps done)" % (plan.id, p["done"], len(p["plan"].groups))
        if action == "cancel":
            p, self.plan = self.plan, None
            self.plans[plan.id] = "cancelled"
            self.plan_step_due = False
            if p is None:  # "cancel" is decided only for a running plan
                return "plan %s is not running; nothing to cancel" % plan.id
            return ("plan %s cancelled after step %d/%d; the layers it unfroze stay trainable"
                    % (plan.id, p["done"], len(p["plan"].groups)))
        if action == "cancel-none":
            return "plan %s is not running (%s); nothing to cancel" % (
                plan.id, self.plans.get(plan.id, "never started"))
        return "plan %s is %s; it is not started again" % (plan.id, self.plans.get(plan.id))

    def take_plan_step(self, model: Any, done: int, epochs: int) -> None:
        """Unfreezes the plan's next group (and scales the rate by its ``lr_factor``) with one
        recompile, then writes a ``model`` line and a ``control`` line "plan <id>: step i/n:
        unfroze …". A step that fails is undone whole and stops the plan."""
        p = self.plan
        if p is None:  # the wrapper takes a step only while a plan runs
            return
        plan, i = p["plan"], p["done"]
        n = len(plan.groups)
        revision = p["revision"]  # the revision that started the plan, as the demo and torch say
        group = plan.groups[i]
        rate = None
        old_rate = _current_lr(model.optimizer)
        if plan.lr_factor not in (None, 1.0) and old_rate is not None:
            rate = old_rate * plan.lr_factor
        try:
            changed, carried = _apply_and_recompile(model, {name: True for name in group},
                                                    learning_rate=rate)
        except Exception as e:
            self.plan = None
            self.plans[plan.id] = "failed"
            self.log.control(revision, "rejected", [],
                             "plan %s: step %d/%d failed (%s: %s); nothing of this step was "
                             "applied and the plan is stopped" % (plan.id, i + 1, n,
                                                                  type(e).__name__, e))
            return
        if rate is not None:
            self.applied_rate = None  # the dashboard's rate is no longer the optimizer's
        self.write_model(force=True)
        p["done"] = i + 1
        p["due"] = done - 1 + plan.every_epochs
        what = "unfroze %s" % _names_text(changed) if changed else \
            "unfroze nothing new (%s already trainable)" % _names_text(group)
        parts = ["plan %s: step %d/%d: %s at the end of epoch %d" % (plan.id, i + 1, n, what, done)]
        if rate is not None:
            parts.append("learning rate x %g: %s -> %s for the whole optimizer (Keras has one "
                         "rate)" % (plan.lr_factor, _rate_text(old_rate),
                                    _rate_text(_current_lr(model.optimizer))))
        parts.append("recompiled, %s state carried over (%d slot variables)"
                     % (type(model.optimizer).__name__, carried))
        if i + 1 >= n:
            self.plan = None
            self.plans[plan.id] = "finished"
            parts.append("plan finished")
        else:
            parts.append("next step at the end of epoch %d" % (p["due"] + 1))
        self.log.control(revision, "applied", changed, "; ".join(parts))

    def end_reason(self, callbacks: Iterable[Any] | None = None) -> tuple[str, str]:
        """(reason, message) for the training that just ended."""
        epochs = (self.params or {}).get("epochs")
        if self.stop_requested is not None:
            return "stopped", "stopped after epoch %d as asked (control revision %d)" % (
                self.last_epoch + 1, self.stop_requested)
        for cb in callbacks or ():
            if isinstance(cb, keras.callbacks.EarlyStopping) and cb.stopped_epoch > 0:
                return "early_stopping", "EarlyStopping(monitor=%s, patience=%s) stopped after epoch %d" % (
                    cb.monitor, cb.patience, cb.stopped_epoch + 1)
        if epochs is None or self.last_epoch + 1 >= epochs:
            return "completed", "trained %d epochs" % (self.last_epoch + 1)
        for cb in callbacks or ():
            if isinstance(cb, keras.callbacks.TerminateOnNaN):
                return "error", "TerminateOnNaN stopped training: the loss became NaN or infinite"
        return "stopped", "a callback stopped training after epoch %d" % (self.last_epoch + 1)


# -- the fit wrapper -----------------------------------------------------------------------------

class _Relay(keras.callbacks.Callback):
    """The one callback ``finetop.keras.fit`` hands to ``model.fit``: forwards every hook to the
    user's callbacks and the FinetopCallback, in order, so that the stops and resumes a toggle
    needs are invisible to them. On a resume after a recompile it does not forward ``set_model``
    (same model: TensorBoard would drop its writers) nor ``on_train_begin`` (EarlyStopping and
    ReduceLROnPlateau would reset, BackupAndRestore reload its backup, CSVLogger reopen its file,
    History start over); it holds ``on_train_end`` back until training really ends (``finish``),
    so EarlyStopping does not restore its best weights at a toggle, BackupAndRestore does not
    delete its backup, CSVLogger and TensorBoard do not close their files.

    Batch hooks are forwarded synchronously: Keras dispatches them on a thread only when no
    callback overrides them, and the FinetopCallback does."""

    _model: Any  # set by Keras's Callback

    def __init__(self, callbacks: Iterable[Any], finetop_callback: FinetopCallback) -> None:
        super().__init__()
        self.callbacks = list(callbacks)
        self.ft = finetop_callback
        self.started = False        # on_train_begin was forwarded
        self.end_logs: dict[str, Any] | None = None  # the held-back on_train_end's logs
        self.others_stopped: int | None = None  # epoch at whose end another callback stopped training
        self.weights: list[tuple[Any, Any]] | None = None  # trainable weights at a toggle (optimizers with EMA)

    def set_model(self, model: Any) -> None:
        if self.started and model is self._model:
            return
        self._model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    # -- begin / end: once for the whole training ----------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.end_logs = None
        if self.started:
            return
        self.started = True
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.end_logs = dict(logs or {})

    def finish(self) -> None:
        """Delivers the held-back ``on_train_end``: training is over."""
        if not self.started:
            return
        logs, self.end_logs = self.end_logs or {}, None
        self.started = False
        for cb in self.callbacks:
            cb.on_train_end(logs)

    # -- epochs ---------------------------------------------------------------------------------

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        ours = self.ft._early_end is not None
        if ours:  # finetop ended this epoch early (apply_now): see whether anyone else stops
            self.model.stop_training = False
        for cb in self.callbacks:
            if cb is self.ft and self.model.stop_training and self.others_stopped is None:
                self.others_stopped = epoch  # EarlyStopping, TerminateOnNaN, a user's callback
            cb.on_epoch_end(epoch, logs)
        if ours:
            self.model.stop_training = True
        if self.ft.pending is not None and self.others_stopped is None and \
                getattr(self.model.optimizer, "use_ema", False):
            # fit() ends by overwriting the weights with their moving averages: keep the real ones.
            self.weights = [(v, keras.ops.convert_to_numpy(v)) for v in self.model.trainable_variables]

    # -- everything else, as is ----------------------------------------------------------------

    def _each(name: str) -> Callable[..., None]:  # a helper of the class body, deleted below
        def forward(self: _Relay, *args: Any, **kwargs: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, name)(*args, **kwargs)
        forward.__name__ = name
        return forward

    on_batch_begin = _each("on_batch_begin")
    on_batch_end = _each("on_batch_end")
    on_train_batch_begin = _each("on_train_batch_begin")
    on_train_batch_end = _each("on_train_batch_end")
    on_test_begin = _each("on_test_begin")
    on_test_end = _each("on_test_end")
    on_test_batch_begin = _each("on_test_batch_begin")
    on_test_batch_end = _each("on_test_batch_end")
    on_predict_begin = _each("on_predict_begin")
    on_predict_end = _each("on_predict_end")
    on_predict_batch_begin = _each("on_predict_batch_begin")
    on_predict_batch_end = _each("on_predict_batch_end")
    del _each


def _undo_rate(model: Any, ft: FinetopCallback) -> None:
    """Puts back the rate a pending revision set at once, when the rest of it cannot apply."""
    old = ft._pending_old_rate
    ft._pending_old_rate = None
    ft._undone_rate = None
    if old is not None and _rate_is_settable(model.optimizer):
        try:
            set_learning_rate(model, old)
            ft._undone_rate = old
        except Exception:
            pass
    ft.applied_rate = None


def _undo_text(ft: FinetopCallback) -> str:
    old = getattr(ft, "_undone_rate", None)
    return "" if old is None else "; the learning rate is back to %s (nothing applied half)" % \
        _rate_text(old)


def _apply_pending(model: Any, ft: FinetopCallback, pending: ControlFile, done: int, epochs: int,
                   early: tuple[int, int | None] | None) -> None:
    """Applies a revision's trainable flags (and a rate that needs a recompile) at this epoch
    boundary and acknowledges the whole revision with one control line saying what applied when."""
    rate = pending.learning_rate if (pending.learning_rate is not None and
                                     not _rate_is_settable(model.optimizer) and
                                     ft.applied_rate == pending.learning_rate) else None
    try:
        changed, carried = _apply_and_recompile(model, pending.trainable, learning_rate=rate)
    except Exception as e:
        _undo_rate(model, ft)
        ft.log.control(pending.revision, "rejected", [],
                       "applying the change failed (%s: %s); the layers keep their flags%s, "
                       "training goes on" % (type(e).__name__, e, _undo_text(ft)))
        return
    ft._pending_old_rate = None
    ft.write_model(force=True)
    parts = list(ft._pending_notes)
    if early is not None:
        batch, steps = early
        when = ("epoch %d ended early after batch %d%s as asked (apply_now)"
                % (done, batch, "" if steps is None else " of %d" % steps))
    else:
        when = "at the end of epoch %d" % done
    parts.append("trainable flags applied %s: recompiled; %s state carried over (step count, "
                 "learning rate, %d slot variables of the layers that stay trainable; newly "
                 "trainable ones start from zero)" % (when, type(model.optimizer).__name__, carried))
    parts.append("resuming at epoch %d" % (done + 1) if done < epochs else
                 "training had reached its last epoch")
    ft.log.control(pending.revision, "applied", changed, "; ".join(parts))
    ft._pending_notes = []


def _default_batch_size(x: Any, batch_size: int | None) -> int | None:
    if batch_size is not None:
        return batch_size
    # Keras defaults to 32 for arrays; datasets and generators batch themselves.
    if x is None or hasattr(x, "shape") or isinstance(x, (list, tuple, dict)):
        return 32
    return None


def fit(model: Any, x: Any = None, y: Any = None, *, epochs: int = 1, initial_epoch: int = 0,
        callbacks: Any = None, run_dir: str | None = None,
        finetop_callback: FinetopCallback | None = None, hparams: Mapping[str, Any] | None = None,
        target: Any = None, **fit_kwargs: Any) -> Any:
    """``model.fit`` that also applies the dashboard's layer toggles (see the module docstring).

    Same arguments as ``model.fit``; returns one ``History`` for all epochs. ``run_dir`` /
    ``hparams`` / ``target`` go to the ``FinetopCallback`` it adds (or pass your own as ``finetop_callback`` or
    in ``callbacks``); it runs after your callbacks, so it sees what they add to the logs. Call it
    once per phase (e.g. head first, then fine-tuning, with ``initial_epoch``): the same callback
    is reused for the same model, so the run continues.

    At an epoch boundary where control.json has a new revision: unknown layer names or a
    malformed file → a ``rejected`` control line, training goes on; ``stop: true`` addressed to
    this job → training stops, ``end`` reason "stopped"; trainable changes → stop this ``fit``, set
    the flags, recompile (same loss/metrics, same optimizer settings, optimizer state carried
    over), write a ``model`` line (revision + 1) and an ``applied`` control line naming the
    changed layers, and resume at the next epoch — unseen by your callbacks (see ``_Relay``).
    """
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = callbacks.callbacks
    cbs = list(callbacks or [])
    ft = finetop_callback or next((c for c in cbs if isinstance(c, FinetopCallback)), None)
    if ft is None:
        ft = getattr(model, "_finetop_callback", None)
        if ft is not None and run_dir is not None and os.path.abspath(ft.run_dir) != os.path.abspath(run_dir):
            ft = None
    if ft is None:
        ft = FinetopCallback(run_dir=run_dir, hparams=hparams, target=target)
    else:
        if hparams:
            ft.extra_hparams.update(hparams)
        if target is not None:
            ft.target = target_hparam(target)
    try:
        model._finetop_callback = ft
    except Exception:
        pass
    # Progress bars stay with model.fit (it adds one unless one is given); the rest is relayed,
    # with one History for the whole training and the FinetopCallback last.
    progbars = [c for c in cbs if isinstance(c, keras.callbacks.ProgbarLogger)]
    inner = [c for c in cbs if c is not ft and not isinstance(c, keras.callbacks.ProgbarLogger)]
    history = next((c for c in inner if isinstance(c, keras.callbacks.History)), None)
    if history is None:
        history = keras.callbacks.History()
        inner.append(history)
    inner.append(ft)
    relay = _Relay(inner, ft)
    ft.batch_size = _default_batch_size(x, fit_kwargs.get("batch_size"))
    ft._callbacks = inner
    ft._managed = True
    epoch = initial_epoch
    try:
        while True:
            if relay.started:
                model._initial_epoch = None  # BackupAndRestore's start epoch applies only once
            model.fit(x, y, epochs=epochs, initial_epoch=epoch, callbacks=[relay] + progbars,
                      **fit_kwargs)
            done = ft.last_epoch + 1
            pending, ft.pending = ft.pending, None
            plan_due, ft.plan_step_due = ft.plan_step_due, False
            early, ft._early_end = ft._early_end, None
            reason, message = ft.end_reason(inner)
            if (pending is None and not plan_due) or ft.stop_requested is not None:
                break
            if relay.others_stopped is not None:
                if pending is not None:
                    _undo_rate(model, ft)
                    ft.log.control(pending.revision, "rejected", [],
                                   "training ended at this epoch boundary (%s) before the change "
                                   "could be applied%s" % (message, _undo_text(ft)))
                break
            if pending is not None:
                _apply_pending(model, ft, pending, done, epochs, early)
            if plan_due and ft.plan is not None and done < epochs:
                ft.take_plan_step(model, done, epochs)
            if done >= epochs:
                reason, message = "completed", "trained %d epochs" % done
                break
            if relay.weights is not None:
                for v, w in relay.weights:
                    v.assign(w)
                relay.weights = None
            epoch = done
            model.stop_training = False
        relay.finish()
        ft.log.end(reason, message)
    except KeyboardInterrupt:
        ft.log.end("stopped", "interrupted (KeyboardInterrupt) during epoch %d" % (ft.last_epoch + 2))
        raise
    except BaseException as e:
        ft.log.end("error", "%s: %s" % (type(e).__name__, e))
        raise
    finally:
        ft._managed = False
    model.history = history
    return history
