"""finetop.lightning with a real Lightning Trainer (CPU, one process): run format, toggles between
steps (optimizer and LR scheduler follow the unfreeze, frozen BatchNorm holds its statistics), stop.
Skipped, saying so, where lightning or torch is not installed."""
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
    """Plays the dashboard at epoch ends and keeps copies of some weights and statistics."""

    def __init__(self, run_dir, writes):
        self.run_dir, self.writes, self.snapshots = run_dir, writes, {}

    def on_train_epoch_end(self, trainer, pl_module):
        e = trainer.current_epoch
        self.snapshots[e] = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        if e in self.writes:
            write_control(self.run_dir, self.writes[e])


def fit(run_dir, writes, epochs=6):
    pl.seed_everything(0, verbose=False)
    (x, y), (xv, yv) = digits(100)
    x, y = x[:256], y[:256]
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                        shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv), batch_size=100)
    model = Digits(unfreeze=2, learning_rate=1e-2, epochs=epochs)
    dash = Dashboard(run_dir, writes)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False,
                         callbacks=[dash, FinetopCallback(run_dir=run_dir, example_input=x[:2],
                                                          loss=model.loss_fn)])
    trainer.fit(model, train, val)
    return model, trainer, dash.snapshots, read_events(run_dir)


def test_lightning_toggles_and_stop(run_dir):
    model, trainer, s, ev = fit(run_dir, {
        0: {"version": 1, "revision": 1, "trainable": {"base.3": True, "base.4": True}},
        2: {"version": 1, "revision": 2, "trainable": {"head.1": False}},
        3: {"version": 1, "revision": 3, "trainable": {}, "stop": True},
    })
    (run,) = of_type(ev, "run")
    assert run["framework"] == "lightning" and run["world_size"] == 1
    assert run["task"]["num_classes"] == 10 and run["hparams"]["optimizer"] == "Adam"
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2, 3]
    epochs = of_type(ev, "epoch")
    assert all("val_loss" in e["metrics"] or "val_loss" in e for e in epochs)
    assert all(e["loss"] == e["loss"] for e in epochs)  # a number, not NaN
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "stopped"
    # base.3 trained once unfrozen (the optimizer got it and the cosine schedule follows it) …
    assert not torch.equal(s[0]["base.3.weight"], s[1]["base.3.weight"])
    opt = trainer.optimizers[0]
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    # … head.1 stopped training once frozen; base.0 never trained; frozen BatchNorm base.1 held.
    assert torch.equal(s[2]["head.1.weight"], s[3]["head.1.weight"])
    assert not torch.equal(s[1]["head.1.weight"], s[2]["head.1.weight"])
    assert torch.equal(s[0]["base.0.weight"], s[3]["base.0.weight"])
    assert torch.equal(s[0]["base.1.running_mean"], s[3]["base.1.running_mean"])
    assert not torch.equal(s[1]["base.4.running_mean"], s[2]["base.4.running_mean"])
    rows = {r["name"]: r for r in of_type(ev, "model")[-1]["layers"]}
    assert rows["base.1"].get("stats_frozen") and not rows["base.4"].get("stats_frozen")
    assert rows["base.0"]["shape"] == "(None, 16, 8, 8)"
