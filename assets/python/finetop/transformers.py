"""finetop for the Hugging Face ``Trainer``: a ``TrainerCallback``.

    from finetop.transformers import FinetopTrainerCallback

    trainer = Trainer(model=model, args=TrainingArguments(..., eval_strategy="epoch",
                                                          logging_steps=10),
                      train_dataset=train, eval_dataset=val,
                      callbacks=[FinetopTrainerCallback()])
    trainer.train()

What it writes: ``run`` and ``model`` at ``on_train_begin``; a ``batch`` line per Trainer log
(``on_log``, so ``logging_steps`` sets how often; at most ~10 per second), tagged with the epoch
the logged steps belong to; an ``epoch`` line per epoch with the epoch's mean training loss (the
Trainer's logged means weighted by the steps each covers; it asks the Trainer to log at every epoch
end so the last steps are counted) and, with ``eval_strategy="epoch"``, the evaluation metrics as
``val_*`` (``on_epoch_end`` / ``on_evaluate``); ``end`` at ``on_train_end``.

Control: looked at (an ``lstat``) at every ``on_step_begin`` and read when it changed (else at
least every ``control_interval`` s), and read at every epoch end: a new revision applies before
the next optimizer step. A layer toggle is applied between optimizer steps with ``requires_grad_`` on that module's
own parameters (names as ``named_modules()`` gives them, e.g.
``bert.encoder.layer.1.attention.self.query``; a container name such as ``bert.encoder.layer.1``
changes its whole sub-tree). The Trainer builds its optimizer from the parameters that required
grad at the start, so newly unfrozen parameters are added as new param groups: those the Trainer
would decay (``Trainer.get_decay_parameter_names``) with the settings of its decay group, biases and
LayerNorm weights with weight decay 0 like the Trainer's own exempt group; the learning-rate
scheduler is extended so the new groups follow it. Frozen BatchNorm-like layers are held in eval
mode (see finetop.torch). A module with some of its own parameters frozen (a frozen weight and a
trainable bias) shows as ``partial``. ``stop: true`` sets ``control.should_training_stop``; ``end``
says "stopped".

``learning_rate`` sets every param group of the Trainer's optimizer and scales the base rates of
its ``lr_scheduler`` (every ``lr_scheduler_type`` is a ``LambdaLR``, or ReduceLROnPlateau), so the
schedule — warm-up and decay — goes on from the new rate (``finetop.moves``);
``unfreeze_lr_factor`` puts the layers a revision unfreezes in their own param groups at the
head's rate × factor (decay and no-decay split as the Trainer splits them), following the
schedule; a gradual-unfreezing ``plan`` takes its steps at epoch ends (``on_epoch_end``).
``target=`` writes what you expect the run to reach into the run line for the diagnosis.

Under torchrun / ``accelerate launch`` (DDP): only global rank 0 writes the run (its run line
records ``world_size`` and ``ranks``) and reads control.json; at every step start its decision is
broadcast through the job's process group, so every rank applies the same revision at the same
step; the Trainer's DistributedDataParallel wrapper is rebuilt in place for the new trainable set
(see finetop.torch). FSDP and DeepSpeed: toggles are refused with a message, stop works.
"""

from __future__ import annotations

import math
import sys
import time
from types import FrameType
from typing import Any, Optional

import torch
import transformers
from transformers import TrainerCallback

from .runlog import target_hparam, to_number
from .torch import Steering, open_log, ranks_info, sharded_by

__all__ = ["FinetopTrainerCallback"]

_NOT_METRICS = {"epoch", "total_flos", "step"}


