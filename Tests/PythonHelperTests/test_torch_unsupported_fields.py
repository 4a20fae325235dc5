"""The PyTorch helper does not carry out learning_rate / unfreeze_lr_factor / plan / apply_now yet:
a revision that asks for one is rejected whole, never acknowledged as applied with half of it
ignored; later revisions that still carry the refused value apply their flags."""
import pytest

from conftest import of_type, read_events, write_control
from test_torch_helper import data, small_model

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python")

from finetop.torch import Tracker  # noqa: E402


def test_a_learning_rate_is_rejected_not_forged_then_flags_still_apply(run_dir):
    model = small_model()
    for p in model.base.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    tracker = Tracker(model, opt, run_dir=run_dir, control_interval=0)
    x, y = data()
    loss_fn = torch.nn.CrossEntropyLoss()

    def one_epoch():
        for i in range(0, 64, 16):
            opt.zero_grad()
            loss = loss_fn(model(x[i:i + 16]), y[i:i + 16])
            loss.backward()
            opt.step()
            tracker.batch(loss=loss.item())
        tracker.epoch(loss=loss.item())

    write_control(run_dir, {"version": 1, "revision": 1, "trainable": {}, "learning_rate": 1e-5})
    one_epoch()
    assert opt.param_groups[0]["lr"] == 0.1, "the rate was not silently changed"
    write_control(run_dir, {"version": 1, "revision": 2, "trainable": {"base.3": True},
                            "learning_rate": 1e-5})
    one_epoch()
    tracker.end()
    acks = {a["revision"]: a for a in of_type(read_events(run_dir), "control")}
    assert acks[1]["status"] == "rejected" and "learning_rate" in acks[1]["message"]
    assert acks[2]["status"] == "applied" and acks[2]["changed"] == ["base.3"]
    assert all(p.requires_grad for p in model.base[3].parameters())
