"""finetop for PyTorch: a tracker you call from your own training loop.

    from finetop.torch import Tracker

    tracker = Tracker(model, optimizer, scheduler=scheduler, loss=loss_fn,
                      hparams={"batch_size": 64, "epochs": 20})
    for epoch in range(20):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if tracker.batch(loss=loss):          # logs (throttled) and applies control.json
                break
        if tracker.epoch(loss=train_loss, val_loss=val_loss, accuracy=acc, val_accuracy=val_acc):
            break                                  # the dashboard asked to stop
    tracker.end()

The ``model`` line lists every module that owns parameters (``named_modules()`` names such as
``features.0``), with ``params`` counted as torchinfo counts them (``p.numel()`` of the module's
own parameters), ``trainable_params`` the ones with ``requires_grad``, ``learnable_params`` (=
``params``: every parameter of a module is one the optimizer would update if it trained),
``partial: true`` when some but not all of the module's own parameters train, and
``stats_frozen: true`` on a frozen norm layer whose running statistics finetop holds fixed.
Buffers (BatchNorm's running mean/var) are not parameters and are not counted.

What a toggle does (applied between steps — in ``batch()`` as soon as control.json changed, an
``lstat`` per call, and at least every ``control_interval`` seconds; in ``epoch()`` and
``step()``):

- ``requires_grad_`` on that module's own parameters (or on a whole sub-tree when the name is a
  container such as ``features``); gradients of newly frozen parameters are cleared.
- Newly unfrozen parameters the optimizer doesn't hold are added as a new param group with the
  current settings of the first group (its learning rate, momentum, weight decay…). A re-freeze
  keeps them in the optimizer (a parameter without a gradient is not updated); a later unfreeze
  reuses that group. Optimizer state (Adam moments) of a re-frozen parameter is kept.
- Learning-rate schedulers follow the new group: every scheduler of ``torch.optim.lr_scheduler``
  (and transformers' ``get_*_schedule_with_warmup``, which are ``LambdaLR``) bound to the
  optimizer gets the new group's entry in its per-group lists (``base_lrs``, ``lr_lambdas``,
  ``min_lrs``, ``max_lrs``, momentums…), copied from the first group's, so the new group follows
  the first group's schedule from where it is. Pass ``scheduler=`` (one or a list; the reliable
  way, e.g. for a scheduler of another library with per-group lists of these names); schedulers of
  torch and transformers bound to the optimizer are also found by themselves when a group is
  added (a scan of live objects, only at that moment).
- ``unfreeze_lr_factor`` / a plan's ``lr_factor``: the newly unfrozen parameters train in a group
  of their own at the head's (first group's) rate × factor, the schedulers' entries for it being
  the head's × factor, so it stays at that fraction of the head at every step.
- BatchNorm (and every norm layer with running statistics): a frozen one is held in eval mode, as
  Keras does for a non-trainable BatchNormalization: it normalizes with its running statistics and
  does not update them, across ``model.train()`` calls (a forward pre-hook), until it is unfrozen.
  ``hold_norm_stats=False`` turns this off (BatchNorm then keeps updating its statistics while its
  weights are frozen, PyTorch's default). Norm layers without parameters (``affine=False``) are
  never frozen by finetop.

``learning_rate`` sets every param group's rate at the next batch boundary and scales what the
schedulers compute rates from, so they go on from it (``finetop.moves`` says which follow exactly
and what the acknowledgement says when one cannot); a gradual-unfreezing ``plan`` takes its steps
in ``epoch()``; ``apply_now`` needs nothing here (every change applies at the next batch). A
revision applies whole or not at all. ``Tracker(..., target=0.9)`` writes what you expect the run
to reach into ``hparams["target"]`` for the diagnosis.

``stop: true`` makes ``batch()``/``epoch()``/``should_stop`` return True; ``end()`` then says
"stopped". Nothing in control.json can stop training otherwise: a malformed file, an unknown
layer name or any failure while applying it is acknowledged as rejected and training goes on.

Several processes (``torchrun``, DistributedDataParallel): build the Tracker on every rank, with
the DDP-wrapped model (or the module inside it), and call ``batch()``/``epoch()`` on every rank at
the same points — never only on rank 0 (building it is a collective; so is every ``batch()``).
Global rank 0 alone writes events.jsonl (the run line records ``world_size`` and ``ranks``) and
reads control.json; its decision is broadcast through the job's process group, so every rank
applies the same revision at the same step. After a toggle the DDP wrapper is rebuilt in place for
the new trainable set (``rewrap_ddp``): newly trainable parameters are averaged like the others and
frozen ones are not waited for, so the replicas stay identical. Toggles on a model sharded by FSDP
or DeepSpeed are refused with a message; stop works everywhere.

The run directory is ``$FINETOP_RUN_DIR`` (``finetop run -- python train.py`` sets it), else
``run_dir``, else ``runs/<timestamp>``.
"""

from __future__ import annotations

import gc
import inspect
import json
import math
import os
import socket
import time
from types import TracebackType
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, cast

import torch

from . import moves as _moves
from ._torch_stats import EpochStats
from .control import ControlError, ControlFile, ControlReader, Plan
from .runlog import RunLog, target_hparam, to_number

__all__ = ["Tracker", "Steering", "module_rows", "model_layers", "apply_trainable",
           "ensure_optimizer_has", "extend_schedulers", "find_schedulers", "NormStats"]

_DROPOUT = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
_NORM_BASE = getattr(torch.nn.modules.batchnorm, "_NormBase", torch.nn.modules.batchnorm._BatchNorm)
_SCHEDULER_TYPES = tuple(t for t in (getattr(torch.optim.lr_scheduler, "LRScheduler", None),
                                     getattr(torch.optim.lr_scheduler, "_LRScheduler", None),
                                     getattr(torch.optim.lr_scheduler, "ReduceLROnPlateau", None))
                         if t is not None)
# Scheduler attributes holding one entry per param group (torch.optim.lr_scheduler).
_PER_GROUP = ("base_lrs", "lr_lambdas", "min_lrs", "max_lrs", "base_momentums", "max_momentums",
              "_last_lr")
# What ``apply_trainable`` takes as ``no_decay``: the ids of parameters exempt from weight decay,
# or a callable giving them (as the Hugging Face Trainer decides), or None.
NoDecay = Optional[Callable[[], set[int]] | set[int]]


