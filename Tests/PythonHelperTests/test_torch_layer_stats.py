"""Which layers learn, in PyTorch (issue 15): the Tracker writes a `layer_stats` line at every epoch
end, r = ‖w_end − w_start‖ / ‖w_start‖ per model-line row over all the module's own float
parameters and buffers. A frozen layer reads exactly 0 at every epoch, trained ones above 0; a
toggle (control.json written as the dashboard writes it) moves a layer from 0 to > 0 and back at
the next epoch, also when it arrives within an epoch; a frozen BatchNorm held in eval mode
(stats_frozen) stays 0, one left to update its statistics (hold_norm_stats=False) shows.
Real torch; skipped, saying so, where it is not installed."""
import math

import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from torch import nn  # noqa: E402

from finetop.torch import Tracker  # noqa: E402
from finetop._torch_stats import LayerStats  # noqa: E402


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 3, 8, 8, generator=g), torch.randint(0, 3, (32,), generator=g)


def train(model, opt, tracker, epochs, between=None, within=None):
    x, y = data()
    for e in range(epochs):
        model.train()
        for i in range(0, len(x), 8):
            if within is not None and i == 16:
                within(e)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 8]), y[i:i + 8]).backward()
            opt.step()
            tracker.batch(loss=0.0)
        if between is not None:
            between(e)
        tracker.epoch(loss=0.0)
    tracker.end()


def stats(run_dir):
    return {s["epoch"]: s["update_ratio"] for s in of_type(read_events(run_dir), "layer_stats")}


def test_frozen_layers_read_zero_and_trained_layers_move(run_dir):
    model = net()
    model[0].requires_grad_(False)  # a frozen conv and its BatchNorm (held in eval mode)
    model[1].requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tracker = Tracker(model, opt, run_dir=run_dir)
    train(model, opt, tracker, 3)
    events = read_events(run_dir)
    rows = [r["name"] for r in of_type(events, "model")[0]["layers"]]
    assert rows == ["0", "1", "3", "4", "8"]
    assert of_type(events, "model")[0]["layers"][1].get("stats_frozen") is True
    got = stats(run_dir)
    assert sorted(got) == [0, 1, 2]
    for e, ratios in got.items():
        assert set(ratios) == set(rows)  # every row with weights, named as the model line names it
        assert ratios["0"] == 0.0 and ratios["1"] == 0.0, (e, ratios)
        assert all(ratios[n] > 0 for n in ("3", "4", "8")), (e, ratios)
        assert all(math.isfinite(v) for v in ratios.values())
    # the line comes right after its epoch line
    kinds = [(ev["type"], ev.get("epoch")) for ev in events if ev["type"] in ("epoch", "layer_stats")]
    assert kinds == [("epoch", 0), ("layer_stats", 0), ("epoch", 1), ("layer_stats", 1),
                     ("epoch", 2), ("layer_stats", 2)]


def test_ratio_is_the_relative_change_of_all_weights_and_running_statistics():
    model = net()
    s = LayerStats()
    s.begin(model)
    bn = model[4]
    start = torch.cat([t.detach().reshape(-1).clone() for t in
                       (bn.weight, bn.bias, bn.running_mean, bn.running_var)])
    with torch.no_grad():
        bn.weight.add_(0.5)
        bn.running_mean.add_(2.0)  # a buffer: counts too
    end = torch.cat([t.detach().reshape(-1) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)])
    ratios = s.end(model)
    assert ratios["4"] == pytest.approx(float((end - start).norm() / start.norm()), rel=1e-6)
    assert ratios["0"] == 0.0 and ratios["8"] == 0.0


def test_frozen_parameter_changed_by_hand_is_caught(run_dir):
    """A frozen parameter is fingerprinted, not copied; one changed anyway reads above 0."""
    model = net()
    model[0].requires_grad_(False)
    s = LayerStats()
    s.begin(model)
    with torch.no_grad():
        model[0].weight.mul_(2.0)  # no copy was kept: the fingerprint catches it (lower bound)
    r = s.end(model)
    assert r["0"] > 0.5
    s.begin(model)
    assert s.end(model)["0"] == 0.0


