"""finetop for the Hugging Face ``Trainer``: a ``TrainerCallback``.

    from finetop.transformers import FinetopTrainerCallback

    trainer = Trainer(model=model, args=TrainingArguments(..., eval_strategy="epoch",
                                                          logging_steps=10),
                      train_dataset=train, eval_dataset=val,
                      callbacks=[FinetopTrainerCallback()])
    trainer.train()

What it writes: ``run`` and ``model`` at ``on_train_begin``; a ``batch`` line per Trainer log
(``on_log``, so ``logging_steps`` sets how often; at most ~10 per second); an ``epoch`` line per
epoch with the epoch's last logged training loss and, with ``eval_strategy="epoch"``, the
evaluation metrics as ``val_*`` (``on_epoch_end`` / ``on_evaluate``; it asks the Trainer to log
at every epoch end); ``end`` at ``on_train_end``.

Control: read at ``on_step_begin`` (at most every ``control_interval`` s) and at every epoch
end. A layer toggle is applied between optimizer steps with ``requires_grad_`` on that module's
own parameters (names as ``named_modules()`` gives them, e.g.
``bert.encoder.layer.1.attention.self.query``; a container name such as ``bert.encoder.layer.1``
changes its whole sub-tree). The Trainer builds its optimizer from the parameters that required
grad at the start, so newly unfrozen parameters are added as a new param group (settings of the
first group; the learning-rate scheduler is extended to the new group). ``stop: true`` sets
``control.should_training_stop``; ``end`` says "stopped".
"""

import sys
import time

import torch
import transformers
from transformers import TrainerCallback

from .control import ControlError, ControlReader
from .runlog import RunLog, to_number
from .torch import apply_trainable, model_layers

__all__ = ["FinetopTrainerCallback"]

_NOT_METRICS = {"epoch", "total_flos", "step"}


def _val_metrics(metrics):
    out = {}
    for k, v in (metrics or {}).items():
        n = to_number(v)
        if n is None or k in _NOT_METRICS:
            continue
        if k.endswith(("_runtime", "_samples_per_second", "_steps_per_second")):
            continue
        name = "val_" + k[len("eval_"):] if k.startswith("eval_") else "val_" + k
        out[name] = n
    return out


def _extend_scheduler(scheduler, optimizer):
    """After a param group was added: give LambdaLR-style schedulers an entry for it."""
    sched = getattr(scheduler, "scheduler", scheduler)  # accelerate wraps it
    groups = optimizer.param_groups
    base_lrs = getattr(sched, "base_lrs", None)
    if not isinstance(base_lrs, list) or len(base_lrs) >= len(groups):
        return
    for g in groups[len(base_lrs):]:
        g.setdefault("initial_lr", groups[0].get("initial_lr", g["lr"]))
        base_lrs.append(g["initial_lr"])
    lambdas = getattr(sched, "lr_lambdas", None)
    if isinstance(lambdas, list) and lambdas:
        while len(lambdas) < len(groups):
            lambdas.append(lambdas[0])
    last = getattr(sched, "_last_lr", None)
    if isinstance(last, list):
        while len(last) < len(groups):
            last.append(groups[len(last)]["lr"])


def _siblings(cb):
    """The Trainer's other callbacks (for EarlyStoppingCallback), found in a calling frame."""
    try:
        frame = sys._getframe(2)
    except ValueError:
        return []
    for _ in range(6):
        if frame is None:
            break
        me = frame.f_locals.get("self")
        cbs = getattr(me, "callbacks", None)
        if isinstance(cbs, list) and cb in cbs:
            return cbs
        frame = frame.f_back
    return []


