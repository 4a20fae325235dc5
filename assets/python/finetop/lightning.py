"""finetop for Lightning: a callback in the style of ``BaseFinetuning`` that writes the run format
and lets the dashboard freeze, unfreeze and stop while ``Trainer.fit`` runs.

    from finetop.lightning import FinetopCallback

    trainer = lightning.Trainer(max_epochs=20, callbacks=[FinetopCallback()])
    trainer.fit(model, train_loader, val_loader)

Works with ``import lightning`` and with ``import pytorch_lightning``, in one process and with
``strategy="ddp"`` (Lightning's own launcher or torchrun).

What it writes (global rank 0 only; the run line records ``world_size`` and ``ranks``): ``run`` and
``model`` at ``on_fit_start`` (rows are the LightningModule's ``named_modules()``, as in
finetop.torch); a ``batch`` line per training step (at most ~10 per second) with the step's loss
(``training_step``'s returned loss); an ``epoch`` line at every training epoch end with the epoch's
mean training loss over all ranks and the logged metrics (``trainer.callback_metrics``: ``val_loss``
and other ``val_*`` from validation, ``*_epoch`` values without the suffix) and the first param
group's learning rate; ``end`` when fit ends (completed, stopped, or error with the exception).

Control, at optimizer-step boundaries (``on_train_batch_end`` once gradients are no longer being
accumulated, at most every ``control_interval`` s, and every epoch end): global rank 0 reads
control.json and its decision is broadcast to every rank, which applies it at the same step. A
toggle does what it does in finetop.torch: ``requires_grad_`` on the module's own parameters (a
container name changes its sub-tree); newly unfrozen parameters are added to the first optimizer as
a new param group (the first group's settings) and its LR schedulers are extended so the group
follows them, as ``BaseFinetuning.unfreeze_and_add_param_group`` leaves you to do by hand; frozen
BatchNorm layers are held in eval mode (statistics fixed; ``hold_norm_stats=False`` keeps
PyTorch's default — ``BaseFinetuning.freeze(train_bn=True)``); under DDP the strategy's
DistributedDataParallel wrapper is rebuilt in place for the new trainable set so gradients of newly
trainable parameters are averaged and frozen ones are not waited for (``strategy="ddp"`` needs no
``find_unused_parameters``). FSDP and DeepSpeed: toggles are refused with a message. ``stop``
sets ``trainer.should_stop`` on every rank at the same step.

``learning_rate`` sets every param group of ``trainer.optimizers[0]`` and scales the base rates
of the schedulers in ``trainer.lr_scheduler_configs`` so they go on from the new rate
(``finetop.moves``); ``unfreeze_lr_factor`` puts the layers a revision unfreezes in their own
param group at the head's rate × factor, following the schedulers (what ``BackboneFinetuning``
does by hand with ``lr / 10``); a gradual-unfreezing ``plan`` takes its steps at training epoch
ends. A changed control.json is seen at the next optimizer step (an ``lstat`` per step).
``target=`` writes what you expect the run to reach into the run line for the diagnosis.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import torch

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl

from .runlog import RunLog, target_hparam, to_number
from .torch import (NullLog, Steering, _printable, _task, hparams_of, open_log, output_shapes,
                    ranks_info, sharded_by)

__all__ = ["FinetopCallback"]


def _metrics(trainer: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in dict(trainer.callback_metrics).items():
        n = to_number(v)
        if n is None or k.endswith("_step"):
            continue
        out[k[:-len("_epoch")] if k.endswith("_epoch") else k] = n
    return out


class FinetopCallback(pl.Callback):
    """Writes the run format for ``Trainer.fit`` and applies control.json between steps.

    Args:
        run_dir: default ``$FINETOP_RUN_DIR``, else ``runs/<timestamp>``.
        hparams: extra hyper-parameters for the run line (``batch_size``, ``augmentation``…).
        loss: the loss function (or its name), for the task shown in the dashboard.
        example_input: one input batch; a forward pass with it fills in the output shapes.
        control: read control.json (default True).
        control_interval: seconds between control.json checks at step ends.
        hold_norm_stats: keep frozen BatchNorm-like layers in eval mode (default True).
        target: what you expect the run to reach, for the diagnosis (avoidable bias): an
            accuracy (``0.9``) or ``{"accuracy": 0.9}`` / ``{"loss": 0.3}``; written into the run
            line's ``hparams["target"]``.
    """

    def __init__(self, run_dir: Optional[str] = None, hparams: Optional[dict[str, Any]] = None,
                 loss: Any = None, example_input: Any = None, control: bool = True,
                 batch_interval: float = 0.1, control_interval: float = 0.5,
                 hold_norm_stats: bool = True, target: Any = None) -> None:
        self.target = target_hparam(target)  # a bad target raises before anything is written
        self._run_dir = run_dir
        self.extra_hparams = dict(hparams or {})
        self.loss = loss
        self.example_input = example_input
        self.use_control = control
        self.batch_interval = batch_interval
        self.control_interval = control_interval
        self.hold_norm_stats = hold_norm_stats
        self.log: Optional[RunLog | NullLog] = None
        self.steering: Optional[Steering] = None
        self.run_dir: Optional[str] = None
        self._shapes: dict[str, str] = {}
        self._last_control = 0.0
        self._epoch_start = time.monotonic()
        self._loss_sum = 0.0
        self._loss_count = 0

    # -- setup ---------------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit" or self.steering is not None:
            return
        self.log = open_log(self._run_dir, self.batch_interval, rank=trainer.global_rank)
        self.run_dir = self.log.dir
        self.steering = Steering(self.log, self.use_control, self.hold_norm_stats)
        self.steering.rank, self.steering.world_size = trainer.global_rank, trainer.world_size
        if trainer.global_rank != 0:
            self.steering.control = None
        strategy = type(trainer.strategy).__name__
        if "DeepSpeed" in strategy or "FSDP" in strategy:
            self.steering.refusal = sharded_by(strategy)

    def _attach(self, trainer: Any, pl_module: Any) -> None:
        assert self.steering is not None  # setup() came first
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        schedulers = [c.scheduler for c in getattr(trainer, "lr_scheduler_configs", [])]
        self.steering.attach(pl_module, optimizer, schedulers)
        wrapper = getattr(trainer.strategy, "model", None)
        if isinstance(wrapper, torch.nn.parallel.DistributedDataParallel) \
                and all(wrapper is not w for w in self.steering.wrappers):
            self.steering.wrappers.append(wrapper)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self.steering is None:
            self.setup(trainer, pl_module, "fit")
        assert self.steering is not None and self.log is not None  # setup() made them
        self._attach(trainer, pl_module)
        if self.example_input is not None:
            try:
                self._shapes = output_shapes(pl_module, self.example_input)
            except Exception:
                self._shapes = {}
        self.steering.norm_stats.sync(pl_module)
        ranks = ranks_info()  # a collective under DDP: every rank runs on_fit_start
        h = hparams_of(pl_module, self.steering.optimizer, epochs=trainer.max_epochs,
                       **self.extra_hparams)
        if self.target is not None:
            h["target"] = self.target
        if trainer.accumulate_grad_batches > 1:
            h.setdefault("accumulate_grad_batches", trainer.accumulate_grad_batches)
        self.log.run("lightning", pl.__version__, task=_task(pl_module, self.loss), hparams=h,
                     torch_version=torch.__version__, world_size=len(ranks), ranks=ranks,
                     strategy=type(trainer.strategy).__name__)
        self.steering.write_model(self._shapes)
        self._epoch_start = time.monotonic()

    # -- training ------------------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        assert self.steering is not None  # on_fit_start came first
        self._epoch_start = time.monotonic()
        self._loss_sum, self._loss_count = 0.0, 0
        self.steering.layer_stats.begin()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        loss = to_number(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        if loss is not None:
            self._loss_sum += loss
            self._loss_count += 1
        assert self.steering is not None and self.log is not None  # on_fit_start came first
        self.log.batch(trainer.current_epoch, trainer.global_step, loss)
        if (batch_idx + 1) % max(1, trainer.accumulate_grad_batches):
            return  # gradients are still being accumulated: not a safe point
        now = time.monotonic()
        due = now - self._last_control >= self.control_interval or self.steering.control_changed()
        if due:
            self._last_control = now
        if due or self.steering.distributed:  # every rank meets rank 0 at every step
            self._sync(trainer, poll=due)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        assert self.steering is not None and self.log is not None  # on_fit_start came first
        totals = torch.tensor([self._loss_sum, float(self._loss_count)], dtype=torch.float64)
        if self.steering.distributed:
            d = torch.distributed
            device = torch.device("cuda", torch.cuda.current_device()) \
                if d.get_backend() == "nccl" else torch.device("cpu")
            totals = totals.to(device)
            d.all_reduce(totals)
        loss = (totals[0] / totals[1]).item() if totals[1].item() > 0 else None
        metrics: dict[str, Any] = _metrics(trainer)
        for k in ("train_loss", "loss"):
            if loss is None and k in metrics:
                loss = metrics[k]
            metrics.pop(k, None)
        if self.steering.optimizer is not None and self.steering.optimizer.param_groups:
            metrics.setdefault("learning_rate", self.steering.optimizer.param_groups[0].get("lr"))
        self.log.epoch(trainer.current_epoch, loss, metrics.pop("val_loss", None), metrics,
                       step=trainer.global_step, time=time.monotonic() - self._epoch_start)
        self.steering.layer_stats.end(trainer.current_epoch)  # before a toggle at this epoch end
        self._sync(trainer, poll=True, epoch_end=True)  # a plan's due step is taken here

    def _sync(self, trainer: Any, poll: bool, epoch_end: bool = False) -> None:
        self._attach(trainer, trainer.lightning_module)
        assert self.steering is not None  # _attach() needs it too
        last = epoch_end and (trainer.max_epochs or -1) > 0 \
            and trainer.current_epoch + 1 >= trainer.max_epochs
        if self.steering.sync(poll, "stopping as asked (trainer.should_stop on every rank)",
                              self._shapes, epoch=trainer.current_epoch,
                              step=trainer.global_step, epoch_end=epoch_end, last_epoch=last):
            trainer.should_stop = True

    # -- the end -------------------------------------------------------------------------------

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.log is None or self.log.ended:
            return
        assert self.steering is not None  # setup() made it with the log
        if self.steering.should_stop:
            self.log.end("stopped", "stopped as asked (control revision %s) at step %d"
                         % (self.steering.stop_revision, trainer.global_step))
        elif any(type(cb).__name__ == "EarlyStopping" and getattr(cb, "stopped_epoch", 0)
                 for cb in trainer.callbacks):
            self.log.end("early_stopping", "EarlyStopping stopped at step %d" % trainer.global_step)
        else:
            self.log.end("completed", "trained %d steps" % trainer.global_step)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.log is None or self.log.ended:
            return
        if isinstance(exception, KeyboardInterrupt):
            self.log.end("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.log.end("error", _printable("%s: %s" % (type(exception).__name__, exception)))