def test_toggle_at_epoch_end_moves_ratios_at_the_next_epoch(run_dir):
    model = net()
    model[0].requires_grad_(False)
    model[1].requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    tracker = Tracker(model, opt, run_dir=run_dir)

    def toggle(e):
        if e == 1:  # read at the end of epoch 1: applies from epoch 2
            write_control(run_dir, {"version": 1, "revision": 1,
                                    "trainable": {"0": True, "1": True, "3": False, "4": False}})
    train(model, opt, tracker, 4, between=toggle)
    acks = of_type(read_events(run_dir), "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(1, "applied")]
    got = stats(run_dir)
    for e in (0, 1):
        assert got[e]["0"] == 0.0 and got[e]["1"] == 0.0 and got[e]["3"] > 0 and got[e]["4"] > 0
    for e in (2, 3):
        assert got[e]["0"] > 0 and got[e]["1"] > 0 and got[e]["3"] == 0.0 and got[e]["4"] == 0.0, got[e]


def test_toggle_within_an_epoch_is_measured_from_the_epoch_start(run_dir):
    """A toggle applied by batch() halfway through epoch 1: the unfrozen conv moves within that
    epoch (its start values were its frozen values, copied at the toggle); the newly frozen one
    moved in the first half and reads 0 from epoch 2."""
    model = net()
    model[0].requires_grad_(False)
    model[1].requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    tracker = Tracker(model, opt, run_dir=run_dir, control_interval=0)
    seen = {}

    def toggle(e):
        if e == 1:
            write_control(run_dir, {"version": 1, "revision": 1,
                                    "trainable": {"0": True, "1": True, "3": False, "4": False}})

    def snapshot(e):  # model[0]'s weights at the end of epoch e (= the start of e + 1)
        seen[e] = torch.cat([t.detach().reshape(-1).clone() for t in model[0].parameters()])
    train(model, opt, tracker, 3, within=toggle, between=snapshot)
    got = stats(run_dir)
    assert got[0]["0"] == 0.0 and got[0]["3"] > 0
    assert got[1]["0"] > 0 and got[1]["3"] > 0  # both moved during part of epoch 1
    # exact over the whole epoch (not the fingerprint's lower bound): its start values were kept
    expected = float((seen[1] - seen[0]).norm() / seen[0].norm())
    assert got[1]["0"] == pytest.approx(expected, rel=1e-5)
    assert got[2]["0"] > 0 and got[2]["3"] == 0.0 and got[2]["4"] == 0.0


def test_held_batchnorm_stays_zero_and_unheld_statistics_show(run_dir, tmp_path):
    for hold, expect_zero in ((True, True), (False, False)):
        d = tmp_path / ("hold" if hold else "free")
        d.mkdir()
        model = net()
        model[1].requires_grad_(False)  # BatchNorm frozen: weights fixed
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        tracker = Tracker(model, opt, run_dir=str(d), hold_norm_stats=hold)
        train(model, opt, tracker, 2)
        model_line = of_type(read_events(str(d)), "model")[0]["layers"]
        assert bool(model_line[1].get("stats_frozen")) is hold
        got = stats(str(d))
        assert sorted(got) == [0, 1]
        for e, ratios in got.items():
            assert ratios["3"] > 0, (e, ratios)
            if expect_zero:
                assert ratios["1"] == 0.0, (e, ratios)
            else:  # frozen weights, but PyTorch updates its running statistics: it moved
                assert ratios["1"] > 0, (e, ratios)


def test_turned_off_by_the_environment(run_dir, monkeypatch):
    monkeypatch.setenv("FINETOP_LAYER_STATS", "0")
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train(model, opt, Tracker(model, opt, run_dir=run_dir), 1)
    assert stats(run_dir) == {} and of_type(read_events(run_dir), "epoch")
