"""finetop for PyTorch: a tracker you call from your own training loop.

    from finetop.torch import Tracker

    tracker = Tracker(model, optimizer, hparams={"batch_size": 64, "epochs": 20}, loss=loss_fn)
    for epoch in range(20):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if tracker.batch(loss=loss):          # logs (throttled) and applies control.json
                break
        if tracker.epoch(loss=train_loss, val_loss=val_loss, accuracy=acc, val_accuracy=val_acc):
            break                                  # the dashboard asked to stop
    tracker.end()

The ``model`` line lists every module that owns parameters (``named_modules()`` names such as
``features.0``), with ``params`` counted as torchinfo counts them (``p.numel()`` of the module's
own parameters) and ``trainable_params`` the ones with ``requires_grad``. Buffers (BatchNorm's
running mean/var) are not parameters and are not counted.

control.json is applied between steps — in ``batch()`` (checked at most every
``control_interval`` seconds), ``epoch()`` and ``step()``: a layer toggle calls
``requires_grad_`` on that module's own parameters (or on a whole sub-tree when the name is a
container such as ``features``), clears the gradients of newly frozen parameters, and adds newly
unfrozen parameters the optimizer doesn't hold as a new param group (copying the first group's
current settings, e.g. its learning rate), so they really get updated. ``stop: true`` makes
``batch()``/``epoch()``/``should_stop`` return True; ``end()`` then says "stopped".

The run directory is ``$FINETOP_RUN_DIR`` (``finetop run -- python train.py`` sets it), else
``run_dir``, else ``runs/<timestamp>``.
"""

import time

import torch

from .control import ControlError, ControlReader
from .runlog import RunLog, to_number

__all__ = ["Tracker", "module_rows", "model_layers", "apply_trainable", "ensure_optimizer_has"]

_DROPOUT = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")


def _own_params(module):
    return list(module.parameters(recurse=False))


def module_rows(model):
    """[(name, module)] for every module that owns parameters, in ``named_modules()`` order."""
    return [(name or type(model).__name__, m) for name, m in model.named_modules()
            if _own_params(m)]


def model_layers(model, shapes=None):
    """The ``layers`` of a ``model`` line (all at depth 0: every parameter is owned by exactly one
    listed module, so the rows add up to the model's totals)."""
    rows = []
    shapes = shapes or {}
    for name, m in module_rows(model):
        params = _own_params(m)
        trainable = [p for p in params if p.requires_grad]
        rows.append({
            "name": name,
            "class": type(m).__name__,
            "shape": shapes.get(name, "?"),
            "params": int(sum(p.numel() for p in params)),
            "trainable_params": int(sum(p.numel() for p in trainable)),
            "trainable": bool(trainable),
            "depth": 0,
        })
    return rows


def _shape_text(out):
    if isinstance(out, torch.Tensor):
        return "(None, " + ", ".join(str(int(d)) for d in out.shape[1:]) + ")" if out.dim() > 1 \
            else "(None)"
    if isinstance(out, (list, tuple)) and out:
        return "[" + ", ".join(_shape_text(o) for o in out) + "]"
    if hasattr(out, "logits") and isinstance(getattr(out, "logits"), torch.Tensor):
        return _shape_text(out.logits)
    return "?"


def output_shapes(model, example_input):
    """{row name: "(None, C, H, W)"} from one forward pass of ``example_input`` (no grad)."""
    names = {m: name for name, m in module_rows(model)}
    shapes = {}
    hooks = []
    for m, name in names.items():
        def hook(mod, inp, out, name=name):
            shapes.setdefault(name, _shape_text(out))
        hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            if isinstance(example_input, dict):
                model(**example_input)
            elif isinstance(example_input, (list, tuple)):
                model(*example_input)
            else:
                model(example_input)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shapes