def _own_params(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return list(module.parameters(recurse=False))


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's module inside a DistributedDataParallel (or DataParallel) wrapper."""
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


def module_rows(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """[(name, module)] for every module that owns parameters, in ``named_modules()`` order."""
    return [(name or type(model).__name__, m) for name, m in model.named_modules()
            if _own_params(m)]


def model_layers(model: torch.nn.Module, shapes: Optional[dict[str, str]] = None,
                 held: Iterable[torch.nn.Module] = ()) -> list[dict[str, Any]]:
    """The ``layers`` of a ``model`` line (all at depth 0: every parameter is owned by exactly one
    listed module, so the rows add up to the model's totals). ``held``: the norm modules whose
    statistics are held (``stats_frozen``)."""
    rows: list[dict[str, Any]] = []
    shapes = shapes or {}
    for name, m in module_rows(model):
        params = _own_params(m)
        trainable = [p for p in params if p.requires_grad]
        row: dict[str, Any] = {
            "name": name,
            "class": type(m).__name__,
            "shape": shapes.get(name, "?"),
            "params": int(sum(p.numel() for p in params)),
            "trainable_params": int(sum(p.numel() for p in trainable)),
            "learnable_params": int(sum(p.numel() for p in params)),
            "trainable": bool(trainable),
            "depth": 0,
        }
        if 0 < len(trainable) < len(params):
            row["partial"] = True
        if m in held:
            row["stats_frozen"] = True
        rows.append(row)
    return rows


def _shape_text(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return "(None, " + ", ".join(str(int(d)) for d in out.shape[1:]) + ")" if out.dim() > 1 \
            else "(None)"
    if isinstance(out, (list, tuple)) and out:
        return "[" + ", ".join(_shape_text(o) for o in out) + "]"
    if hasattr(out, "logits") and isinstance(getattr(out, "logits"), torch.Tensor):
        return _shape_text(out.logits)
    return "?"


def output_shapes(model: torch.nn.Module, example_input: Any) -> dict[str, str]:
    """{row name: "(None, C, H, W)"} from one forward pass of ``example_input`` (no grad)."""
    names = {m: name for name, m in module_rows(model)}
    shapes: dict[str, str] = {}
    hooks = []
    for m, name in names.items():
        def hook(mod: torch.nn.Module, inp: Any, out: Any, name: str = name) -> None:
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


# -- optimizer and schedulers -----------------------------------------------------------------

def _copy_settings(group: dict[str, Any],
                   overrides: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    g = {k: (v.clone() if isinstance(v, torch.Tensor) else v)
         for k, v in group.items() if k != "params"}
    g.update(overrides or {})
    return g


def _rate_overrides(head: dict[str, Any], factor: float) -> dict[str, float]:
    """The rates of a group at ``factor`` × the head group's (its lr, and the ``initial_lr`` /
    OneCycleLR ``max_lr``/``min_lr`` a scheduler computes from)."""
    return {k: _moves._num(head[k]) * factor for k in ("lr",) + _moves.RATE_KEYS
            if k in head and head[k] is not None}


def ensure_optimizer_has(optimizer: Optional[torch.optim.Optimizer], params: Sequence[torch.Tensor],
                         no_decay: Optional[set[int]] = None,
                         lr_factor: Optional[float] = None
                         ) -> list[tuple[int, int, Optional[float], bool]]:
    """Adds the parameters of ``params`` the optimizer doesn't hold as new param groups with the
    current settings of the first group. ``no_decay``: ids of parameters that get weight decay 0
    (as the Hugging Face Trainer decides); they go to their own group, copied from the first
    group whose weight decay is 0 if there is one.

    ``lr_factor`` (not None, not 1): every parameter of ``params`` trains at the head's (the first
    group's) rate × ``lr_factor`` in a group of its own: a group other than the head holding only
    parameters of ``params`` gets that rate in place; parameters held in another group (the head,
    or a group shared with other parameters) leave it for a new group (their optimizer state is
    kept: it is keyed by parameter). Returns [(group index, template index, factor, new)]."""
    if optimizer is None or not optimizer.param_groups:
        return []
    groups = optimizer.param_groups
    if lr_factor == 1:
        lr_factor = None
    wanted = {id(p) for p in params}
    rerated: list[tuple[int, int, Optional[float], bool]] = []
    if lr_factor is not None:
        for i, g in enumerate(groups):
            if i and g["params"] and all(id(p) in wanted for p in g["params"]):
                for k, v in _rate_overrides(groups[0], lr_factor).items():
                    _moves._put(g, k, v)
                rerated.append((i, 0, lr_factor, False))
        done = {id(p) for i, _, _, _ in rerated for p in groups[i]["params"]}
        for i, g in enumerate(groups):  # the others leave their group for one of their own
            if (i, 0, lr_factor, False) not in rerated:
                g["params"] = [p for p in g["params"] if id(p) not in wanted or id(p) in done]
        held = done
    else:
        held = {id(p) for g in groups for p in g["params"]}
    missing: list[torch.Tensor] = []
    seen: set[int] = set()
    for p in params:
        if id(p) not in held and id(p) not in seen:
            missing.append(p)
            seen.add(id(p))
    if not missing:
        return rerated
    if no_decay is None:
        batches: list[tuple[list[torch.Tensor], int, dict[str, Any]]] = [(missing, 0, {})]
    else:
        decay = [p for p in missing if id(p) not in no_decay]
        exempt = [p for p in missing if id(p) in no_decay]
        decay_t = next((i for i, g in enumerate(groups) if to_number(g.get("weight_decay"))), 0)
        exempt_t = next((i for i, g in enumerate(groups) if "weight_decay" in g
                         and to_number(g.get("weight_decay")) == 0), decay_t)
        batches = [(decay, decay_t, {}), (exempt, exempt_t, {"weight_decay": 0.0})]
    added = list(rerated)
    for ps, template, overrides in batches:
        if not ps:
            continue
        if lr_factor is not None:
            overrides = dict(overrides, **_rate_overrides(groups[0], lr_factor))
        group = _copy_settings(groups[template], overrides)
        group["params"] = ps
        optimizer.add_param_group(group)
        added.append((len(optimizer.param_groups) - 1, template, lr_factor, True))
    return added


def find_schedulers(optimizer: Optional[torch.optim.Optimizer]) -> list[Any]:
    """The torch (and transformers) learning-rate schedulers alive in this process that are bound
    to ``optimizer`` (a scan of the garbage collector's objects: call it rarely)."""
    if optimizer is None or not _SCHEDULER_TYPES:
        return []
    groups = optimizer.param_groups
    found = []
    for o in gc.get_objects():
        if issubclass(type(o), _SCHEDULER_TYPES):
            opt = o.__dict__.get("optimizer") if hasattr(o, "__dict__") else None
            if opt is not None and getattr(opt, "param_groups", None) is groups:
                found.append(o)
    return found


# Per-group scheduler lists that are rates: a group at a factor of the head's rate gets the
# head's entry × factor (the others, lambdas and momentums, are copied from the template).
_RATE_LISTS = ("base_lrs", "min_lrs", "max_lrs")


def extend_schedulers(schedulers: Iterable[Any], optimizer: torch.optim.Optimizer,
                      added: Sequence[tuple[Any, ...]]) -> None:
    """Gives every scheduler (and the schedulers inside ChainedScheduler/SequentialLR, or inside
    accelerate's wrapper) an entry for each param group in ``added`` ([(new index, template
    index)] or [(index, template, factor, new)] from ``ensure_optimizer_has``), copied from the
    template group's entry; with a factor, rate entries are the head's × factor, and a group
    re-rated in place has its entries replaced."""
    entries = [(a[0], a[1], None, True) if len(a) == 2 else tuple(a) for a in added]
    for s in _moves.flatten_schedulers(schedulers):
        for attr in _PER_GROUP:
            values = getattr(s, attr, None)
            if not isinstance(values, list):
                continue
            for index, template, factor, new in entries:
                source = 0 if factor is not None and attr in _RATE_LISTS else template
                if (new and len(values) != index) or (not new and index >= len(values)) \
                        or source >= len(values):
                    continue
                if attr == "_last_lr":
                    v = optimizer.param_groups[index]["lr"]
                elif factor is not None and attr in _RATE_LISTS:
                    v = values[source] * factor
                else:
                    v = values[source]
                v = v.clone() if isinstance(v, torch.Tensor) else v
                if new:
                    values.append(v)
                else:
                    values[index] = v


# -- norm layers with running statistics -------------------------------------------------------

def _keep_eval(module: torch.nn.Module, args: Any) -> None:
    module.training = False


def _has_running_stats(m: torch.nn.Module) -> bool:
    return isinstance(m, _NORM_BASE) and bool(getattr(m, "track_running_stats", False)) \
        and getattr(m, "running_mean", None) is not None


class NormStats:
    """Holds frozen norm layers (BatchNorm, SyncBatchNorm, InstanceNorm with running stats) in eval
    mode across ``model.train()`` calls, with a forward pre-hook, until they are unfrozen."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._handles: dict[torch.nn.Module, Any] = {}  # module -> its pre-hook's handle

    @property
    def held(self) -> set[torch.nn.Module]:
        return set(self._handles)

    def sync(self, model: torch.nn.Module) -> None:
        """Holds the norm layers whose parameters are all frozen, releases the others."""
        if not self.enabled:
            return
        for m in model.modules():
            if not _has_running_stats(m):
                continue
            params = _own_params(m)
            frozen = bool(params) and not any(p.requires_grad for p in params)
            if frozen and m not in self._handles:
                self._handles[m] = m.register_forward_pre_hook(_keep_eval)
                m.training = False
            elif not frozen and m in self._handles:
                self._handles.pop(m).remove()
                m.training = model.training

    def release(self) -> None:
        for m, h in list(self._handles.items()):
            h.remove()
        self._handles.clear()


class UnknownLayers(KeyError):
    """Names in a toggle that are not modules of the model (``args[0]``: the list of them)."""


class NoTrainableLeft(ValueError):
    """A toggle would leave no parameter trainable (``loss.backward()`` would then fail)."""

    def __init__(self) -> None:
        super().__init__("it would leave no trainable parameter (loss.backward() would fail); "
                         "nothing changed, training goes on")


def check_trainable(model: torch.nn.Module,
                    desired: dict[str, bool]) -> list[tuple[torch.nn.Parameter, bool]]:
    """The (parameter, flag) flips ``desired`` {name: bool} asks for, without changing anything.
    Raises UnknownLayers (a KeyError) listing unknown names, NoTrainableLeft when nothing would
    train. A name listed in the model line means that module's own parameters; any other
    ``named_modules()`` name (a container) its whole sub-tree."""
    modules = dict(model.named_modules())
    rows = dict(module_rows(model))
    unknown = [n for n in desired if n not in rows and n not in modules]
    if unknown:
        raise UnknownLayers(unknown)
    # id -> (param, flag); a later name overrides an earlier one (a row in a container)
    target: dict[int, tuple[torch.nn.Parameter, bool]] = {}
    for name, flag in desired.items():
        m = rows.get(name) or modules[name]
        for p in (_own_params(m) if name in rows else list(m.parameters())):
            target[id(p)] = (p, flag)
    flips = [(p, flag) for p, flag in target.values() if p.requires_grad != flag]
    frozen_now = {id(p) for p, flag in flips if not flag}
    if flips and not any(p.requires_grad and id(p) not in frozen_now for p in model.parameters()) \
            and not any(flag for _, flag in flips):
        raise NoTrainableLeft()
    return flips


def apply_trainable(model: torch.nn.Module, desired: dict[str, bool],
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    schedulers: Optional[list[Any]] = None,
                    no_decay: NoDecay = None, norm_stats: Optional[NormStats] = None,
                    lr_factor: Optional[float] = None, scan: bool = True) -> list[str]:
    """Sets ``requires_grad`` from ``desired`` {name: bool}; returns the names whose state changed.
    Raises as ``check_trainable`` does (nothing changed then). Newly unfrozen parameters the
    optimizer lacks are added (``ensure_optimizer_has``; with ``lr_factor`` they train at the
    head's rate × ``lr_factor`` in a group of their own) and ``schedulers`` (default: those found
    bound to the optimizer, unless ``scan`` is False) extended; ``norm_stats`` (a NormStats) holds
    or releases norm layers. ``no_decay``: a callable giving the ids of parameters exempt from
    weight decay."""
    flips = check_trainable(model, desired)
    rows = dict(module_rows(model))
    before = {name: [p.requires_grad for p in _own_params(m)] for name, m in rows.items()}
    unfrozen: list[torch.Tensor] = []
    for p, flag in flips:
        p.requires_grad_(flag)
        if flag:
            unfrozen.append(p)
        else:
            p.grad = None  # a stale gradient must not move a frozen weight
    if unfrozen and optimizer is not None:
        added = ensure_optimizer_has(optimizer, unfrozen,
                                     no_decay() if callable(no_decay) else no_decay, lr_factor)
        if added:
            extend_schedulers(_all_schedulers(optimizer, schedulers) if scan else
                              list(schedulers or []), optimizer, added)
    if norm_stats is not None:
        norm_stats.sync(model)
    return [name for name, m in rows.items()
            if [p.requires_grad for p in _own_params(m)] != before[name]]


def _all_schedulers(optimizer: Optional[torch.optim.Optimizer],
                    schedulers: Optional[list[Any]]) -> list[Any]:
    """``schedulers`` and those found bound to the optimizer (a scan of live objects)."""
    found = list(schedulers or [])
    found += [s for s in find_schedulers(optimizer) if all(s is not f for f in found)]
    return found


# -- the run's task and hyper-parameters --------------------------------------------------------

def _task(model: torch.nn.Module, loss: Any) -> dict[str, Any]:
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


def hparams_of(model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
               **given: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"optimizer": type(optimizer).__name__ if optimizer is not None else None,
         "learning_rate": None, "batch_size": None, "epochs": None, "augmentation": [],
         "dropout": [float(cast(float, m.p)) for m in model.modules()
                     if type(m).__name__ in _DROPOUT],
         "early_stopping": None}
    if optimizer is not None and optimizer.param_groups:
        g = optimizer.param_groups[0]
        h["learning_rate"] = to_number(g.get("lr"))
        for k in ("weight_decay", "momentum"):
            if to_number(g.get(k)) is not None:
                h[k] = to_number(g.get(k))
    h.update({k: v for k, v in given.items() if v is not None})
    return h


def _printable(text: object) -> str:
    """``text`` with anything that cannot be written as UTF-8 (lone surrogates) escaped."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


# -- applying control.json ----------------------------------------------------------------------

# -- several processes (torchrun, Accelerate, Lightning DDP) -------------------------------------

def _dist() -> Any:
    """``torch.distributed`` when a process group is initialized, else None."""
    d = getattr(torch, "distributed", None)
    if d is not None and d.is_available() and d.is_initialized():
        return d
    return None


def dist_rank_world() -> tuple[int, int]:
    """(global rank, world size): from the initialized process group, else from torchrun's
    environment (``RANK``/``WORLD_SIZE``), else (0, 1)."""
    d = _dist()
    if d is not None:
        return d.get_rank(), d.get_world_size()
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def _collective_device(d: Any) -> torch.device:
    if d.get_backend() == "nccl" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_decision(value: Optional[ControlFile | ControlError]
                       ) -> Optional[ControlFile | ControlError]:
    """Rank 0's poll result (None, a ControlFile or a ControlError) on every rank, as a Decision
    or a ControlError, through the job's own process group: a one-number broadcast on every call,
    the decision itself only when there is one. Every rank must call this at the same point of
    its loop."""
    d = _dist()
    if d is None or d.get_world_size() == 1:
        return value
    device = _collective_device(d)
    payload = b""
    if d.get_rank() == 0 and value is not None:
        payload = json.dumps(_decision_obj(value)).encode("ascii")  # lone surrogates escaped
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    d.broadcast(size, src=0)
    n = int(size.item())
    if n == 0:
        return None
    data = torch.zeros(n, dtype=torch.uint8, device=device)
    if d.get_rank() == 0:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    d.broadcast(data, src=0)
    return _decision_of(json.loads(bytes(data.cpu().tolist()).decode("ascii")))


def _decision_obj(value: ControlFile | ControlError) -> dict[str, Any]:
    """What travels from rank 0: a ControlError, or the revision with every field it carries."""
    if isinstance(value, ControlError):
        return {"error": str(value), "revision": value.revision}
    obj: dict[str, Any] = {"revision": value.revision, "trainable": value.trainable, "stop": value.stop}
    for k in ("learning_rate", "unfreeze_lr_factor", "apply_now", "note"):
        if getattr(value, k, None) is not None:
            obj[k] = getattr(value, k)
    plan = getattr(value, "plan", None)
    if plan is not None:
        obj["plan"] = {k: getattr(plan, k) for k in Plan.__slots__}
    return obj


def _decision_of(obj: dict[str, Any]) -> ControlFile | ControlError:
    """The ControlError or ControlFile rank 0 decided, rebuilt on every rank (rank 0 too, so every
    rank applies the same values)."""
    if "error" in obj:
        return ControlError(obj["error"], obj["revision"])
    plan = obj.get("plan")
    c = ControlFile(int(obj["revision"]), obj["trainable"], bool(obj["stop"]),
                    learning_rate=obj.get("learning_rate"),
                    unfreeze_lr_factor=obj.get("unfreeze_lr_factor"),
                    plan=Plan(**plan) if plan is not None else None,
                    apply_now=bool(obj.get("apply_now", False)))
    c.note = obj.get("note")
    return c


# A revision as rank 0 decided it (kept for code that names it).
Decision = ControlFile


def ranks_info() -> list[dict[str, Any]]:
    """[{rank, host, pid, local_rank}] of every process (a collective: call on all ranks)."""
    mine: dict[str, Any] = {"rank": dist_rank_world()[0], "host": socket.gethostname(), "pid": os.getpid()}
    if os.environ.get("LOCAL_RANK", "").isdigit():
        mine["local_rank"] = int(os.environ["LOCAL_RANK"])
    d = _dist()
    if d is None or d.get_world_size() == 1:
        return [mine]
    out: list[Any] = [None] * d.get_world_size()
    d.all_gather_object(out, mine)
    return out


class NullLog:
    """The run log of a rank other than global rank 0: writes nothing (one writer per run).
    ``dir`` is the run directory when it was given (argument or ``$FINETOP_RUN_DIR``), else None."""

    def __init__(self, run_dir: Optional[str] = None) -> None:
        self.dir = run_dir
        self.ended = False

    def run(self, *a: Any, **k: Any) -> None:
        pass

    def model(self, *a: Any, **k: Any) -> None:
        pass

    def batch(self, *a: Any, **k: Any) -> bool:
        return False

    def epoch(self, *a: Any, **k: Any) -> None:
        pass

    def control(self, *a: Any, **k: Any) -> None:
        pass

    def end(self, *a: Any, **k: Any) -> None:
        self.ended = True

    def layer_stats(self, *a: Any, **k: Any) -> None:
        pass

    def close(self) -> None:
        pass


def open_log(run_dir: Optional[str] = None, batch_interval: float = 0.1,
             rank: Optional[int] = None) -> RunLog | NullLog:
    """A RunLog on global rank 0, a NullLog on the others."""
    if rank is None:
        rank = dist_rank_world()[0]
    if rank != 0:  # rank 0 may pick runs/<timestamp>: the others don't need to know it
        return NullLog(run_dir or os.environ.get("FINETOP_RUN_DIR") or None)
    return RunLog(run_dir, batch_interval=batch_interval)


_SHARDED = ("FullyShardedDataParallel", "DeepSpeedEngine", "PipelineEngine")


def sharded_by(name: str) -> str:
    """The refusal message for a model sharded by ``name`` (FSDP, DeepSpeed)."""
    return ("refused: the model is sharded by %s, whose flat parameters, gradient reduction and "
            "optimizer are built from the trainable set when it wraps the model; changing "
            "requires_grad while it trains would apply half a toggle. Nothing changed; stop still "
            "works" % name)


def sharding_refusal(model: torch.nn.Module, wrappers: Iterable[torch.nn.Module] = ()) -> Optional[str]:
    """Why a toggle cannot be applied safely to this model (FSDP, DeepSpeed), or None."""
    for m in list(wrappers) + list(model.modules()):
        name = type(m).__name__
        if name in _SHARDED or name.startswith("FSDP"):
            return sharded_by(name)
    for p in model.parameters():
        if type(p).__name__ == "DTensor" or type(getattr(p, "data", None)).__name__ == "DTensor":
            return ("refused: the model's parameters are sharded (DTensor, FSDP2/tensor "
                    "parallel); nothing changed; stop still works")
    return None


def find_ddp(model: Optional[torch.nn.Module]) -> list[torch.nn.parallel.DistributedDataParallel]:
    """DistributedDataParallel wrappers alive in this process whose module is, or holds,
    ``model`` (a scan of live objects: call it rarely)."""
    DDP = torch.nn.parallel.DistributedDataParallel
    found = []
    for o in gc.get_objects():
        if issubclass(type(o), DDP):
            inner = o.__dict__.get("_modules", {}).get("module")
            if inner is model or (inner is not None and any(m is model for m in inner.modules())):
                found.append(o)
    return found


def _ddp_kwargs(ddp: torch.nn.parallel.DistributedDataParallel) -> dict[str, Any]:
    params = inspect.signature(type(ddp).__init__).parameters
    kw: dict[str, Any] = {}
    for name in ("device_ids", "output_device", "dim", "process_group", "find_unused_parameters",
                 "gradient_as_bucket_view", "mixed_precision", "forward_sync_buffers"):
        if name in params and name in ddp.__dict__:
            kw[name] = ddp.__dict__[name]
    if "forward_sync_buffers" not in kw and "broadcast_buffers" in params \
            and "broadcast_buffers" in ddp.__dict__:
        kw["broadcast_buffers"] = ddp.__dict__["broadcast_buffers"]
    cap = ddp.__dict__.get("bucket_bytes_cap")
    if cap and "bucket_cap_mb" in params:
        kw["bucket_cap_mb"] = cap / (1024 * 1024)
    if "static_graph" in params:
        kw["static_graph"] = bool(ddp.__dict__.get("static_graph", False))
    return kw


def rewrap_ddp(ddp: torch.nn.parallel.DistributedDataParallel
               ) -> torch.nn.parallel.DistributedDataParallel:
    """Rebuilds a DistributedDataParallel wrapper in place for the current trainable set, so that
    newly trainable parameters are reduced and frozen ones are not waited for. The public
    constructor builds a new wrapper (parameters and buffers broadcast from rank 0, a new reducer
    over the parameters that now require grad, the user's comm hooks registered again) and the
    existing object takes its state, so every reference to it (the training loop's, the
    Trainer's, Lightning's) trains the new one. A collective: every rank calls it at the same step."""
    if ddp.__dict__.get("mixed_precision") is not None:
        raise RuntimeError("DistributedDataParallel(mixed_precision=…) cannot be rebuilt safely")
    new = type(ddp)(ddp.module, **_ddp_kwargs(ddp))
    for hook, state in list(ddp.__dict__.get("_comm_hooks", []) or []):
        new.register_comm_hook(state, hook)
    for handle in ddp.__dict__.get("_accum_grad_hooks", []) or []:
        handle.remove()
    object.__setattr__(ddp, "__dict__", new.__dict__)
    return ddp


class Steering:
    """What the PyTorch, Hugging Face and Lightning helpers share: reading control.json and
    applying each new revision to the model, its optimizer and schedulers, acknowledging it in
    the run log. Nothing here may stop training except a ``stop``: every failure is a rejection,
    and a revision is applied whole or not at all.

    What a revision can ask (see ``finetop.control``): trainable flags, ``learning_rate`` (every
    param group, the schedulers following: ``finetop.moves``), ``unfreeze_lr_factor`` (the
    parameters this revision newly unfreezes train at the head's rate × factor in a param group
    of their own), a gradual-unfreezing ``plan`` (one more group at each due epoch boundary, each
    step acknowledged "plan <id>: step i/n: unfroze …" with a model line; ``cancel``; a revision
    without a plan ends it), ``apply_now`` (nothing to wait for here: every change applies at the
    next batch boundary), ``stop``.

    ``log`` is the RunLog; ``model``/``optimizer`` may be set later (``attach``)."""

    def __init__(self, log: RunLog | NullLog, control: bool = True, hold_norm_stats: bool = True,
                 schedulers: Optional[list[Any]] = None) -> None:
        self.log = log
        self.rank, self.world_size = dist_rank_world()
        # Only global rank 0 reads control.json; the others receive its decisions.
        # Rank 0's log is a RunLog: its dir is a str.
        self.control: Optional[ControlReader] = ControlReader(cast(str, log.dir)) if control and self.rank == 0 else None
        self.norm_stats = NormStats(hold_norm_stats)
        self.model: Optional[torch.nn.Module] = None
        self.wrappers: list[torch.nn.parallel.DistributedDataParallel] = []  # DistributedDataParallel around the model, when given or found
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.schedulers = list(schedulers or [])
        self.no_decay: NoDecay = None
        self.refusal: Optional[str] = None  # set by a helper that knows the model is sharded (DeepSpeed, FSDP)
        self.revision = -1
        self.should_stop = False
        self.stop_revision: Optional[int] = None
        self.applied_rate: Optional[float] = None  # the last learning_rate applied from control.json
        self.plans = _moves.PlanRunner()
        self.epoch = 0  # the 0-based epoch in progress (or just ended, at an epoch boundary)
        self.step = 0   # optimizer steps done
        self._last_failure: Optional[str] = None
        self._found: Optional[tuple[torch.optim.Optimizer, list[Any]]] = None  # (optimizer, schedulers found bound to it by the one scan)
        self.layer_stats = EpochStats(self)  # begin()/end(epoch) around every epoch (issue 15)

    @property
    def distributed(self) -> bool:
        d = _dist()
        return d is not None and d.get_world_size() > 1

    def attach(self, model: Optional[torch.nn.Module] = None,
               optimizer: Optional[torch.optim.Optimizer] = None,
               schedulers: Optional[Iterable[Any]] = None) -> None:
        if model is not None:
            if isinstance(model, torch.nn.parallel.DistributedDataParallel) \
                    and all(model is not w for w in self.wrappers):
                self.wrappers.append(model)
            self.model = unwrap(model)
        if optimizer is not None:
            self.optimizer = optimizer
        for s in schedulers or []:
            if s is not None and all(s is not t for t in self.schedulers):
                self.schedulers.append(s)

    def layers(self, shapes: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
        assert self.model is not None  # attach() comes first
        return model_layers(self.model, shapes, self.norm_stats.held)

    def known_schedulers(self) -> list[Any]:
        """The schedulers given or attached, and those found bound to the optimizer by a scan of
        live objects — made once per optimizer (it takes ~0.1-1 s in a process holding
        transformers), at the first revision that needs it: schedulers are made before training."""
        if self.optimizer is None:
            return list(self.schedulers)
        if self._found is None or self._found[0] is not self.optimizer:
            self._found = (self.optimizer, find_schedulers(self.optimizer))
        return self.schedulers + [s for s in self._found[1]
                                  if all(s is not t for t in self.schedulers)]

    def write_model(self, shapes: Optional[dict[str, str]] = None) -> None:
        self.revision += 1
        self.log.model(self.revision, self.layers(shapes))
        self.layer_stats.toggled()  # a layer unfrozen within the epoch: its start values, exact

    def control_changed(self) -> bool:
        """Whether control.json looks different from the last look (``ControlReader.changed``),
        so a new revision is read at the next batch boundary instead of waiting for the next timed
        check. Never raises."""
        return self.control is not None and self.control.changed()

    def sync(self, poll: bool = True, stop_message: str = "stopping as asked",
             shapes: Optional[dict[str, str]] = None, epoch: Optional[int] = None,
             step: Optional[int] = None, epoch_end: bool = False,
             last_epoch: bool = False) -> bool:
        """One safe point: global rank 0 polls control.json (when ``poll``), every rank receives
        its decision and applies it at this same step. ``epoch`` (0-based, in progress or just
        ended) and ``step`` (optimizer steps done) say where; ``epoch_end``: this is the boundary
        after ``epoch``, where a plan's due step is taken (not after the training's last epoch,
        ``last_epoch``: nothing would train it). Every rank must call this at the same points.
        Returns True when the run is asked to stop."""
        if epoch is not None:
            self.epoch = int(epoch)
        if step is not None:
            self.step = int(step)
        c = self.poll() if poll else None
        if self.distributed:
            c = broadcast_decision(c)
        stop = self.handle(c, stop_message, shapes, epoch_end)
        if epoch_end and not last_epoch and not self.should_stop and self.plans.due(self.epoch):
            self.take_plan_step(shapes)
        return stop

    def poll(self) -> Optional[ControlFile | ControlError]:
        """The next control.json revision (a ControlFile or ControlError), or None."""
        if self.control is None:
            return None
        try:
            return self.control.poll()
        except Exception as e:  # whatever the file holds, training goes on
            text = "control.json could not be read (%s: %s)" % (type(e).__name__, e)
            if text == self._last_failure:
                return None
            self._last_failure = text
            return ControlError(text)

    def _where(self, epoch_end: bool) -> str:
        return ("from epoch %d" % (self.epoch + 2) if epoch_end
                else "from step %d (the next batch)" % (self.step + 1))

    def handle(self, c: Optional[ControlFile | ControlError], stop_message: str = "stopping as asked",
               shapes: Optional[dict[str, str]] = None,
               epoch_end: bool = False) -> bool:
        """Applies one poll result, whole or not at all, and acknowledges it. Returns True when it
        asks to stop."""
        if c is None:
            return False
        if isinstance(c, ControlError):
            self.log.control(c.revision, "rejected", [],
                             _printable("%s; training goes on unchanged" % c))
            return False
        if c.stop:
            self.should_stop = True
            self.stop_revision = c.revision
            self.log.control(c.revision, "applied", [], stop_message)
            return True
        assert self.model is not None  # attach() comes first
        wrappers = self.wrappers
        if self.distributed and not wrappers:
            wrappers = find_ddp(self.model)
        refusal = self.refusal or sharding_refusal(self.model, wrappers)
        if refusal is None and self.distributed and any(
                w.__dict__.get("mixed_precision") is not None for w in wrappers):
            refusal = ("refused: DistributedDataParallel(mixed_precision=…) cannot be rebuilt for "
                       "a new trainable set safely; nothing changed; stop still works")
        if refusal is not None:
            self.log.control(c.revision, "rejected", [], refusal)
            return False
        plan = getattr(c, "plan", None)
        rate = getattr(c, "learning_rate", None)
        if rate is not None and rate == self.applied_rate:
            rate = None  # control.json is a state: the rate it still carries was applied already
        factor = getattr(c, "unfreeze_lr_factor", None)
        try:
            check_trainable(self.model, dict(c.trainable))
            if plan is not None and not plan.cancel:
                check_trainable(self.model, {n: True for n in plan.names()})
            if rate is not None and (self.optimizer is None or not self.optimizer.param_groups):
                self.log.control(c.revision, "rejected", [], "there is no optimizer to set the "
                                 "learning rate of; nothing in this revision was applied, "
                                 "training goes on")
                return False
        except UnknownLayers as e:
            names = [str(n) for n in e.args[0]]
            self.log.control(c.revision, "rejected", [], _printable(
                "unknown layer name%s: %s (names are those of the model line); nothing changed, "
                "training goes on" % ("s" if len(names) > 1 else "", ", ".join(sorted(names)))))
            return False
        except NoTrainableLeft as e:
            self.log.control(c.revision, "rejected", [], "refused: %s" % e)
            return False
        flags = [(p, p.requires_grad) for p in self.model.parameters()]
        schedulers = self.known_schedulers()
        saved = _moves.RateSnapshot(self.optimizer, schedulers)
        notes: list[Optional[str]] = []
        where = self._where(epoch_end)
        try:
            if rate is not None:
                notes.append(_moves.set_learning_rate(self.optimizer, schedulers, rate, where))
            groups = len(self.optimizer.param_groups) if self.optimizer is not None else 0
            changed = apply_trainable(self.model, c.trainable, self.optimizer, schedulers,
                                      self.no_decay, self.norm_stats, lr_factor=factor, scan=False)
            if changed and self.distributed:
                for w in wrappers:
                    rewrap_ddp(w)
        except Exception as e:
            for p, flag in flags:  # never half a revision
                p.requires_grad_(flag)
            saved.restore()
            self.norm_stats.sync(self.model)
            self.log.control(c.revision, "rejected", [], _printable(
                "could not apply it (%s: %s); nothing changed, training goes on"
                % (type(e).__name__, e)))
            return False
        if rate is not None:
            self.applied_rate = rate
        unfroze = any(p.requires_grad and not flag for p, flag in flags)
        if changed:
            self.write_model(shapes)
            how = "requires_grad set between steps, " + where
            if self.distributed:
                how += (" on all %d ranks at the same step; DistributedDataParallel rebuilt for "
                        "the new trainable set" % self.world_size if wrappers else
                        " on all %d ranks at the same step" % self.world_size)
            notes.insert(0, how)
        if unfroze and factor is not None and factor != 1 and self.optimizer is not None:
            notes.append(self._factor_note(factor, groups))
        notes.append(self.plans.update(plan, self.plans.action(plan), c.revision, self.epoch))
        if getattr(c, "apply_now", False) and (changed or rate is not None):
            notes.append("apply_now: nothing to wait for, PyTorch applies every change between "
                         "two steps; the epoch is not cut short")
        if getattr(c, "note", None):
            notes.append(c.note)
        said = [n for n in notes if n]
        self.log.control(c.revision, "applied", changed,
                         _printable("; ".join(said)) if said else
                         "the layers already had these flags")
        return False

    def _factor_note(self, factor: float, groups_before: int) -> str:
        assert self.optimizer is not None  # called when a revision unfroze with an optimizer
        head = _moves._num(self.optimizer.param_groups[0]["lr"])
        new = len(self.optimizer.param_groups) - groups_before
        return ("the newly unfrozen parameters train at the head's rate x %g = %s (%s), following "
                "the schedule" % (factor, _moves.rate_text(head * factor),
                                  "%d new param group%s" % (new, "" if new == 1 else "s") if new
                                  else "their own param group"))

    def take_plan_step(self, shapes: Optional[dict[str, str]] = None) -> None:
        """Unfreezes the running plan's next group at this epoch boundary (at the head's rate ×
        the plan's ``lr_factor``, in a group of its own), writes a ``model`` line and a ``control``
        line "plan <id>: step i/n: unfroze …". A step that fails is undone whole and stops the
        plan. Every rank takes it at the same boundary."""
        p = self.plans.running
        assert p is not None and self.model is not None  # a plan runs on an attached model
        plan, i = p["plan"], p["done"]
        n = len(plan.groups)
        group = plan.groups[i]
        flags = [(q, q.requires_grad) for q in self.model.parameters()]
        schedulers = self.known_schedulers()
        saved = _moves.RateSnapshot(self.optimizer, schedulers)
        groups = len(self.optimizer.param_groups) if self.optimizer is not None else 0
        wrappers = self.wrappers
        if self.distributed and not wrappers:
            wrappers = find_ddp(self.model)
        try:
            changed = apply_trainable(self.model, {name: True for name in group}, self.optimizer,
                                      schedulers, self.no_decay, self.norm_stats,
                                      lr_factor=plan.lr_factor, scan=False)
            if changed and self.distributed:
                for w in wrappers:
                    rewrap_ddp(w)
        except Exception as e:
            for q, flag in flags:
                q.requires_grad_(flag)
            saved.restore()
            self.norm_stats.sync(self.model)
            self.plans.fail()
            self.log.control(p["revision"], "rejected", [], _printable(
                "plan %s: step %d/%d failed (%s: %s); nothing of this step was applied and the "
                "plan is stopped" % (plan.id, i + 1, n, type(e).__name__, e)))
            return
        if changed:
            self.write_model(shapes)
        i, n, finished = self.plans.stepped(self.epoch)
        what = ("unfroze %s" % ", ".join(changed) if changed else
                "unfroze nothing new (%s already trainable)" % ", ".join(group))
        parts = ["plan %s: step %d/%d: %s at the end of epoch %d" % (plan.id, i, n, what,
                                                                     self.epoch + 1)]
        unfroze = any(q.requires_grad and not flag for q, flag in flags)
        if unfroze and self.optimizer is not None:
            if plan.lr_factor not in (None, 1, 1.0):
                parts.append(self._factor_note(plan.lr_factor, groups))
            else:
                parts.append("the newly unfrozen parameters train at the head's rate")
        parts.append("plan finished" if finished else
                     "next step at the end of epoch %d"
                     % (cast("dict[str, Any]", self.plans.running)["due"] + 1))  # not finished: running
        self.log.control(p["revision"], "applied", changed, _printable("; ".join(parts)))


class Tracker:
    """Logs a PyTorch training loop to a finetop run and applies control.json between steps.

    Args:
        model: the ``torch.nn.Module`` being trained.
        optimizer: its optimizer; newly unfrozen parameters are added to it when missing.
        scheduler: its learning-rate scheduler(s), one or a list: extended to param groups added
            by an unfreeze (torch's and transformers' are also found without this).
        run_dir: default ``$FINETOP_RUN_DIR``, else ``runs/<timestamp>``.
        hparams: reported in the run line (``batch_size``, ``epochs``, ``augmentation`` [strings],
            ``early_stopping`` {…}, …); optimizer, learning rate and dropout rates are found.
        loss: the loss function (or its name), for the task shown in the dashboard.
        example_input: one input batch; a forward pass with it fills in the output shapes.
        control: read control.json (default True).
        control_interval: at most this many seconds between two reads of control.json in
            ``batch()`` even when its ``lstat`` looks unchanged (a file system with coarse times).
        hold_norm_stats: keep frozen BatchNorm-like layers in eval mode (default True).
        sync_every: under several processes, meet rank 0's decision every N ``batch()`` calls
            (default 1; each meeting is one tiny broadcast, a host sync on GPUs with nccl).
        target: what you expect the run to reach, for the diagnosis (avoidable bias): an
            accuracy (``0.9``) or ``{"accuracy": 0.9}`` / ``{"loss": 0.3}``; written into the run
            line's ``hparams["target"]``.

    control.json is looked at (an ``lstat``) at every ``batch()`` and read when it changed, else
    at least every ``control_interval`` s: a new revision applies at the next batch boundary.
    """

    def __init__(self, model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                 run_dir: Optional[str] = None,
                 hparams: Optional[dict[str, Any]] = None, loss: Any = None, example_input: Any = None,
                 control: bool = True, batch_interval: float = 0.1, control_interval: float = 0.5,
                 framework: str = "pytorch", scheduler: Any = None, hold_norm_stats: bool = True,
                 sync_every: int = 1, target: Any = None) -> None:
        target = target_hparam(target)  # a bad target raises before anything is written
        self._epochs = to_number((hparams or {}).get("epochs"))
        if scheduler is not None and not isinstance(scheduler, (list, tuple)):
            scheduler = [scheduler]
        self.log = open_log(run_dir, batch_interval=batch_interval)
        self.run_dir = self.log.dir
        self.steering = Steering(self.log, control, hold_norm_stats, scheduler)
        self.steering.attach(model, optimizer)
        assert self.steering.model is not None  # attached just now
        self.model: torch.nn.Module = self.steering.model
        self.optimizer = optimizer
        self.control = self.steering.control
        self.control_interval = control_interval
        self.sync_every = max(1, int(sync_every))
        self._due = False
        self._calls = 0
        self.global_step = 0
        self.current_epoch = 0
        self._last_control = 0.0
        self._epoch_start = time.monotonic()
        self._shapes: dict[str, str] = {}
        if example_input is not None:
            try:
                self._shapes = output_shapes(self.model, example_input)
            except Exception:
                self._shapes = {}
        self.steering.norm_stats.sync(self.model)
        ranks = ranks_info()  # a collective when distributed: every rank builds its Tracker
        h = hparams_of(self.model, optimizer, **(hparams or {}))
        if target is not None:
            h["target"] = target
        self.log.run(framework, torch.__version__, task=_task(self.model, loss), hparams=h,
                     world_size=len(ranks), ranks=ranks)
        self.write_model()
        self.steering.layer_stats.begin()

    @property
    def should_stop(self) -> bool:
        return self.steering.should_stop

    @property
    def stop_revision(self) -> Optional[int]:
        return self.steering.stop_revision

    @property
    def revision(self) -> int:
        return self.steering.revision

    # -- lines ----------------------------------------------------------------------------------

    def write_model(self) -> None:
        self.steering.write_model(self._shapes)

    def batch(self, loss: Any, epoch: Optional[int] = None, step: Optional[int] = None,
              **metrics: Any) -> bool:
        """Call once per training step (after ``optimizer.step()``). Writes a throttled ``batch``
        line, applies a new control.json revision (read when the file changed, else at most every
        ``control_interval`` s): the next step trains with it. Returns ``should_stop``."""
        self.global_step = int(step) if step is not None else self.global_step + 1
        if epoch is not None:
            self.current_epoch = int(epoch)
        self.log.batch(self.current_epoch, self.global_step, loss, metrics)
        now = time.monotonic()
        if now - self._last_control >= self.control_interval or self.steering.control_changed():
            self._last_control = now
            self._due = True
        self._calls += 1
        if self.steering.distributed:  # every rank meets rank 0 at the same calls
            if self._calls % self.sync_every == 0:
                self.step(poll=self._due)
                self._due = False
        elif self._due:
            self.step()
            self._due = False
        return self.should_stop

    def epoch(self, loss: Any = None, val_loss: Any = None, epoch: Optional[int] = None,
              time: Optional[float] = None, **metrics: Any) -> bool:
        """Call at the end of every epoch; ``epoch`` is 0-based (counted for you when omitted).
        Extra keyword arguments are metrics (``accuracy=…, val_accuracy=…``); the optimizer's
        learning rate is added. Applies control.json; returns ``should_stop``."""
        import time as _time
        e = self.current_epoch if epoch is None else int(epoch)
        if "learning_rate" not in metrics and self.optimizer is not None and self.optimizer.param_groups:
            metrics["learning_rate"] = self.optimizer.param_groups[0].get("lr")
        elapsed = time if time is not None else _time.monotonic() - self._epoch_start
        self.log.epoch(e, loss, val_loss, metrics, step=self.global_step, time=elapsed)
        self.steering.layer_stats.end(e)  # before a toggle: the line is read with this model line
        self.current_epoch = e + 1
        self._epoch_start = _time.monotonic()
        self.step(_epoch_end=e)  # a plan's due step is taken here
        self.steering.layer_stats.begin()
        return self.should_stop

    def end(self, reason: Optional[str] = None, message: Optional[str] = None) -> None:
        """Writes the ``end`` line (once). Default reason: "stopped" when the dashboard asked,
        else "completed"."""
        if self.log.ended:
            return
        if reason is None:
            reason = "stopped" if self.should_stop else "completed"
            if message is None and self.should_stop:
                message = "stopped as asked (control revision %s)" % self.stop_revision
        self.log.end(reason, message)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> Literal[False]:
        if exc_type is None:
            self.end()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.end("error", _printable("%s: %s" % (exc_type.__name__, exc)))
        return False

    # -- control -------------------------------------------------------------------------------

    def step(self, poll: bool = True, _epoch_end: Optional[int] = None) -> bool:
        """Applies a new control.json revision now, if there is one (call between steps: not
        between ``backward()`` and ``optimizer.step()`` if you want this step unaffected). Under
        several processes every rank must call it at the same points. Returns ``should_stop``."""
        at_end = _epoch_end is not None
        last = _epoch_end is not None and self._epochs is not None and _epoch_end + 1 >= self._epochs
        self.steering.sync(poll, "stopping as asked (the training loop sees tracker.should_stop)",
                           self._shapes, epoch=_epoch_end if at_end else self.current_epoch,
                           step=self.global_step, epoch_end=at_end, last_epoch=last)
        return self.should_stop
