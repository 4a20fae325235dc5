"""Issue 13 in the PyTorch helper (finetop.torch.Tracker; the Steering it shares with the Hugging
Face and Lightning helpers), with real torch on CPU: control.json's learning_rate applied at the
next batch boundary and reported in the epoch line, the schedulers going on from it;
unfreeze_lr_factor putting the unfrozen layers in a param group of their own at the head's rate ÷
10 that follows the schedule; gradual-unfreezing plans run unattended, cancelled, ended; a
revision applied whole or not at all; ``target=`` in the run line. (Until issue 13 these fields
were rejected: this file was test_torch_unsupported_fields.py.)"""
import copy

import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from torch.optim import lr_scheduler as S  # noqa: E402

from finetop.torch import Tracker  # noqa: E402


def net():
    torch.manual_seed(0)
    m = torch.nn.Sequential()
    m.add_module("a", torch.nn.Linear(4, 6))
    m.add_module("b", torch.nn.Linear(6, 6))
    m.add_module("c", torch.nn.Linear(6, 6))
    m.add_module("head", torch.nn.Linear(6, 2))
    for name in ("a", "b", "c"):
        getattr(m, name).requires_grad_(False)
    return m


X = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
Y = (X[:, 0] > 0).long()


def ctl(revision, trainable=None, **extra):
    d = {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": False}
    d.update(extra)
    return d


def lrs(opt):
    return [float(g["lr"]) for g in opt.param_groups]


class Loop:
    """A plain training loop of 4 batches per epoch; ``writes`` {(epoch, batch): control} are
    written right after that batch's ``tracker.batch()`` (batch None: after ``tracker.epoch()``).
    ``used[step]``: the rates every group had when that step's ``optimizer.step()`` ran."""

    def __init__(self, run_dir, model, opt, sched=None, writes=None, **kw):
        self.run_dir, self.model, self.opt, self.sched = run_dir, model, opt, sched
        self.writes = dict(writes or {})
        self.tracker = Tracker(model, opt, run_dir=run_dir, scheduler=sched, **kw)
        self.used = {}
        self.step = 0

    def run(self, epochs):
        loss_fn = torch.nn.CrossEntropyLoss()
        for epoch in range(epochs):
            for b in range(4):
                self.opt.zero_grad()
                loss = loss_fn(self.model(X[b * 8:(b + 1) * 8]), Y[b * 8:(b + 1) * 8])
                loss.backward()
                self.step += 1
                self.used[self.step] = lrs(self.opt)
                self.opt.step()
                if self.sched is not None:
                    self.sched.step()
                self.tracker.batch(loss=loss.item())
                if (epoch, b) in self.writes:
                    write_control(self.run_dir, self.writes.pop((epoch, b)))
            self.tracker.epoch(loss=loss.item())
            if (epoch, None) in self.writes:
                write_control(self.run_dir, self.writes.pop((epoch, None)))
        self.tracker.end()
        return read_events(self.run_dir)


def acks(ev):
    return of_type(ev, "control")


def test_learning_rate_applies_at_the_next_batch_and_the_epoch_line_reports_it(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    # A control_interval of an hour: only the per-batch lstat of control.json can see the write.
    loop = Loop(run_dir, model, opt, writes={(1, 1): ctl(1, learning_rate=1e-3)},
                control_interval=3600)
    ev = loop.run(3)
    # Written after step 6's batch(): step 7 was in flight (old rate), step 8 trains at 1e-3.
    assert [loop.used[s][0] for s in range(1, 8)] == [0.1] * 7
    assert all(loop.used[s][0] == pytest.approx(1e-3) for s in range(8, 13))
    (ack,) = acks(ev)
    assert ack["status"] == "applied" and ack["changed"] == []
    assert "learning rate 0.1 -> 0.001 for the param group from step 8 (the next batch)" in \
        ack["message"], ack["message"]
    epochs = of_type(ev, "epoch")
    assert [e["metrics"]["learning_rate"] for e in epochs] == pytest.approx([0.1, 1e-3, 1e-3])
    assert len(of_type(ev, "model")) == 1  # no model line: no flag changed


def test_a_rate_still_in_later_revisions_is_not_applied_again(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sched = S.ExponentialLR(opt, gamma=0.5)
    loop = Loop(run_dir, model, opt, sched, writes={
        (0, 0): ctl(1, learning_rate=0.2), (0, 2): ctl(2, {"c": True}, learning_rate=0.2)})
    loop.run(1)
    # Revision 1 set 0.2 before step 3; two scheduler steps later (3, 4) revision 2 carried
    # the same rate: it must not be set back to 0.2.
    assert loop.used[3][0] == pytest.approx(0.2) and loop.used[4][0] == pytest.approx(0.1)
    assert lrs(opt)[0] == pytest.approx(0.2 * 0.5 ** 2)


SCHEDULES = {
    "hf_linear_warmup": lambda o: S.LambdaLR(
        o, lambda s: min(1.0, (s + 1) / 4) * max(0.0, (40 - s) / 40)),
    "StepLR": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=30),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=40),
    "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3),
    "SequentialLR": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.2, total_iters=4), S.ExponentialLR(o, gamma=0.9)],
        milestones=[9]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_schedule_goes_on_from_a_new_learning_rate(name, run_dir):
    """After learning_rate r, every group's rate is the untouched schedule's × r / (its rate when
    r arrived): the schedule is scaled, neither restarted nor overwritten at its next step."""
    model = net()
    twin = copy.deepcopy(model)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    twin_opt = torch.optim.SGD([p for p in twin.parameters() if p.requires_grad], lr=0.05)
    sched, twin_sched = SCHEDULES[name](opt), SCHEDULES[name](twin_opt)
    loop = Loop(run_dir, model, opt, sched, writes={(0, 1): ctl(1, learning_rate=0.004)})
    ev = loop.run(3)
    twin_used = {}  # the same schedule without the change
    for s in range(1, 13):
        twin_used[s] = float(twin_opt.param_groups[0]["lr"])
        twin_opt.step()
        twin_sched.step()
    # Written after step 2, applied at step 3's batch(): step 4 trains at the new rate.
    for s in range(1, 4):
        assert loop.used[s][0] == pytest.approx(twin_used[s], rel=1e-9)
    assert loop.used[4][0] == pytest.approx(0.004, rel=1e-9)
    k = 0.004 / twin_used[4]
    for s in range(4, 13):
        assert loop.used[s][0] == pytest.approx(twin_used[s] * k, rel=1e-6), \
            "step %d: %g is not the schedule's %g x %g" % (s, loop.used[s][0], twin_used[s], k)
    assert len({round(twin_used[s], 12) for s in range(4, 13)}) > 2, "the schedule moves here"
    (ack,) = acks(ev)
    assert ack["status"] == "applied" and "follows" in ack["message"], ack["message"]