def ensure_optimizer_has(optimizer, params):
    """Adds the parameters of ``params`` the optimizer doesn't hold as one new param group with the
    first group's current settings. Returns how many parameters were added."""
    if optimizer is None:
        return 0
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    missing, seen = [], set()
    for p in params:
        if id(p) not in held and id(p) not in seen:
            missing.append(p)
            seen.add(id(p))
    if not missing:
        return 0
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"} \
        if optimizer.param_groups else {}
    group["params"] = missing
    optimizer.add_param_group(group)
    return len(missing)


def apply_trainable(model, desired, optimizer=None):
    """Sets ``requires_grad`` from ``desired`` {name: bool}; returns the names whose state changed.
    A name listed in the model line changes that module's own parameters; any other
    ``named_modules()`` name (a container) changes its whole sub-tree. Raises KeyError listing
    unknown names."""
    modules = dict(model.named_modules())
    rows = dict(module_rows(model))
    unknown = [n for n in desired if n not in rows and n not in modules]
    if unknown:
        raise KeyError(unknown)
    before = {name: [p.requires_grad for p in _own_params(m)] for name, m in rows.items()}
    unfrozen = []
    for name, flag in desired.items():
        m = rows.get(name) or modules[name]
        params = _own_params(m) if name in rows else list(m.parameters())
        for p in params:
            if p.requires_grad != flag:
                p.requires_grad_(flag)
                if flag:
                    unfrozen.append(p)
                else:
                    p.grad = None  # a stale gradient must not move a frozen weight
    ensure_optimizer_has(optimizer, unfrozen)
    return [name for name, m in rows.items()
            if [p.requires_grad for p in _own_params(m)] != before[name]]


def _task(model, loss):
    if loss is None:
        return {"kind": None, "num_classes": None, "loss": None}
    name = loss if isinstance(loss, str) else type(loss).__name__
    low = name.lower()
    kind = "classification" if any(k in low for k in ("crossentropy", "nll", "bce", "hinge", "margin")) \
        else "regression" if any(k in low for k in ("mse", "l1", "huber", "smooth")) else None
    num_classes = None
    if kind == "classification":
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if last:
            n = int(last[-1].out_features)
            num_classes = 2 if n == 1 and "bce" in low else n
    return {"kind": kind, "num_classes": num_classes, "loss": name}


def hparams_of(model, optimizer=None, **given):
    h = {"optimizer": type(optimizer).__name__ if optimizer is not None else None,
         "learning_rate": None, "batch_size": None, "epochs": None, "augmentation": [],
         "dropout": [float(m.p) for m in model.modules() if type(m).__name__ in _DROPOUT],
         "early_stopping": None}
    if optimizer is not None and optimizer.param_groups:
        g = optimizer.param_groups[0]
        h["learning_rate"] = to_number(g.get("lr"))
        for k in ("weight_decay", "momentum"):
            if to_number(g.get(k)) is not None:
                h[k] = to_number(g.get(k))
    h.update({k: v for k, v in given.items() if v is not None})
    return h


