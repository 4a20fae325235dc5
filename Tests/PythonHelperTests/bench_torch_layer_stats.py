"""Overhead of the PyTorch helpers' layer_stats (issue 15), measured, not a test:

    python Tests/PythonHelperTests/bench_torch_layer_stats.py [bert|mobilenet] [batches]

Times a few real training steps (forward, backward, AdamW step) of a BERT-base-size model
(transformers BertConfig() defaults, 109.5 M params, built from the config) on batches of 8 × 128
tokens, and of a MobileNetV2 (width 1.0, 3.5 M params, built here: torchvision's layout, no
download) on batches of 32 × 224², then the time LayerStats.begin + end take per epoch, for a
full fine-tune and for a frozen base; prints the batches an epoch needs for ≤ 2 %."""
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assets", "python"))
from finetop._torch_stats import LayerStats  # noqa: E402


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(*([conv_bn(cin, hidden, 1)] if expand != 1 else []),
                                  conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                  conv_bn(hidden, cout, 1, act=False))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenet_v2(classes=1000):
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]
    features, cin = [conv_bn(3, 32, 3, 2)], 32
    for t, c, n, s in cfg:
        for i in range(n):
            features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    features.append(conv_bn(cin, 1280, 1))
    m = nn.Sequential()
    m.add_module("features", nn.Sequential(*features))
    m.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    m.add_module("classifier", nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes)))
    return m


def setup(kind):
    torch.manual_seed(0)
    if kind == "bert":
        import transformers
        model = transformers.BertForSequenceClassification(transformers.BertConfig(num_labels=2))
        x = {"input_ids": torch.randint(0, 30522, (8, 128)), "labels": torch.randint(0, 2, (8,))}
        step_loss = lambda: model(**x).loss  # noqa: E731
        base = model.bert
        keep = [model.bert.encoder.layer[-1], model.bert.pooler, model.classifier]
    else:
        model = mobilenet_v2()
        x, y = torch.randn(32, 3, 224, 224), torch.randint(0, 1000, (32,))
        step_loss = lambda: nn.functional.cross_entropy(model(x), y)  # noqa: E731
        base = model.features
        keep = [model.features[-1], model.features[-2], model.classifier]
    return model, step_loss, base, keep


def measure(model, step_loss, batches):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        opt.zero_grad()
        step_loss().backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "bert"
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    model, step_loss, base, keep = setup(kind)
    n = sum(p.numel() for p in model.parameters())
    print("%s: %.1f M params, %d threads" % (kind, n / 1e6, torch.get_num_threads()))
    for label in ("all trainable", "base frozen"):
        if label == "base frozen":
            base.requires_grad_(False)
            for m in keep:
                m.requires_grad_(True)
        s = LayerStats()
        s.begin(model)  # first epoch: allocates the snapshot
        step = measure(model, step_loss, batches)
        s.end(model)
        per = []
        for _ in range(2):  # later epochs: reuse the snapshot, end fingerprints reused
            s.seconds = 0.0
            s.begin(model)
            measure(model, step_loss, 1)
            s.end(model)
            per.append(s.seconds)
        cost = min(per)
        copied = sum(b.numel() * b.element_size() for b in s._copies.values())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print("  %s (%.1f M trainable): batch %.2f s (median of %d); layer_stats %.3f s per epoch "
              "(runs %s); snapshot %.0f MB; <= 2%% from %d batches per epoch"
              % (label, trainable / 1e6, step, batches, cost, ", ".join("%.3f" % p for p in per),
                 copied / 2**20, -(-cost // (0.02 * step))))


if __name__ == "__main__":
    main()