def test_what_cannot_scale_is_said(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    sched = S.CosineAnnealingLR(opt, T_max=30, eta_min=0.01)
    warm = S.LambdaLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), lambda s: 1)
    loop = Loop(run_dir, model, opt, sched, writes={(0, 1): ctl(1, learning_rate=0.02)})
    ev = loop.run(1)
    (ack,) = acks(ev)
    assert "down to its eta_min 0.01 (not scaled)" in ack["message"], ack["message"]
    assert warm.base_lrs == [1.0], "a scheduler of another optimizer was touched"


def test_a_warm_up_at_rate_zero_climbs_to_the_new_rate(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    sched = S.LambdaLR(opt, lambda s: max(0, s - 1) / 4 if s < 5 else 1.0)  # 0 for two steps
    write_control(run_dir, ctl(1, learning_rate=0.01))  # found at start: the first batch applies it
    loop = Loop(run_dir, model, opt, sched)
    ev = loop.run(2)
    # Applied after step 1 (the schedule at 0): step 2 at the rate asked, then the warm-up
    # climbs from 0.01 x 1/4 to 0.01, no higher.
    assert [loop.used[s][0] for s in (1, 2)] == [0.0, 0.01]
    assert [loop.used[s][0] for s in (3, 4, 5, 6, 7)] == pytest.approx([0.0025, 0.005, 0.0075,
                                                                         0.01, 0.01])
    (ack,) = acks(ev)
    assert "was at rate 0 (the start of a warm-up): the schedule's base rate becomes 0.01" in \
        ack["message"], ack["message"]


@pytest.mark.parametrize("held", [False, True], ids=["head-only optimizer", "all-params optimizer"])
def test_unfreeze_lr_factor_gives_a_group_at_a_tenth_of_the_head_that_follows(held, run_dir):
    model = net()
    params = model.parameters() if held else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    sched = S.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 3) * 0.9 ** s)  # warm-up, then decay
    c_before = model.c.weight.detach().clone()
    loop = Loop(run_dir, model, opt, sched, writes={(0, 1): ctl(1, {"c": True}, unfreeze_lr_factor=0.1)})
    ev = loop.run(3)
    assert len(opt.param_groups) == 2
    group = opt.param_groups[1]
    assert {id(p) for p in group["params"]} == {id(p) for p in model.c.parameters()}
    assert all(id(p) not in {id(q) for q in group["params"]} for p in model.head.parameters())
    for s in range(4, 13):  # written after step 2, applied at step 3's batch()
        head, new = loop.used[s][0], loop.used[s][1]
        assert new == pytest.approx(head / 10, rel=1e-9), "step %d: %g is not %g / 10" % (s, new, head)
    assert len({round(loop.used[s][0], 12) for s in range(4, 13)}) > 5, "the schedule moved"
    assert not torch.equal(c_before, model.c.weight), "the unfrozen layer did not train"
    (ack,) = acks(ev)
    assert ack["changed"] == ["c"] and "the head's rate x 0.1" in ack["message"], ack["message"]
    rows = {r["name"]: r for r in of_type(ev, "model")[-1]["layers"]}
    assert rows["c"]["trainable"] and not rows["b"]["trainable"]


