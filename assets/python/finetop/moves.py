"""The fine-tuning moves of issue 13 for the PyTorch helpers (``finetop.torch.Steering``, which the
Hugging Face and Lightning helpers share): the whole optimizer's learning rate with its schedulers
following, and gradual-unfreezing plans carried out at epoch boundaries.

``learning_rate`` (control.json): every param group's ``lr`` becomes the new rate at the next
batch boundary, and everything a scheduler computes the rate from is scaled by the same factor
(new rate / the group's current rate): the group's ``initial_lr`` (and OneCycleLR's ``max_lr`` /
``min_lr``), the scheduler's ``base_lrs`` (and CyclicLR's ``max_lrs``, timm-style ``base_values``)
and ``_last_lr``. So the schedule goes on from the new rate, scaled: a scheduler that multiplies
the current rate (StepLR, ExponentialLR, ReduceLROnPlateau, LinearLR…) and one that computes from
its base rates (LambdaLR — every transformers ``get_*_schedule_with_warmup`` —, OneCycleLR,
CyclicLR, CosineAnnealingWarmRestarts) give the same curve as before × the factor. What does not
scale is said in the acknowledgement: CosineAnnealing's ``eta_min`` (the curve now runs from the
new rate down to the same floor), ReduceLROnPlateau's ``min_lr`` (a floor above the new rate stops
its reductions), a group whose rate was 0 (the start of a warm-up: its base rate is set to the new
rate, the warm-up climbs to it), and a scheduler that is not torch's (it may set its own rate back
at its next step; so does a training loop that assigns ``param_group["lr"]`` itself).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import torch

from .control import Plan

__all__ = ["RATE_KEYS", "flatten_schedulers", "set_learning_rate", "RateSnapshot", "PlanRunner",
           "rate_text"]

# Param-group entries that are rates (scaled with the group's rate).
RATE_KEYS = ("initial_lr", "max_lr", "min_lr")
# Scheduler per-group lists that a new rate scales (ReduceLROnPlateau's min_lrs is a floor: kept).
_SCALED_LISTS = ("base_lrs", "max_lrs", "base_values")


def _num(v: Any) -> float:
    return float(v.item() if isinstance(v, torch.Tensor) else v)


def _put(container: Any, key: Any, value: float) -> None:
    """Sets ``container[key]`` to ``value``, in place when it holds a tensor (keeps its device)."""
    old = container[key]
    if isinstance(old, torch.Tensor):
        old.fill_(float(value))
    else:
        container[key] = float(value)


def rate_text(v: Optional[float]) -> str:
    return "?" if v is None else "%.6g" % v


def flatten_schedulers(schedulers: Iterable[Any]) -> list[Any]:
    """Every scheduler in ``schedulers``, accelerate's wrappers unwrapped and the children of
    ChainedScheduler / SequentialLR included, each once."""
    out: list[Any] = []
    seen: set[int] = set()

    def visit(s: Any) -> None:
        inner = getattr(s, "scheduler", None)
        if inner is not None and hasattr(inner, "optimizer"):
            s = inner  # accelerate's AcceleratedScheduler
        if s is None or id(s) in seen:
            return
        seen.add(id(s))
        out.append(s)
        for child in getattr(s, "_schedulers", None) or []:
            visit(child)

    for s in schedulers:
        visit(s)
    return out


class RateSnapshot:
    """Every rate of an optimizer and its schedulers, to put back when a revision fails half-way
    (nothing is applied half)."""

    def __init__(self, optimizer: Any, schedulers: Iterable[Any]) -> None:
        self.groups: list[tuple[Any, dict[str, float]]]
        self.groups = [(g, {k: _num(g[k]) for k in ("lr",) + RATE_KEYS
                            if k in g and g[k] is not None})
                       for g in (optimizer.param_groups if optimizer is not None else [])]
        self.lists: list[tuple[Any, str, list[Any], list[Any]]] = []
        for s in flatten_schedulers(schedulers):
            for attr in _SCALED_LISTS + ("_last_lr", "min_lrs"):
                values = getattr(s, attr, None)
                if isinstance(values, list):
                    self.lists.append((s, attr, values, list(values)))

    def restore(self) -> None:
        for g, saved in self.groups:
            for k, v in saved.items():
                _put(g, k, v)
        for s, attr, values, kept in self.lists:
            values[:] = kept
            if getattr(s, attr, None) is not values:
                setattr(s, attr, values)


def _is_torch_scheduler(s: Any) -> bool:
    return type(s).__module__.startswith("torch.optim")


def set_learning_rate(optimizer: Any, schedulers: Iterable[Any], rate: float,
                      where: str = "") -> str:
    """Sets every param group's rate to ``rate`` and scales what the schedulers compute rates
    from by the same factor per group (module docstring). Returns what happened, for the
    acknowledgement: the old head rate, how many groups, ``where`` (e.g. "from step 8"), how
    each scheduler follows."""
    groups = optimizer.param_groups
    old = [_num(g["lr"]) for g in groups]
    scales: list[float | None] = []
    zero_groups: list[int] = []
    for i, g in enumerate(groups):
        ref = old[i]
        if not (ref > 0 and math.isfinite(ref)):
            base = g.get("initial_lr")
            ref = _num(base) if base is not None else 0.0
            zero_groups.append(i)
        scales.append(rate / ref if ref > 0 and math.isfinite(ref) else None)
    for g, s in zip(groups, scales):
        _put(g, "lr", rate)
        for k in RATE_KEYS:
            if k in g and g[k] is not None:
                _put(g, k, _num(g[k]) * s if s is not None else rate)
    notes: list[str] = []
    flat = flatten_schedulers(schedulers)
    for sched in flat:
        scaled: list[str] = []
        for attr in _SCALED_LISTS:
            values = getattr(sched, attr, None)
            if not isinstance(values, list) or len(values) != len(groups):
                continue
            for i, s in enumerate(scales):
                v = values[i]
                nv = _num(v) * s if s is not None else rate
                values[i] = v.new_tensor(nv) if isinstance(v, torch.Tensor) else nv
            scaled.append(attr)
        last = getattr(sched, "_last_lr", None)
        if isinstance(last, list) and len(last) == len(groups):
            last[:] = [_num(g["lr"]) for g in groups]
        name = type(sched).__name__
        if getattr(sched, "_schedulers", None):
            continue  # its children are listed on their own
        if not _is_torch_scheduler(sched):
            notes.append("%s is not one of torch's schedulers: %s scaled, but finetop cannot tell "
                         "whether it follows (it may set its own rate back at its next step)"
                         % (name, ", ".join(scaled) if scaled else "nothing of it could be"))
            continue
        eta = getattr(sched, "eta_min", 0) or 0
        if isinstance(eta, (int, float)) and eta > 0:
            notes.append("%s follows from the new rate, down to its eta_min %s (not scaled)"
                         % (name, rate_text(eta)))
        elif name == "ReduceLROnPlateau":
            floors = [m for m in getattr(sched, "min_lrs", []) or [] if _num(m) >= rate]
            notes.append("ReduceLROnPlateau follows (it reduces the current rate)" +
                         ("; its min_lr %s is not below the new rate, so it will not reduce it "
                          "further" % rate_text(_num(floors[0])) if floors else ""))
        else:
            notes.append("%s follows (%s scaled)" % (name, ", ".join(scaled) or "it scales the "
                                                     "current rate"))
    head = old[0] if old else None
    text = "learning rate %s -> %s for %s" % (
        rate_text(head), rate_text(rate),
        "the param group" if len(groups) == 1 else "all %d param groups" % len(groups))
    if len(set(old)) > 1:
        text += " (their own rates %s replaced)" % ", ".join(rate_text(o) for o in old[1:])
    if where:
        text += " " + where
    if zero_groups and flat:
        text += ("; param group%s %s %s at rate 0 (the start of a warm-up): the schedule's base "
                 "rate becomes %s" % ("s" if len(zero_groups) > 1 else "",
                                      ", ".join(str(i) for i in zero_groups),
                                      "were" if len(zero_groups) > 1 else "was", rate_text(rate)))
    if notes:
        text += "; the schedule goes on from it: " + "; ".join(notes)
    return text


# -- gradual unfreezing ---------------------------------------------------------------------------

class PlanRunner:
    """The state of gradual-unfreezing plans, as control.json revisions and epoch boundaries move
    it (the same on every rank: every rank sees the same decisions at the same boundaries).

    ``running``: {"plan", "revision", "done", "due"} (``due``: the 0-based epoch at whose end the
    next step is taken) or None; ``ended``: plan id -> "finished" / "cancelled" / "failed" /
    "ended"."""

    def __init__(self) -> None:
        self.running: Optional[dict[str, Any]] = None
        self.ended: dict[str, str] = {}

    def action(self, plan: Optional[Plan]) -> Optional[str]:
        """What a revision's ``plan`` does: None (nothing), "start", "continue", "again", "cancel",
        "cancel-none" or "end" (the revision has no plan while one runs)."""
        if plan is None:
            return "end" if self.running is not None else None
        running = self.running is not None and self.running["plan"].id == plan.id
        if plan.cancel:
            return "cancel" if running else "cancel-none"
        if running:
            return "continue"
        if plan.id in self.ended:
            return "again"
        return "start"

    def update(self, plan: Optional[Plan], action: Optional[str], revision: int,
               epoch: int) -> Optional[str]:
        """Starts, keeps, cancels or ends a plan; ``epoch``: the 0-based epoch in progress (or just
        ended), at whose end the first step is taken. Returns what to say about it."""
        if action is None:
            return None
        p = self.running
        if action == "start":
            replaced = ""
            if p is not None:
                self.ended[p["plan"].id] = "cancelled"
                replaced = " (replaces plan %s, stopped after step %d/%d)" % (
                    p["plan"].id, p["done"], len(p["plan"].groups))
            assert plan is not None  # "start" is the action of a plan
            self.running = {"plan": plan, "revision": revision, "done": 0, "due": epoch}
            n = len(plan.groups)
            rate = ("each group in its own param group at the head's rate" if plan.lr_factor is None
                    else "each group in its own param group at the head's rate x %g" % plan.lr_factor)
            return ("plan %s accepted%s: %d step%s, one group every %d epoch%s, the first at the end "
                    "of epoch %d; %s" % (plan.id, replaced, n, "" if n == 1 else "s",
                                         plan.every_epochs, "" if plan.every_epochs == 1 else "s",
                                         epoch + 1, rate))
        if action == "continue":
            assert plan is not None and p is not None  # a running plan's action
            return "plan %s continues (%d/%d steps done)" % (plan.id, p["done"], len(p["plan"].groups))
        if action == "cancel":
            assert plan is not None and p is not None  # a running plan's action
            self.running = None
            self.ended[plan.id] = "cancelled"
            return ("plan %s cancelled after step %d/%d; the layers it unfroze stay trainable"
                    % (plan.id, p["done"], len(p["plan"].groups)))
        if action == "cancel-none":
            assert plan is not None  # the action of a plan
            return "plan %s is not running (%s); nothing to cancel" % (
                plan.id, self.ended.get(plan.id, "never started"))
        if action == "end":
            assert p is not None  # "end": a plan was running
            self.running = None
            self.ended[p["plan"].id] = "ended"
            return ("plan %s ended after step %d/%d: this revision has no plan; the layers it "
                    "unfroze stay trainable" % (p["plan"].id, p["done"], len(p["plan"].groups)))
        assert plan is not None  # "again": the action of a plan
        return "plan %s is %s; it is not started again" % (plan.id, self.ended.get(plan.id))

    def due(self, epoch: int) -> bool:
        """Whether the running plan's next step is due at the end of 0-based ``epoch``."""
        return self.running is not None and epoch >= self.running["due"]

    def stepped(self, epoch: int) -> tuple[int, int, bool]:
        """Counts the step taken at the end of ``epoch``; returns (i, n, finished)."""
        p = self.running
        assert p is not None  # called after a due step of the running plan
        p["done"] += 1
        p["due"] = epoch + p["plan"].every_epochs
        n = len(p["plan"].groups)
        if p["done"] >= n:
            self.running = None
            self.ended[p["plan"].id] = "finished"
            return p["done"], n, True
        return p["done"], n, False

    def fail(self) -> None:
        p, self.running = self.running, None
        if p is not None:
            self.ended[p["plan"].id] = "failed"