class FinetopTrainerCallback(TrainerCallback):
    """Writes the run format for ``Trainer.train()`` and applies control.json between steps.

    Args:
        run_dir: default ``$FINETOP_RUN_DIR``, else ``runs/<timestamp>``.
        hparams: extra hyper-parameters for the run line (e.g. ``augmentation``).
        control: read control.json (default True).
        control_interval: seconds between control.json checks at step starts.
    """

    def __init__(self, run_dir=None, hparams=None, control=True, batch_interval=0.1,
                 control_interval=0.5):
        self.log = RunLog(run_dir, batch_interval=batch_interval)
        self.run_dir = self.log.dir
        self.control = ControlReader(self.run_dir) if control else None
        self.control_interval = control_interval
        self.extra_hparams = dict(hparams or {})
        self.revision = -1
        self.model = None
        self.optimizer = None
        self.scheduler = None
        self.stop_revision = None
        self._callbacks = []
        self._last_control = 0.0
        self._epoch_start = time.monotonic()
        self._train_loss = None
        self._last_eval = {}
        self._pending_epoch = None  # (epoch index, seconds) waiting for its logs / evaluation
        self._written_epochs = set()

    # -- helpers -------------------------------------------------------------------------------

    def _grab(self, kwargs):
        if kwargs.get("model") is not None:
            self.model = kwargs["model"]
        if kwargs.get("optimizer") is not None:
            self.optimizer = kwargs["optimizer"]
        if kwargs.get("lr_scheduler") is not None:
            self.scheduler = kwargs["lr_scheduler"]

    def write_model(self):
        self.revision += 1
        self.log.model(self.revision, model_layers(self.model))

    def _hparams(self, args):
        h = {
            "optimizer": str(getattr(args.optim, "value", args.optim)),
            "learning_rate": args.learning_rate,
            "batch_size": args.per_device_train_batch_size * max(1, args.gradient_accumulation_steps),
            "epochs": args.num_train_epochs if args.max_steps is None or args.max_steps <= 0 else None,
            "augmentation": [],
            "dropout": sorted({float(m.p) for m in self.model.modules()
                               if isinstance(m, torch.nn.Dropout) and m.p > 0}),
            "early_stopping": None,
            "weight_decay": args.weight_decay,
            "lr_scheduler": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
            "warmup_steps": args.warmup_steps,
            "max_steps": args.max_steps if args.max_steps and args.max_steps > 0 else None,
        }
        for cb in self._callbacks:
            if type(cb).__name__ == "EarlyStoppingCallback":
                h["early_stopping"] = {
                    "monitor": args.metric_for_best_model or "eval_loss",
                    "patience": cb.early_stopping_patience,
                    "min_delta": cb.early_stopping_threshold,
                    "restore_best_weights": bool(args.load_best_model_at_end),
                }
        h.update(self.extra_hparams)
        return h

    def _task(self):
        config = getattr(self.model, "config", None)
        n = getattr(config, "num_labels", None)
        problem = getattr(config, "problem_type", None)
        if problem == "regression" or n == 1:
            return {"kind": "regression", "num_classes": None, "loss": "mse"}
        if n:
            return {"kind": "classification", "num_classes": int(n),
                    "loss": "bce" if problem == "multi_label_classification" else "cross_entropy"}
        return {"kind": None, "num_classes": None, "loss": None}

    def _flush_epoch(self):
        if self._pending_epoch is None:
            return
        epoch, seconds, step = self._pending_epoch
        self._pending_epoch = None
        if epoch in self._written_epochs:
            return
        self._written_epochs.add(epoch)
        metrics = dict(self._last_eval)
        lr = self._lr()
        if lr is not None:
            metrics.setdefault("learning_rate", lr)
        self.log.epoch(epoch, self._train_loss, metrics.pop("val_loss", None), metrics,
                       step=step, time=seconds)
        self._last_eval = {}

    def _lr(self):
        if self.optimizer is not None and self.optimizer.param_groups:
            return to_number(self.optimizer.param_groups[0].get("lr"))
        return None

    def _apply_control(self, control):
        if self.control is None or self.model is None:
            return
        c = self.control.poll()
        if c is None:
            return
        if isinstance(c, ControlError):
            self.log.control(c.revision, "rejected", [], "%s; training goes on unchanged" % c)
            return
        if c.stop:
            self.stop_revision = c.revision
            control.should_training_stop = True
            self.log.control(c.revision, "applied", [], "stopping at the end of this step as asked")
            return
        groups_before = len(self.optimizer.param_groups) if self.optimizer is not None else 0
        try:
            changed = apply_trainable(self.model, c.trainable, self.optimizer)
        except KeyError as e:
            names = e.args[0]
            self.log.control(c.revision, "rejected", [],
                             "unknown layer name%s: %s (names are those of the model line); "
                             "nothing changed, training goes on"
                             % ("s" if len(names) > 1 else "", ", ".join(sorted(names))))
            return
        if self.optimizer is not None and len(self.optimizer.param_groups) > groups_before:
            _extend_scheduler(self.scheduler, self.optimizer)
        if changed:
            self.write_model()
        self.log.control(c.revision, "applied", changed,
                         "requires_grad set between steps" if changed else
                         "the layers already had these flags")

    # -- Trainer hooks -------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        self._grab(kwargs)
        self._callbacks = _siblings(self)
        self.log.run("transformers", transformers.__version__, task=self._task(),
                     hparams=self._hparams(args), torch_version=torch.__version__)
        self.write_model()
        self._epoch_start = time.monotonic()

    def on_step_begin(self, args, state, control, **kwargs):
        self._grab(kwargs)
        self._flush_epoch()
        now = time.monotonic()
        if now - self._last_control >= self.control_interval:
            self._last_control = now
            self._apply_control(control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self._train_loss = to_number(logs["loss"])
            metrics = {k: v for k, v in logs.items() if k not in ("loss", "epoch")}
            epoch = int(state.epoch or 0)
            if self._pending_epoch is not None:
                epoch = self._pending_epoch[0]
            self.log.batch(epoch, state.global_step, self._train_loss, metrics)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._last_eval = _val_metrics(metrics)
        self._flush_epoch()

    def on_epoch_end(self, args, state, control, **kwargs):
        self._grab(kwargs)
        epoch = max(0, int(round(state.epoch or 0)) - 1)
        now = time.monotonic()
        self._pending_epoch = (epoch, now - self._epoch_start, state.global_step)
        self._epoch_start = now
        control.should_log = True  # so the epoch's training loss reaches on_log
        self._apply_control(control)

    def on_train_end(self, args, state, control, **kwargs):
        self._flush_epoch()
        if self.stop_revision is not None:
            self.log.end("stopped", "stopped as asked (control revision %d) at step %d"
                         % (self.stop_revision, state.global_step))
            return
        for cb in self._callbacks:
            if type(cb).__name__ == "EarlyStoppingCallback" and \
                    getattr(cb, "early_stopping_patience_counter", 0) >= cb.early_stopping_patience:
                self.log.end("early_stopping", "EarlyStoppingCallback(patience=%d) stopped at step %d"
                             % (cb.early_stopping_patience, state.global_step))
                return
        if state.max_steps and state.global_step < state.max_steps:
            self.log.end("stopped", "training stopped at step %d of %d"
                         % (state.global_step, state.max_steps))
        else:
            self.log.end("completed", "trained %d steps" % state.global_step)
