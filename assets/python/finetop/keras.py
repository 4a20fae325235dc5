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
same loss, metrics and optimizer settings — a *fresh* optimizer of the same class built from the
old one's ``get_config()`` (current learning rate included, step count carried over; slot
variables such as Adam's moments start from zero, as they do whenever Keras recompiles) — writes
a new ``model`` line and a ``control`` line, and resumes with ``fit(initial_epoch=next epoch)``:
epochs, History, EarlyStopping/ReduceLROnPlateau state and CSVLogger files continue.

``model.fit(..., callbacks=[FinetopCallback()])`` — logging only. The dashboard shows the run
and ``stop`` works, but a layer toggle can't be applied inside ``model.fit``: the callback
acknowledges it with a ``rejected`` control line that says to use ``finetop.keras.fit``.

The run directory is ``$FINETOP_RUN_DIR`` (set by ``finetop run -- python train.py``), else the
``run_dir`` you pass, else ``runs/<timestamp>``.
"""

import math
import os
import sys
import time

import keras

from .control import ControlError, ControlReader
from .runlog import RunLog, to_number

__all__ = ["FinetopCallback", "fit", "model_layers", "layer_map", "hparams_of", "task_of",
           "apply_trainable", "recompile"]

# Layers that perturb the inputs only while training: reported as augmentation.
_AUGMENTATION_EXTRA = {"GaussianNoise", "GaussianDropout", "AlphaDropout", "MixUp", "CutMix",
                       "AugMix", "RandAugment", "Solarization"}
_DROPOUT = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
            "GaussianDropout"}
_AUG_ARGS = ("mode", "factor", "height_factor", "width_factor", "stddev", "rate", "value_range",
             "height", "width")


# -- the model: flattened layer rows ------------------------------------------------------------

def _size(w):
    return int(math.prod(int(d) for d in w.shape))


def _shape_text(layer):
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


def _one_shape(shape):
    return "(" + ", ".join("None" if d is None else str(int(d)) for d in shape) + ")"


def _children(layer):
    """The sub-layers to list under a nested model (Functional, Sequential, subclassed Model)."""
    if isinstance(layer, keras.Model):
        try:
            return list(layer.layers)
        except Exception:
            return []
    return []


def _walk(layers, prefix, depth, ancestors, out):
    for layer in layers:
        name = prefix + layer.name
        out.append((name, layer, depth, tuple(ancestors)))
        kids = _children(layer)
        if kids:
            _walk(kids, name + "/", depth + 1, list(ancestors) + [layer], out)


def _flatten(model):
    out = []
    _walk(list(model.layers), "", 0, [], out)
    return out


def layer_map(model):
    """{row name: layer}, nested models' layers named ``outer/inner``."""
    return {name: layer for name, layer, _, _ in _flatten(model)}


def model_layers(model):
    """The ``layers`` of a ``model`` line: every layer of ``model``, nested models flattened as
    ``outer/inner`` with their ``depth``; a nested model's own row carries its full count.

    ``params`` is the size of ``layer.weights``; ``trainable_params`` the size of
    ``layer.trainable_weights`` — exactly what Keras counts (BatchNormalization's moving mean and
    variance are never trainable, a frozen layer has none) — and 0 inside a frozen ancestor,
    whose own ``trainable_weights`` is empty whatever its children's flags say. Summing the
    depth-0 rows gives ``model.summary()``'s totals."""
    rows = []
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
            "trainable": bool(layer.trainable),
            "depth": depth,
        })
    return rows


# -- what the run line can see ------------------------------------------------------------------

def _loss_name(loss):
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


def task_of(model):
    """{kind, num_classes, loss} as far as the compiled loss and the output shape tell."""
    loss = _loss_name(getattr(model, "loss", None))
    kind = None
    low = (loss or "").lower()
    if any(k in low for k in _CLASSIFICATION):
        kind = "classification"
    elif any(k in low for k in _REGRESSION):
        kind = "regression"
    num_classes = None
    if kind == "classification":
        try:
            shape = model.outputs[0].shape if len(model.outputs) == 1 else None
            if shape is not None and shape[-1] is not None:
                n = int(shape[-1])
                num_classes = 2 if n == 1 and "binary" in low else n
        except Exception:
            pass
    return {"kind": kind, "num_classes": num_classes, "loss": loss}


def _describe_aug(layer):
    try:
        cfg = layer.get_config()
    except Exception:
        cfg = {}
    args = []
    for k in _AUG_ARGS:
        if k in cfg and cfg[k] is not None:
            v = cfg[k]
            args.append("%s=%s" % (k, list(v) if isinstance(v, tuple) else v))
    return "%s(%s)" % (type(layer).__name__, ", ".join(args))


