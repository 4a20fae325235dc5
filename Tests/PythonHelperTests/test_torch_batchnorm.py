"""Frozen BatchNorm stays frozen in PyTorch (issue 10, item 3): its running statistics do not change
across model.train() and an epoch of training, the layer table says so (stats_frozen), and an
unfreeze releases it. A MobileNetV2-like model (inverted residual blocks, 16 BatchNorm2d) built here,
no download. Real torch; skipped, saying so, where it is not installed."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from torch import nn  # noqa: E402

from finetop.torch import Tracker  # noqa: E402


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            *([conv_bn(cin, hidden, 1)] if expand != 1 else []),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, cout, 1, act=False))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenet_like(classes=3):
    torch.manual_seed(0)
    cfg = [(1, 8, 1), (4, 12, 2), (4, 12, 1), (4, 16, 2), (4, 16, 1)]  # expand, out, stride
    features = [conv_bn(3, 8, 3, 2)]
    cin = 8
    for t, c, s in cfg:
        features.append(InvertedResidual(cin, c, s, t))
        cin = c
    features.append(conv_bn(cin, 32, 1))
    m = nn.Sequential()
    m.add_module("features", nn.Sequential(*features))
    m.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    m.add_module("classifier", nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes)))
    return m


def bn_state(model):
    return {name: {k: v.clone() for k, v in m.state_dict().items()}
            for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}


def epoch(model, opt, tracker, x, y):
    model.train()  # what every training loop does: must not wake frozen BatchNorm
    for i in range(0, len(x), 8):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 8]), y[i:i + 8]).backward()
        opt.step()
        tracker.batch(loss=0.0)
    tracker.epoch(loss=0.0)


def test_frozen_batchnorm_statistics_do_not_change(run_dir):
    model = mobilenet_like()
    for block in model.features[:-2]:
        block.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 32, 32, generator=g), torch.randint(0, 3, (32,), generator=g)
    tracker = Tracker(model, opt, run_dir=run_dir, control_interval=0)
    frozen = {n for n, m in model.named_modules()
              if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad}
    assert len(frozen) == 12 and len(bn_state(model)) == 16
    before = bn_state(model)
    epoch(model, opt, tracker, x, y)
    after = bn_state(model)
    for name in bn_state(model):
        same = all(torch.equal(before[name][k], after[name][k]) for k in before[name])
        if name in frozen:
            assert same, "frozen BatchNorm %s changed its running statistics" % name
        else:
            assert not same, "trainable BatchNorm %s did not update its statistics" % name
    rows = {r["name"]: r for r in of_type(read_events(run_dir), "model")[0]["layers"]}
    assert {n for n, r in rows.items() if r.get("stats_frozen")} == frozen
    assert all(r["learnable_params"] == r["params"] for r in rows.values())

    # Unfreezing the block releases its BatchNorm layers (they train and update again).
    write_control(run_dir, {"version": 1, "revision": 1, "trainable": {"features.4": True}})
    released = {n for n in frozen if n.startswith("features.4.")}
    before = bn_state(model)
    epoch(model, opt, tracker, x, y)
    after = bn_state(model)
    for name in frozen:
        same = all(torch.equal(before[name][k], after[name][k]) for k in before[name])
        assert same == (name not in released), name
    rows = {r["name"]: r for r in of_type(read_events(run_dir), "model")[-1]["layers"]}
    assert {n for n, r in rows.items() if r.get("stats_frozen")} == frozen - released
    model.eval()
    assert not any(m.training for m in model.modules())  # eval() still means eval everywhere
    model.train()
    tracker.end()


def test_hold_norm_stats_false_keeps_pytorch_default(run_dir):
    model = mobilenet_like()
    model.features.requires_grad_(False)
    opt = torch.optim.SGD(model.classifier.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 3, (16,), generator=g)
    tracker = Tracker(model, opt, run_dir=run_dir, hold_norm_stats=False)
    before = bn_state(model)
    epoch(model, opt, tracker, x, y)
    assert not torch.equal(before["features.0.1"]["running_mean"],
                           model.features[0][1].running_mean)
    rows = of_type(read_events(run_dir), "model")[0]["layers"]
    assert not any(r.get("stats_frozen") for r in rows)
