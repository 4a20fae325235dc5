"""Model lines of a real PyTorch model written by the real finetop helper (finetop.torch), before
and after unfreezing its last layers, so the parameter rule is tested against what PyTorch counts.

    /work/main/.venv/bin/python make_torch_runs.py   # rewrites torch_mobilenetlike_*.events.jsonl

The model is MobileNetV2's layout at width 1.0 (torchvision is not installed here, so its blocks are
written out): Conv2d+BatchNorm2d stems, 17 inverted-residual blocks, a 1280-channel last conv,
plus a LayerNorm, a GroupNorm and a SyncBatchNorm in the head, and one Linear whose weight is
frozen while its bias trains (a partly trainable row). The feature extractor is frozen, the
head trains; then the last 12 frozen rows are unfrozen with `apply_trainable`.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "assets", "python"))

import torch
from torch import nn

from finetop.torch import apply_trainable, model_layers


def conv_bn(cin, cout, k, s, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


def mobilenet_v2(num_classes=5):
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    features = [conv_bn(3, 32, 3, 2)]
    cin = 32
    for t, c, n, s in settings:
        for i in range(n):
            features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    features.append(conv_bn(cin, 1280, 1, 1))
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*features))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("norm", nn.LayerNorm(1280))
    model.add_module("proj", nn.Linear(1280, 64))
    model.add_module("gn", nn.GroupNorm(8, 64))
    model.add_module("sbn", nn.SyncBatchNorm(64))
    model.add_module("classifier", nn.Linear(64, num_classes))
    return model


def main():
    torch.manual_seed(0)
    model = mobilenet_v2()
    for p in model.features.parameters():
        p.requires_grad_(False)
    model.proj.weight.requires_grad_(False)  # bias only: partly trainable
    rows = model_layers(model)
    frozen = [r["name"] for r in rows if r["trainable_params"] == 0]
    unfreeze = frozen[-12:]
    for name, layers in (("before", rows), ("after", None)):
        path = os.path.join(HERE, f"torch_mobilenetlike_{name}.events.jsonl")
        if os.path.exists(path):
            os.remove(path)
        if layers is None:
            apply_trainable(model, {n: True for n in unfreeze})
            layers = model_layers(model)
        with open(path, "w") as f:
            for obj in ({"type": "run", "version": 1, "framework": "pytorch", "framework_version": torch.__version__,
                         "run_id": "torch-mobilenetlike", "started": 1763900000, "hparams": {}},
                        {"type": "model", "revision": 0, "layers": layers}):
                f.write(json.dumps(obj) + "\n")
    with open(os.path.join(HERE, "torch_mobilenetlike_unfreeze.json"), "w") as f:
        json.dump({"unfreeze": unfreeze,
                   "trainable_before": sum(r["trainable_params"] for r in rows),
                   "trainable_after": sum(r["trainable_params"] for r in layers)}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