def _val_metrics(metrics: Optional[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in (metrics or {}).items():
        n = to_number(v)
        if n is None or k in _NOT_METRICS:
            continue
        if k.endswith(("_runtime", "_samples_per_second", "_steps_per_second")):
            continue
        name = "val_" + k[len("eval_"):] if k.startswith("eval_") else "val_" + k
        out[name] = n
    return out


def _find_trainer() -> Any:
    """The Trainer whose callbacks are running, found in a calling frame (or None)."""
    frame: Optional[FrameType] = sys._getframe(1)
    for _ in range(12):
        if frame is None:
            return None
        me = frame.f_locals.get("self")
        if isinstance(me, transformers.Trainer):
            return me
        frame = frame.f_back
    return None


def _decay_names(trainer: Any, model: torch.nn.Module) -> set[str]:
    """Names of the parameters the Trainer decays, as the Trainer decides."""
    if trainer is not None:
        try:
            return set(trainer.get_decay_parameter_names(model))
        except Exception:
            pass
    try:
        return set(transformers.Trainer.get_decay_parameter_names(None, model))
    except Exception:
        return {n for n, _ in model.named_parameters()
                if "bias" not in n.lower() and "norm" not in n.lower()}


def _siblings(cb: TrainerCallback) -> list[Any]:
    """The Trainer's other callbacks (for EarlyStoppingCallback), found in a calling frame."""
    try:
        frame: Optional[FrameType] = sys._getframe(2)
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
        hold_norm_stats: keep frozen BatchNorm-like layers in eval mode (default True).
        target: what you expect the run to reach, for the diagnosis (avoidable bias): an
            accuracy (``0.9``) or ``{"accuracy": 0.9}`` / ``{"loss": 0.3}``; written into the run
            line's ``hparams["target"]``.
    """

    def __init__(self, run_dir: Optional[str] = None, hparams: Optional[dict[str, Any]] = None,
                 control: bool = True, batch_interval: float = 0.1,
                 control_interval: float = 0.5, hold_norm_stats: bool = True,
                 target: Any = None) -> None:
        self.target = target_hparam(target)  # a bad target raises before anything is written
        self.log = open_log(run_dir, batch_interval=batch_interval)  # global rank 0 only
        self.run_dir = self.log.dir
        self.steering = Steering(self.log, control, hold_norm_stats)
        self.steering.no_decay = self._no_decay
        self.control = self.steering.control
        self.control_interval = control_interval
        self.extra_hparams = dict(hparams or {})
        self.model: Optional[torch.nn.Module] = None
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.scheduler: Any = None
        self._trainer: Any = None  # the transformers.Trainer, when found
        self._callbacks: list[Any] = []
        self._last_control = 0.0
        self._epoch_start = time.monotonic()
        self._epoch = 0
        self._loss_sum = 0.0
        self._loss_steps = 0
        self._last_logged_step = 0
        self._last_eval: dict[str, float] = {}
        # (epoch index, seconds, step) waiting for its logs / evaluation
        self._pending_epoch: Optional[tuple[int, float, int]] = None  # (epoch index, seconds, step) waiting for its logs / evaluation
        self._written_epochs: set[int] = set()

    @property
    def revision(self) -> int:
        return self.steering.revision

    @property
    def stop_revision(self) -> Optional[int]:
        return self.steering.stop_revision

    # -- helpers -------------------------------------------------------------------------------

    def _grab(self, kwargs: dict[str, Any]) -> None:
        if kwargs.get("model") is not None:
            self.model = kwargs["model"]
        if kwargs.get("optimizer") is not None:
            self.optimizer = kwargs["optimizer"]
        if kwargs.get("lr_scheduler") is not None:
            self.scheduler = kwargs["lr_scheduler"]
        self.steering.attach(self.model, self.optimizer, [self.scheduler])

    def _no_decay(self) -> set[int]:
        assert self.steering.model is not None  # called while applying a toggle: attached
        decay = _decay_names(self._trainer, self.steering.model)
        return {id(p) for n, p in self.steering.model.named_parameters() if n not in decay}

    def write_model(self) -> None:
        self.steering.write_model()

    def _hparams(self, args: Any) -> dict[str, Any]:
        assert self.model is not None  # on_train_begin grabbed it
        h: dict[str, Any] = {
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
        if self.target is not None:
            h["target"] = self.target
        return h

    def _task(self) -> dict[str, Any]:
        config = getattr(self.model, "config", None)
        n = getattr(config, "num_labels", None)
        problem = getattr(config, "problem_type", None)
        if problem == "regression" or n == 1:
            return {"kind": "regression", "num_classes": None, "loss": "mse"}
        if n:
            return {"kind": "classification", "num_classes": int(n),
                    "loss": "bce" if problem == "multi_label_classification" else "cross_entropy"}
        return {"kind": None, "num_classes": None, "loss": None}

    def _flush_epoch(self) -> None:
        if self._pending_epoch is None:
            return
        epoch, seconds, step = self._pending_epoch
        self._pending_epoch = None
        loss = self._loss_sum / self._loss_steps if self._loss_steps else None
        self._loss_sum, self._loss_steps = 0.0, 0
        if epoch in self._written_epochs:
            return
        self._written_epochs.add(epoch)
        metrics = dict(self._last_eval)
        lr = self._lr()
        if lr is not None:
            metrics.setdefault("learning_rate", lr)
        self.log.epoch(epoch, loss, metrics.pop("val_loss", None), metrics, step=step, time=seconds)
        self._last_eval = {}

    def _lr(self) -> Optional[float]:
        if self.optimizer is not None and self.optimizer.param_groups:
            return to_number(self.optimizer.param_groups[0].get("lr"))
        return None

    def _apply_control(self, control: Any, state: Any, poll: bool = True,
                       epoch_end: bool = False) -> None:
        if self.steering.model is None:
            return
        last = epoch_end and bool(state.max_steps) and state.global_step >= state.max_steps
        if self.steering.sync(poll, "stopping at the end of this step as asked", epoch=self._epoch,
                              step=state.global_step, epoch_end=epoch_end, last_epoch=last):
            control.should_training_stop = True

    # -- Trainer hooks -------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._trainer = _find_trainer()
        self._callbacks = _siblings(self)
        if getattr(self._trainer, "is_deepspeed_enabled", False):
            self.steering.refusal = sharded_by("DeepSpeed")
        elif getattr(self._trainer, "is_fsdp_enabled", False):
            self.steering.refusal = sharded_by("FSDP")
        self._grab(kwargs)
        assert self.steering.model is not None  # the Trainer passes its model
        self.steering.norm_stats.sync(self.steering.model)
        ranks = ranks_info()  # every rank runs on_train_begin
        self.log.run("transformers", transformers.__version__, task=self._task(),
                     hparams=self._hparams(args), torch_version=torch.__version__,
                     world_size=len(ranks), ranks=ranks)
        self.write_model()
        self._epoch_start = time.monotonic()
        self._last_logged_step = state.global_step

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._flush_epoch()
        self._epoch = max(0, int(math.floor((state.epoch or 0) + 1e-6)))
        self.steering.layer_stats.begin()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._grab(kwargs)
        self._flush_epoch()
        now = time.monotonic()
        due = now - self._last_control >= self.control_interval or self.steering.control_changed()
        if due:
            self._last_control = now
        if due or self.steering.distributed:  # every rank meets rank 0 at every step
            self._apply_control(control, state, poll=due)

    def on_log(self, args: Any, state: Any, control: Any, logs: Optional[dict[str, Any]] = None,
               **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" in logs:
            loss = to_number(logs["loss"])
            steps = state.global_step - self._last_logged_step
            self._last_logged_step = state.global_step
            if loss is not None and steps > 0:
                self._loss_sum += loss * steps
                self._loss_steps += steps
            metrics = {k: v for k, v in logs.items() if k not in ("loss", "epoch")}
            epoch = self._pending_epoch[0] if self._pending_epoch is not None else self._epoch
            self.log.batch(epoch, state.global_step, loss, metrics)

    def on_evaluate(self, args: Any, state: Any, control: Any,
                    metrics: Optional[dict[str, Any]] = None, **kwargs: Any) -> None:
        self._last_eval = _val_metrics(metrics)
        self._flush_epoch()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._grab(kwargs)
        now = time.monotonic()
        self._pending_epoch = (self._epoch, now - self._epoch_start, state.global_step)
        self._epoch_start = now
        self.steering.layer_stats.end(self._epoch)  # now, before a toggle at this epoch end
        control.should_log = True  # so the epoch's last training steps reach on_log
        self._apply_control(control, state, epoch_end=True)  # a plan's due step is taken here

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
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
