"""Issue 13 in the Lightning helper with a real Lightning Trainer (CPU, one process): a
gradual-unfreezing plan with lr_factor 0.1 takes its steps at training epoch ends, each group in
a param group of its own at the head's rate ÷ 10 that follows the step-wise CosineAnnealingLR of
``lr_scheduler_configs``; learning_rate sets ``trainer.optimizers[0]`` at the next step and the
epoch line reports it; target= reaches the run line. Skipped, saying so, where lightning or torch
is not installed."""
import os
import sys

import pytest

from conftest import ROOT, of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Lightning helper tests need torch and lightning)")
pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed in this Python "
                         "(pip install lightning to run the Lightning helper tests)")

sys.path.insert(0, os.path.join(ROOT, "assets", "examples"))

from finetop.lightning import FinetopCallback  # noqa: E402
from finetune_lightning import Digits  # noqa: E402
from finetune_torch import digits  # noqa: E402


class Dashboard(pl.Callback):
    """Writes control revisions ({("epoch", e) or global step: control}) and records every param
    group's rate right before each optimizer step."""

    def __init__(self, run_dir, writes):
        self.run_dir, self.writes, self.used = run_dir, dict(writes), {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.used[trainer.global_step + 1] = [float(g["lr"]) for g in optimizer.param_groups]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step in self.writes:
            write_control(self.run_dir, self.writes.pop(trainer.global_step))

    def on_train_epoch_end(self, trainer, pl_module):
        if ("epoch", trainer.current_epoch) in self.writes:
            write_control(self.run_dir, self.writes.pop(("epoch", trainer.current_epoch)))


def fit(run_dir, writes, epochs=4, **ft_args):
    pl.seed_everything(0, verbose=False)
    (x, y), (xv, yv) = digits(100)
    x, y = x[:128], y[:128]
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv), batch_size=100)
    model = Digits(unfreeze=2, learning_rate=1e-2, epochs=epochs)
    dash = Dashboard(run_dir, writes)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False,
                         callbacks=[dash, FinetopCallback(run_dir=run_dir, loss=model.loss_fn,
                                                          **ft_args)])
    trainer.fit(model, train, val)
    return model, trainer, dash.used, read_events(run_dir)


def test_a_plan_unfreezes_at_a_tenth_of_the_head_following_the_scheduler(run_dir):
    plan = {"id": "bb", "kind": "gradual_unfreeze", "groups": [["base.3", "base.4"],
                                                               ["base.0", "base.1"]],
            "every_epochs": 1, "lr_factor": 0.1, "cancel": False}
    model, trainer, used, ev = fit(run_dir, {("epoch", 0): {"version": 1, "revision": 1,
                                                           "trainable": {}, "plan": plan}},
                                   target=0.95)
    opt = trainer.optimizers[0]
    assert len(opt.param_groups) == 3
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert len(sched.base_lrs) == 3 and sched.base_lrs[1] == pytest.approx(sched.base_lrs[0] / 10)
    # 4 steps per epoch: step 1 at the end of epoch 1, step 2 at the end of epoch 2.
    for s in range(5, 17):
        head = used[s][0]
        n = 2 if s < 9 else 3
        assert used[s][1:n] == pytest.approx([head / 10] * (n - 1), rel=1e-9), (s, used[s])
    assert used[16][0] < used[5][0], "the cosine schedule moved"
    acks = of_type(ev, "control")
    msgs = [a["message"] for a in acks]
    assert "plan bb accepted: 2 steps" in msgs[0]
    assert msgs[1].startswith("plan bb: step 1/2: unfroze base.3, base.4 at the end of epoch 1")
    assert msgs[2].startswith("plan bb: step 2/2: unfroze base.0, base.1 at the end of epoch 2")
    assert msgs[2].endswith("plan finished") and len(acks) == 3
    assert all(p.requires_grad for p in model.parameters())
    (run,) = of_type(ev, "run")
    assert run["hparams"]["target"] == {"accuracy": 0.95}


def test_learning_rate_at_the_next_step_and_in_the_epoch_line(run_dir):
    model, trainer, used, ev = fit(run_dir, {5: {"version": 1, "revision": 1, "trainable": {},
                                                 "learning_rate": 1e-3}},
                                   epochs=3, control_interval=3600)
    # Written after step 5's batch end, where finetop's own hook runs next: step 6 at the rate.
    assert used[6][0] == pytest.approx(1e-3, rel=1e-9), used
    assert used[5][0] > 5e-3
    (ack,) = of_type(ev, "control")
    assert "learning rate" in ack["message"] and "-> 0.001" in ack["message"] and \
        "from step 6 (the next batch)" in ack["message"], ack["message"]
    assert "CosineAnnealingLR follows" in ack["message"], ack["message"]
    # The epoch line reports the head's rate at the epoch's end: the one the next step uses,
    # the cosine going on down from 1e-3.
    epochs = of_type(ev, "epoch")
    assert epochs[0]["metrics"]["learning_rate"] == pytest.approx(used[5][0], rel=1e-9)
    assert epochs[1]["metrics"]["learning_rate"] == pytest.approx(used[9][0], rel=1e-9)
    assert used[9][0] < 1e-3 and used[9][0] == pytest.approx(1e-3 * cos_ratio(9, 6), rel=1e-9)


def cos_ratio(s, s0, t_max=12):
    """CosineAnnealingLR's rate at step s over its rate at step s0 (eta_min 0)."""
    import math
    f = lambda k: 1 + math.cos(math.pi * (k - 1) / t_max)  # noqa: E731
    return f(s) / f(s0)