class Tracker:
    """Logs a PyTorch training loop to a finetop run and applies control.json between steps.

    Args:
        model: the ``torch.nn.Module`` being trained.
        optimizer: its optimizer; newly unfrozen parameters are added to it when missing.
        run_dir: default ``$FINETOP_RUN_DIR``, else ``runs/<timestamp>``.
        hparams: reported in the run line (``batch_size``, ``epochs``, ``augmentation`` [strings],
            ``early_stopping`` {…}, …); optimizer, learning rate and dropout rates are found.
        loss: the loss function (or its name), for the task shown in the dashboard.
        example_input: one input batch; a forward pass with it fills in the output shapes.
        control: read control.json (default True).
        control_interval: seconds between control.json checks in ``batch()``.
    """

    def __init__(self, model, optimizer=None, run_dir=None, hparams=None, loss=None,
                 example_input=None, control=True, batch_interval=0.1, control_interval=0.5,
                 framework="pytorch"):
        self.model = model
        self.optimizer = optimizer
        self.log = RunLog(run_dir, batch_interval=batch_interval)
        self.run_dir = self.log.dir
        self.control = ControlReader(self.run_dir) if control else None
        self.control_interval = control_interval
        self.revision = -1
        self.global_step = 0
        self.current_epoch = 0
        self.should_stop = False
        self.stop_revision = None
        self._last_control = 0.0
        self._epoch_start = time.monotonic()
        self._shapes = {}
        if example_input is not None:
            try:
                self._shapes = output_shapes(model, example_input)
            except Exception:
                self._shapes = {}
        self.log.run(framework, torch.__version__, task=_task(model, loss),
                     hparams=hparams_of(model, optimizer, **(hparams or {})))
        self.write_model()

    # -- lines ----------------------------------------------------------------------------------

    def write_model(self):
        self.revision += 1
        self.log.model(self.revision, model_layers(self.model, self._shapes))

    def batch(self, loss, epoch=None, step=None, **metrics):
        """Call once per training step (after ``optimizer.step()``). Writes a throttled ``batch``
        line, applies control.json at most every ``control_interval`` s; returns ``should_stop``."""
        self.global_step = int(step) if step is not None else self.global_step + 1
        if epoch is not None:
            self.current_epoch = int(epoch)
        self.log.batch(self.current_epoch, self.global_step, loss, metrics)
        now = time.monotonic()
        if now - self._last_control >= self.control_interval:
            self._last_control = now
            self.step()
        return self.should_stop

    def epoch(self, loss=None, val_loss=None, epoch=None, time=None, **metrics):
        """Call at the end of every epoch; ``epoch`` is 0-based (counted for you when omitted).
        Extra keyword arguments are metrics (``accuracy=…, val_accuracy=…``); the optimizer's
        learning rate is added. Applies control.json; returns ``should_stop``."""
        import time as _time
        e = self.current_epoch if epoch is None else int(epoch)
        if "learning_rate" not in metrics and self.optimizer is not None and self.optimizer.param_groups:
            metrics["learning_rate"] = self.optimizer.param_groups[0].get("lr")
        elapsed = time if time is not None else _time.monotonic() - self._epoch_start
        self.log.epoch(e, loss, val_loss, metrics, step=self.global_step, time=elapsed)
        self.current_epoch = e + 1
        self._epoch_start = _time.monotonic()
        self.step()
        return self.should_stop

    def end(self, reason=None, message=None):
        """Writes the ``end`` line (once). Default reason: "stopped" when the dashboard asked,
        else "completed"."""
        if self.log.ended:
            return
        if reason is None:
            reason = "stopped" if self.should_stop else "completed"
            if message is None and self.should_stop:
                message = "stopped as asked (control revision %s)" % self.stop_revision
        self.log.end(reason, message)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.end()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.end("error", "%s: %s" % (exc_type.__name__, exc))
        return False

    # -- control -------------------------------------------------------------------------------

    def step(self):
        """Applies a new control.json revision now, if there is one (call between steps: not
        between ``backward()`` and ``optimizer.step()`` if you want this step unaffected).
        Returns ``should_stop``."""
        if self.control is None:
            return self.should_stop
        c = self.control.poll()
        if c is None:
            return self.should_stop
        if isinstance(c, ControlError):
            self.log.control(c.revision, "rejected", [], "%s; training goes on unchanged" % c)
            return self.should_stop
        if c.stop:
            self.should_stop = True
            self.stop_revision = c.revision
            self.log.control(c.revision, "applied", [], "stopping as asked (the training loop "
                             "sees tracker.should_stop)")
            return True
        try:
            changed = apply_trainable(self.model, c.trainable, self.optimizer)
        except KeyError as e:
            names = e.args[0]
            self.log.control(c.revision, "rejected", [],
                             "unknown layer name%s: %s (names are those of the model line); "
                             "nothing changed, training goes on"
                             % ("s" if len(names) > 1 else "", ", ".join(sorted(names))))
            return self.should_stop
        if changed:
            self.write_model()
        self.log.control(c.revision, "applied", changed,
                         "requires_grad set between steps" if changed else
                         "the layers already had these flags")
        return self.should_stop