def test_learning_rate_with_an_unfreeze_factor_in_one_revision(run_dir):
    """The rate first (every existing group), then the unfrozen group at the new head rate ÷ 10."""
    model = net()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loop = Loop(run_dir, model, opt, writes={(0, 0): ctl(1, {"b": True, "c": True},
                                                          learning_rate=1e-3,
                                                          unfreeze_lr_factor=0.1)})
    ev = loop.run(1)
    assert lrs(opt) == pytest.approx([1e-3, 1e-4])
    (ack,) = acks(ev)
    assert ack["status"] == "applied" and sorted(ack["changed"]) == ["b", "c"]
    assert "learning rate 0.01 -> 0.001" in ack["message"]
    assert "x 0.1 = 0.0001" in ack["message"], ack["message"]


def test_a_bad_name_rejects_the_whole_revision_rate_included(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    plan = {"id": "p", "kind": "gradual_unfreeze", "groups": [["c"], ["nope"]]}
    loop = Loop(run_dir, model, opt, writes={(0, 0): ctl(1, {"c": True}, learning_rate=1e-3,
                                                          plan=plan)})
    ev = loop.run(2)
    assert lrs(opt) == [0.1] and not model.c.weight.requires_grad
    (ack,) = acks(ev)
    assert ack["status"] == "rejected" and "unknown layer name: nope" in ack["message"]


def plan_of(pid, groups, **kw):
    p = {"id": pid, "kind": "gradual_unfreeze", "groups": groups, "every_epochs": 1,
         "lr_factor": None, "cancel": False}
    p.update(kw)
    return p


def test_a_plan_runs_three_steps_unattended_then_ends(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sched = S.StepLR(opt, step_size=5, gamma=0.5)
    plan = plan_of("gu", [["c"], ["b"], ["a"]], lr_factor=0.1)
    loop = Loop(run_dir, model, opt, sched, writes={(0, 1): ctl(1, plan=plan)})
    ev = loop.run(6)
    a = acks(ev)
    msgs = [x["message"] for x in a]
    assert a[0]["revision"] == 1 and "plan gu accepted: 3 steps" in msgs[0] \
        and "the first at the end of epoch 1" in msgs[0], msgs[0]
    steps = a[1:]
    assert [x["changed"] for x in steps] == [["c"], ["b"], ["a"]], msgs
    assert all(x["status"] == "applied" and x["revision"] == 1 for x in steps)
    assert [m.split(": unfroze")[0] for m in msgs[1:]] == \
        ["plan gu: step 1/3", "plan gu: step 2/3", "plan gu: step 3/3"]
    assert "at the end of epoch 1" in msgs[1] and "next step at the end of epoch 2" in msgs[1]
    assert "at the end of epoch 3" in msgs[3] and msgs[3].endswith("plan finished"), msgs[3]
    # One model line per step, in the order of the steps, and nothing after the plan ended.
    models = of_type(ev, "model")
    assert len(models) == 4
    trainable = [[r["name"] for r in m["layers"] if r["trainable"]] for m in models]
    assert trainable == [["head"], ["c", "head"], ["b", "c", "head"], ["a", "b", "c", "head"]]
    # Each step's group at the head's rate ÷ 10, following StepLR.
    assert len(opt.param_groups) == 4
    for s in range(13, 25):
        head = loop.used[s][0]
        assert loop.used[s][1:] == pytest.approx([head / 10] * 3, rel=1e-9)
    assert loop.used[24][0] < loop.used[13][0], "StepLR moved on"
    assert all(p.requires_grad for p in model.parameters())


def test_cancel_stops_a_plan_and_a_plan_without_id_match_is_not_restarted(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    plan = plan_of("gu", [["c"], ["b"], ["a"]])
    loop = Loop(run_dir, model, opt, writes={
        (0, 3): ctl(1, plan=plan),             # seen at the end of epoch 1: step 1 at once
        (1, 1): ctl(2, plan=plan),                                      # same id: continues
        (1, None): ctl(3, plan={"id": "gu", "cancel": True}),           # after step 2
        (2, 1): ctl(4, plan=plan),                                      # cancelled: not again
    })
    ev = loop.run(5)
    msgs = [(x["revision"], x["message"]) for x in acks(ev)]
    assert msgs[0][0] == 1 and "plan gu accepted" in msgs[0][1]
    assert msgs[1][0] == 1 and msgs[1][1].startswith("plan gu: step 1/3: unfroze c at the end of epoch 1")
    assert msgs[2] == (2, "plan gu continues (1/3 steps done)")
    assert msgs[3][1].startswith("plan gu: step 2/3: unfroze b at the end of epoch 2")
    assert msgs[4] == (3, "plan gu cancelled after step 2/3; the layers it unfroze stay trainable")
    assert msgs[5] == (4, "plan gu is cancelled; it is not started again")
    assert len(msgs) == 6
    assert model.b.weight.requires_grad and not model.a.weight.requires_grad


def test_a_revision_without_the_plan_ends_it(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loop = Loop(run_dir, model, opt, writes={
        (0, 1): ctl(1, plan=plan_of("gu", [["c"], ["b"]], every_epochs=2)),
        (1, 1): ctl(2, {"head": True})})
    ev = loop.run(4)
    msgs = [x["message"] for x in acks(ev)]
    assert msgs[1].startswith("plan gu: step 1/2: unfroze c at the end of epoch 1")
    assert "next step at the end of epoch 3" in msgs[1]
    assert "plan gu ended after step 1/2: this revision has no plan" in msgs[2]
    assert len(msgs) == 3 and not model.b.weight.requires_grad


def test_apply_now_is_acknowledged_as_nothing_to_wait_for(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loop = Loop(run_dir, model, opt, writes={(0, 1): ctl(1, {"c": True}, apply_now=True)})
    ev = loop.run(1)
    (ack,) = acks(ev)
    assert ack["changed"] == ["c"] and "apply_now: nothing to wait for" in ack["message"]
    assert "from step 4 (the next batch)" in ack["message"] and "the epoch is not cut short" in \
        ack["message"]
    assert len(of_type(ev, "epoch")) == 1 and of_type(ev, "epoch")[0]["step"] == 4


def test_target_goes_into_the_run_hparams_and_a_bad_one_is_refused(run_dir, tmp_path):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    Tracker(model, opt, run_dir=run_dir, target=0.9).end()
    (run,) = of_type(read_events(run_dir), "run")
    assert run["hparams"]["target"] == {"accuracy": 0.9}
    other = str(tmp_path / "other")
    Tracker(model, opt, run_dir=other, target={"loss": 0.3}).end()
    assert of_type(read_events(other), "run")[0]["hparams"]["target"] == {"loss": 0.3}
    for bad in ("high", {"acc": 0.9}, {"accuracy": float("nan")}, True, {"accuracy": -1}):
        with pytest.raises(ValueError, match="target"):
            Tracker(model, opt, run_dir=str(tmp_path / "bad"), target=bad)


def test_a_step_due_after_the_last_epoch_is_not_taken(run_dir):
    model = net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loop = Loop(run_dir, model, opt, writes={(0, 1): ctl(1, plan=plan_of("gu", [["c"], ["b"]]))},
                hparams={"epochs": 2})
    ev = loop.run(2)
    msgs = [x["message"] for x in acks(ev)]
    assert len(msgs) == 2 and msgs[1].startswith("plan gu: step 1/2: unfroze c at the end of epoch 1")
    assert not model.b.weight.requires_grad and len(of_type(ev, "model")) == 2