def _is_augmentation(layer):
    cls = type(layer).__name__
    return cls.startswith("Random") or cls in _AUGMENTATION_EXTRA


def _early_stopping(callbacks):
    for cb in callbacks or ():
        if isinstance(cb, keras.callbacks.EarlyStopping):
            return {
                "monitor": cb.monitor, "patience": cb.patience, "min_delta": abs(cb.min_delta),
                "mode": getattr(cb, "mode", "auto"),
                "restore_best_weights": bool(cb.restore_best_weights),
                "baseline": cb.baseline, "start_from_epoch": getattr(cb, "start_from_epoch", 0),
            }
    return None


def _current_lr(optimizer):
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


def hparams_of(model, callbacks=None, epochs=None, batch_size=None):
    """The hyper-parameters visible from the model, its optimizer and the callbacks."""
    opt = getattr(model, "optimizer", None)
    flat = _flatten(model)
    augmentation = [_describe_aug(l) for _, l, _, _ in flat if _is_augmentation(l)]
    dropout = [float(l.rate) for _, l, _, _ in flat
               if type(l).__name__ in _DROPOUT and to_number(getattr(l, "rate", None)) is not None]
    h = {
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


def _sibling_callbacks(cb):
    """The callbacks ``model.fit`` runs next to ``cb`` (for EarlyStopping settings), found in the
    calling frame; best effort, [] if not found."""
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


# -- applying a control state --------------------------------------------------------------------

def apply_trainable(model, desired):
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


def recompile(model):
    """Compiles ``model`` again with the arguments of its last ``compile()`` and a fresh optimizer
    of the same class and config (current learning rate; the step count is carried over so
    learning-rate schedules continue; slot variables such as Adam's moments start from zero)."""
    old = model.optimizer
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    kwargs = dict(config) if isinstance(config, dict) else {"loss": getattr(model, "loss", None)}
    new = old
    if old is not None:
        new = type(old).from_config(old.get_config())
        kwargs["optimizer"] = new
    model.compile(**kwargs)
    try:
        new._iterations.assign(old._iterations)
    except Exception:
        pass
    return model


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
        stop_poll_interval: seconds between checks for ``stop`` during an epoch.
    """

    def __init__(self, run_dir=None, hparams=None, batch_size=None, control=True,
                 batch_interval=0.1, stop_poll_interval=1.0, log=None):
        super().__init__()
        self.log = log if log is not None else RunLog(run_dir, batch_interval=batch_interval)
        self.run_dir = self.log.dir
        self.control = ControlReader(self.run_dir) if control else None
        self.extra_hparams = dict(hparams or {})
        self.batch_size = batch_size
        self.stop_poll_interval = stop_poll_interval
        self.revision = -1          # of the last model line written
        self.global_step = 0        # train batches seen, across fit calls
        self.last_epoch = -1        # last epoch finished (0-based)
        self.stop_requested = None  # revision that asked to stop
        self.pending = None         # ControlFile waiting for the fit wrapper
        self._managed = False       # True while finetop.keras.fit drives us
        self._resuming = False      # the wrapper resumes the same training: no new run line
        self._callbacks = None      # set by the wrapper
        self._last_rows = None
        self._epoch_start = None
        self._epoch = 0
        self._last_stop_poll = 0.0

    # -- lines ------------------------------------------------------------------------------

    def write_model(self, force=False):
        rows = model_layers(self.model)
        if force or rows != self._last_rows:
            self.revision += 1
            self.log.model(self.revision, rows)
            self._last_rows = rows
        return rows

    def write_run(self, callbacks=None):
        epochs = (self.params or {}).get("epochs")
        h = hparams_of(self.model, callbacks if callbacks is not None else
                       (self._callbacks or _sibling_callbacks(self)),
                       epochs=epochs, batch_size=self.batch_size)
        h.update(self.extra_hparams)
        self.log.run("keras", keras.__version__, task=task_of(self.model), hparams=h,
                     backend=keras.backend.backend())

    # -- Keras hooks ------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._resuming:
            return
        self.stop_requested = None
        self.pending = None
        self.write_run()
        self.write_model()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.global_step += 1
        logs = logs or {}
        if "loss" in logs:
            self.log.batch(self._epoch, self.global_step, logs["loss"], logs)
        if self.control is not None and self.stop_poll_interval is not None:
            now = time.monotonic()
            if now - self._last_stop_poll >= self.stop_poll_interval:
                self._last_stop_poll = now
                c = self.control.peek()
                if c is not None and not isinstance(c, ControlError) and c.stop:
                    self._handle_control(self.control.poll(), during_epoch=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            lr = _current_lr(self.model.optimizer)
            if lr is not None:
                logs["learning_rate"] = lr
        elapsed = None if self._epoch_start is None else time.monotonic() - self._epoch_start
        self.log.epoch(epoch, logs.get("loss"), logs.get("val_loss"), logs,
                       step=self.global_step, time=elapsed)
        self.last_epoch = epoch
        if self.control is not None and self.stop_requested is None and self.pending is None:
            self._handle_control(self.control.poll())

    def on_train_end(self, logs=None):
        if self._managed:
            return  # the wrapper knows whether training goes on, and writes `end` itself
        self.log.end(*self.end_reason(self._siblings_or_none()))

    def _siblings_or_none(self):
        return self._callbacks if self._callbacks is not None else _sibling_callbacks(self)

    # -- control ----------------------------------------------------------------------------

    def _handle_control(self, c, during_epoch=False):
        if c is None:
            return
        if isinstance(c, ControlError):
            self.log.control(c.revision, "rejected", [], "%s; training goes on unchanged" % c)
            return
        if c.stop:
            self.stop_requested = c.revision
            self.model.stop_training = True
            where = "during epoch %d" % self._epoch if during_epoch else \
                "at the end of epoch %d" % self.last_epoch
            self.log.control(c.revision, "applied", [], "stopping %s as asked" % where)
            return
        flat = {name: (layer, ancestors) for name, layer, _, ancestors in _flatten(self.model)}
        rows = {name: layer for name, (layer, _) in flat.items()}
        unknown = sorted(n for n in c.trainable if n not in rows)
        if unknown:
            self.log.control(c.revision, "rejected", [],
                             "unknown layer name%s: %s (names are those of the latest model line); "
                             "nothing changed, training goes on"
                             % ("s" if len(unknown) > 1 else "", ", ".join(unknown)))
            return
        # A layer under a frozen nested model trains nothing whatever its own flag says.
        todo = {n: v for n, v in c.trainable.items()
                if rows[n].trainable != v or (v and not all(a.trainable for a in flat[n][1]))}
        if not todo:
            self.log.control(c.revision, "applied", [], "the layers already had these flags")
            return
        if not self._managed:
            self.log.control(c.revision, "rejected", [],
                             "changing trainable flags needs a recompile, which Keras can't do "
                             "inside model.fit (keras-team/keras#16234); train with "
                             "finetop.keras.fit(model, ...) instead of model.fit(...) to apply "
                             "layer toggles; training goes on unchanged")
            return
        self.pending = c
        self.model.stop_training = True

    def end_reason(self, callbacks=None):
        """(reason, message) for the training that just ended."""
        epochs = (self.params or {}).get("epochs")
        if self.stop_requested is not None:
            return "stopped", "stopped after epoch %d as asked (control revision %d)" % (
                self.last_epoch, self.stop_requested)
        for cb in callbacks or ():
            if isinstance(cb, keras.callbacks.EarlyStopping) and cb.stopped_epoch > 0:
                return "early_stopping", "EarlyStopping(monitor=%s, patience=%s) stopped after epoch %d" % (
                    cb.monitor, cb.patience, cb.stopped_epoch)
        if epochs is None or self.last_epoch + 1 >= epochs:
            return "completed", "trained %d epochs" % (self.last_epoch + 1)
        for cb in callbacks or ():
            if isinstance(cb, keras.callbacks.TerminateOnNaN):
                return "error", "TerminateOnNaN stopped training: the loss became NaN or infinite"
        return "stopped", "a callback stopped training after epoch %d" % self.last_epoch


# -- the fit wrapper -----------------------------------------------------------------------------

class _KeepState(keras.callbacks.Callback):
    """Placed after the user's callbacks: when ``fit`` resumes after a recompile, puts back the
    state that EarlyStopping and ReduceLROnPlateau reset in their ``on_train_begin``."""

    ATTRS = {keras.callbacks.EarlyStopping: ("wait", "best", "best_weights", "best_epoch"),
             keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter")}

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks = callbacks
        self.saved = None

    def capture(self):
        self.saved = []
        for cb in self.callbacks:
            for cls, attrs in self.ATTRS.items():
                if isinstance(cb, cls):
                    self.saved.append((cb, {a: getattr(cb, a, None) for a in attrs}))

    def on_train_begin(self, logs=None):
        for cb, state in self.saved or ():
            for k, v in state.items():
                setattr(cb, k, v)


def _merge_histories(model, histories):
    if not histories:
        return None
    if len(histories) == 1:
        return histories[0]
    merged = keras.callbacks.History()
    merged.set_model(model)
    merged.params = dict(histories[-1].params or {})
    merged.epoch = []
    merged.history = {}
    for h in histories:
        merged.epoch.extend(h.epoch)
        n = len(h.epoch)
        for k in set(merged.history) | set(h.history):
            merged.history.setdefault(k, [None] * (len(merged.epoch) - n))
            merged.history[k].extend(h.history.get(k, [None] * n))
    model.history = merged
    return merged


def _default_batch_size(x, batch_size):
    if batch_size is not None:
        return batch_size
    # Keras defaults to 32 for arrays; datasets and generators batch themselves.
    if x is None or hasattr(x, "shape") or isinstance(x, (list, tuple, dict)):
        return 32
    return None


def fit(model, x=None, y=None, *, epochs=1, initial_epoch=0, callbacks=None, run_dir=None,
        finetop_callback=None, hparams=None, **fit_kwargs):
    """``model.fit`` that also applies the dashboard's layer toggles (see the module docstring).

    Same arguments as ``model.fit``; returns one ``History`` for all epochs. ``run_dir`` /
    ``hparams`` go to the ``FinetopCallback`` it adds (or pass your own as ``finetop_callback`` or
    in ``callbacks``). Call it once per phase (e.g. head first, then fine-tuning, with
    ``initial_epoch``): the same callback is reused for the same model, so the run continues.

    At an epoch boundary where control.json has a new revision: unknown layer names or a
    malformed file → a ``rejected`` control line, training goes on; ``stop: true`` → training
    stops, ``end`` reason "stopped"; trainable changes → stop this ``fit``, set the flags,
    recompile (same loss/metrics, fresh optimizer of the same class and config), write a
    ``model`` line (revision + 1) and an ``applied`` control line naming the changed layers,
    and resume at the next epoch.
    """
    cbs = list(callbacks or [])
    ft = finetop_callback or next((c for c in cbs if isinstance(c, FinetopCallback)), None)
    if ft is None:
        ft = getattr(model, "_finetop_callback", None)
        if ft is not None and run_dir is not None and os.path.abspath(ft.run_dir) != os.path.abspath(run_dir):
            ft = None
    if ft is None:
        ft = FinetopCallback(run_dir=run_dir, hparams=hparams)
    elif hparams:
        ft.extra_hparams.update(hparams)
    try:
        model._finetop_callback = ft
    except Exception:
        pass
    if ft not in cbs:
        cbs.append(ft)  # last: sees what other callbacks add to the logs (e.g. learning_rate)
    keep = _KeepState(cbs)
    ft.batch_size = _default_batch_size(x, fit_kwargs.get("batch_size"))
    ft._callbacks = cbs
    ft._managed = True
    ft._resuming = False
    histories = []
    epoch = initial_epoch
    try:
        while True:
            histories.append(model.fit(x, y, epochs=epochs, initial_epoch=epoch,
                                       callbacks=cbs + [keep], **fit_kwargs))
            done = ft.last_epoch + 1
            pending, ft.pending = ft.pending, None
            reason, message = ft.end_reason(cbs)
            if pending is None or ft.stop_requested is not None:
                break
            if reason == "early_stopping":
                ft.log.control(pending.revision, "rejected", [],
                               "training ended (EarlyStopping) at this epoch boundary before the "
                               "change could be applied")
                break
            try:
                changed = apply_trainable(model, pending.trainable)
                recompile(model)
            except Exception as e:  # never leave the job half-changed without saying so
                ft.log.control(pending.revision, "rejected", [],
                               "applying the change failed: %s: %s" % (type(e).__name__, e))
                raise
            ft.write_model(force=True)
            ft.log.control(pending.revision, "applied", changed,
                           "recompiled (fresh %s, same settings); resuming at epoch %d"
                           % (type(model.optimizer).__name__, done) if done < epochs else
                           "recompiled (fresh %s, same settings); training had reached its last epoch"
                           % type(model.optimizer).__name__)
            if done >= epochs:
                reason, message = "completed", "trained %d epochs" % done
                break
            epoch = done
            keep.capture()
            for cb in cbs:
                if isinstance(cb, keras.callbacks.CSVLogger):
                    cb.append = True
            ft._resuming = True
            model.stop_training = False
        ft.log.end(reason, message)
    except KeyboardInterrupt:
        ft.log.end("stopped", "interrupted (KeyboardInterrupt) during epoch %d" % (ft.last_epoch + 1))
        raise
    except BaseException as e:
        ft.log.end("error", "%s: %s" % (type(e).__name__, e))
        raise
    finally:
        ft._managed = False
        ft._resuming = False
    return _merge_histories(model, histories)
