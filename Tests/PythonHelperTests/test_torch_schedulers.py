"""Every learning-rate scheduler of torch.optim.lr_scheduler, and the transformers schedule helpers,
keeps working through an unfreeze (a new param group) and a re-freeze, the new group following the
schedule (issue 10, item 2). Real torch; skipped, saying so, where it is not installed."""
import copy

import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from torch.optim import lr_scheduler as S  # noqa: E402

from finetop.torch import Tracker  # noqa: E402


def _transformers(name):
    def make(opt):
        tr = pytest.importorskip("transformers", reason="transformers is not installed in this "
                                 "Python (its schedule helpers are tested with it)")
        f = getattr(tr, name)
        if name == "get_constant_schedule_with_warmup":
            return f(opt, num_warmup_steps=3)
        return f(opt, num_warmup_steps=3, num_training_steps=30)
    return make


SCHEDULERS = {
    "LambdaLR": lambda opt: S.LambdaLR(opt, lambda s: 0.9 ** s),
    "MultiplicativeLR": lambda opt: S.MultiplicativeLR(opt, lambda s: 0.95),
    "StepLR": lambda opt: S.StepLR(opt, step_size=3, gamma=0.5),
    "MultiStepLR": lambda opt: S.MultiStepLR(opt, milestones=[2, 6, 11], gamma=0.5),
    "ConstantLR": lambda opt: S.ConstantLR(opt, factor=0.5, total_iters=6),
    "LinearLR": lambda opt: S.LinearLR(opt, start_factor=0.25, total_iters=9),
    "ExponentialLR": lambda opt: S.ExponentialLR(opt, gamma=0.9),
    "PolynomialLR": lambda opt: S.PolynomialLR(opt, total_iters=20, power=2.0),
    "CosineAnnealingLR": lambda opt: S.CosineAnnealingLR(opt, T_max=10),
    "ChainedScheduler": lambda opt: S.ChainedScheduler(
        [S.ConstantLR(opt, factor=0.5, total_iters=6), S.ExponentialLR(opt, gamma=0.9)]),
    "SequentialLR": lambda opt: S.SequentialLR(
        opt, [S.LinearLR(opt, start_factor=0.1, total_iters=5), S.ExponentialLR(opt, gamma=0.9)],
        milestones=[5]),
    "ReduceLROnPlateau": lambda opt: S.ReduceLROnPlateau(opt, patience=0, factor=0.7, min_lr=[1e-4]),
    "CyclicLR": lambda opt: S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3),
    "OneCycleLR": lambda opt: S.OneCycleLR(opt, max_lr=0.1, total_steps=40),
    "CosineAnnealingWarmRestarts": lambda opt: S.CosineAnnealingWarmRestarts(opt, T_0=4),
    "hf_linear": _transformers("get_linear_schedule_with_warmup"),
    "hf_cosine": _transformers("get_cosine_schedule_with_warmup"),
    "hf_constant": _transformers("get_constant_schedule_with_warmup"),
    "hf_polynomial": _transformers("get_polynomial_decay_schedule_with_warmup"),
}

UNFREEZE_AT, FREEZE_AT, STEPS = 4, 12, 18


def model():
    torch.manual_seed(0)
    m = torch.nn.Sequential()
    m.add_module("a", torch.nn.Linear(4, 4))
    m.add_module("b", torch.nn.Linear(4, 2))
    m.b.requires_grad_(False)
    return m


def lr(opt, i):
    return float(opt.param_groups[i]["lr"])


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_follows_unfreeze_and_refreeze(name, run_dir):
    net = model()
    twin = copy.deepcopy(net)  # the same schedule without any toggle: what group 0 must follow
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    twin_opt = torch.optim.SGD([p for p in twin.parameters() if p.requires_grad], lr=0.05,
                               momentum=0.9)
    sched, twin_sched = SCHEDULERS[name](opt), SCHEDULERS[name](twin_opt)
    plateau = isinstance(sched, S.ReduceLROnPlateau)
    # The scheduler is not passed: the tracker must find it bound to the optimizer.
    tracker = Tracker(net, opt, run_dir=run_dir, control_interval=0)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    b_before = net.b.weight.detach().clone()
    for step in range(STEPS):
        for m, o, s in ((net, opt, sched), (twin, twin_opt, twin_sched)):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
            s.step(1.0) if plateau else s.step()
        if step == UNFREEZE_AT:
            write_control(run_dir, {"version": 1, "revision": 1, "trainable": {"b": True}})
        if step == FREEZE_AT:
            write_control(run_dir, {"version": 1, "revision": 2, "trainable": {"b": False}})
            b_trained = net.b.weight.detach().clone()
        tracker.batch(loss=0.0)
        assert lr(opt, 0) == pytest.approx(lr(twin_opt, 0), rel=1e-6), "group 0 left its schedule"
        if step >= UNFREEZE_AT:
            assert len(opt.param_groups) == 2
            assert lr(opt, 1) == pytest.approx(lr(opt, 0), rel=1e-6), \
                "step %d: the new group's lr %g is not the schedule's %g" % (step, lr(opt, 1), lr(opt, 0))
            for k in ("momentum", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
                if k in opt.param_groups[0]:
                    assert opt.param_groups[1][k] == pytest.approx(opt.param_groups[0][k]), k
    tracker.end()
    assert len(opt.param_groups) == 2  # the re-freeze kept the group; nothing was added twice
    assert not torch.equal(b_before, b_trained), "the unfrozen layer did not train"
    assert torch.equal(b_trained, net.b.weight), "the re-frozen layer kept training"
    acks = of_type(read_events(run_dir), "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(1, "applied"), (2, "applied")]
