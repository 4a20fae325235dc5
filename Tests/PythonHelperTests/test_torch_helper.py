"""finetop.torch with real PyTorch (CPU). Skipped, saying so, where torch is not installed: the
PyPI wheel is large; see assets/python/README.md for how to run these."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from finetop.torch import Tracker, model_layers  # noqa: E402


def small_model():
    torch.manual_seed(0)
    base = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    head = torch.nn.Sequential(torch.nn.Dropout(0.3), torch.nn.Linear(6, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3))
    model = torch.nn.Sequential()
    model.add_module("base", base)
    model.add_module("head", head)
    return model


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=g)
    y = (x[:, :, :4].mean(dim=(1, 2, 3)) * 3).long().clamp(0, 2)
    return x, y


def totals(rows):
    total = sum(r["params"] for r in rows if r["depth"] == 0)
    trainable = sum(r["trainable_params"] for r in rows if r["depth"] == 0)
    return total, trainable


def torch_totals(model):
    return (sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad))


def test_counts_like_torchinfo():
    model = small_model()
    for p in model.base.parameters():
        p.requires_grad_(False)
    rows = model_layers(model)
    assert [r["name"] for r in rows] == ["base.0", "base.1", "base.3", "head.1", "head.3"]
    by = {r["name"]: r for r in rows}
    assert by["base.0"]["params"] == 4 * 9 + 4 and by["base.0"]["trainable_params"] == 0
    assert by["base.1"]["params"] == 8  # BatchNorm2d: weight and bias; running stats are buffers
    assert not by["base.1"]["trainable"] and by["head.1"]["trainable"]
    assert totals(rows) == torch_totals(model)


def train(model, tracker, opt, epochs, hook=None):
    x, y = data()
    loss_fn = torch.nn.CrossEntropyLoss()
    seen = []
    snapshots = {}
    for epoch in range(epochs):
        model.train()
        stop = False
        for i in range(0, len(x), 16):
            opt.zero_grad()
            loss = loss_fn(model(x[i:i + 16]), y[i:i + 16])
            loss.backward()
            opt.step()
            if tracker.batch(loss=loss.item()):
                stop = True
                break
        snapshots[epoch] = {n: p.detach().clone() for n, p in model.named_parameters()}
        if hook:
            hook(epoch)
        seen.append(epoch)
        if tracker.epoch(loss=loss.item(), val_loss=loss.item() * 1.1, accuracy=0.5) or stop:
            break
    tracker.end()
    return seen, snapshots


def test_toggle_applied_between_steps_and_optimizer_updates_unfrozen(run_dir):
    model = small_model()
    for p in model.base.parameters():
        p.requires_grad_(False)
    # The common pattern: the optimizer only gets the parameters trainable at the start.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    tracker = Tracker(model, opt, run_dir=run_dir, hparams={"epochs": 4, "batch_size": 16},
                      loss=torch.nn.CrossEntropyLoss(), example_input=data()[0][:2])

    def hook(epoch):
        if epoch == 1:
            write_control(run_dir, {"version": 1, "revision": 1,
                                    "trainable": {"base.3": True, "head.1": False}, "stop": False})

    seen, s = train(model, tracker, opt, 4, hook)
    ev = read_events(run_dir)
    run = of_type(ev, "run")[0]
    assert run["framework"] == "pytorch" and run["hparams"]["optimizer"] == "SGD"
    assert run["hparams"]["learning_rate"] == 0.1 and run["hparams"]["dropout"] == [0.3]
    assert run["task"] == {"kind": "classification", "num_classes": 3, "loss": "CrossEntropyLoss"}
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "applied" and sorted(ack["changed"]) == ["base.3", "head.1"]
    models = of_type(ev, "model")
    assert [m["revision"] for m in models] == [0, 1]
    assert {r["name"]: r["shape"] for r in models[0]["layers"]}["base.3"] == "(None, 6, 4, 4)"
    assert totals(models[1]["layers"]) == torch_totals(model)
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2, 3] and seen == [0, 1, 2, 3]
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "completed"
    # Weights: head.1 trained, then froze; base.3 was frozen, then trained (the optimizer got it).
    assert not torch.equal(s[0]["head.1.weight"], s[1]["head.1.weight"])
    assert torch.equal(s[2]["head.1.weight"], s[3]["head.1.weight"])
    assert torch.equal(s[0]["base.3.weight"], s[1]["base.3.weight"])
    assert not torch.equal(s[1]["base.3.weight"], s[2]["base.3.weight"])
    assert not torch.equal(s[2]["base.3.weight"], s[3]["base.3.weight"])
    assert torch.equal(s[0]["base.0.weight"], s[3]["base.0.weight"])
    assert any(model.base[3].weight is p for g in opt.param_groups for p in g["params"])


def test_stop_malformed_unknown_and_stale(run_dir):
    model = small_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracker = Tracker(model, opt, run_dir=run_dir)
    writes = {
        0: '{"version": 1, "revision": 3, "trainable": {',
        1: {"version": 1, "revision": 4, "trainable": {"nope": False}, "stop": False},
        2: {"version": 1, "revision": 2, "trainable": {"head.3": False}, "stop": False},
        3: {"version": 1, "revision": 5, "trainable": {}, "stop": True},
    }
    seen, _ = train(model, tracker, opt, 8, lambda e: e in writes and write_control(run_dir, writes[e]))
    ev = read_events(run_dir)
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(3, "rejected"), (4, "rejected"), (5, "applied")]
    assert "not valid JSON" in acks[0]["message"] and "nope" in acks[1]["message"]
    assert all(p.requires_grad for p in model.parameters())  # the stale revision changed nothing
    assert seen == [0, 1, 2, 3]
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "stopped"
