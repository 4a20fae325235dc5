"""A real run log of the PyTorch helper's `layer_stats` lines (issue 15), for the Swift reader.

    /work/main/.venv/bin/python make_torch_layer_stats.py   # rewrites torch_layer_stats.events.jsonl

A small conv net (rows 0, 1, 3, 4, 8: Conv2d, BatchNorm2d, Conv2d, BatchNorm2d, Linear) trained
4 epochs with finetop.torch.Tracker and `hold_norm_stats=False`: conv 0 and BatchNorm 1 are frozen
(BatchNorm 1's running statistics keep updating under frozen weights, PyTorch's default: a frozen
layer that moved); at the end of epoch 1 control.json (written as the dashboard writes it)
unfreezes 0 and 1 and freezes 3, so from epoch 2 on row 0 moves and row 3 reads exactly 0.
The run's `run_id`, host, pid and times are whatever they were when it was made.
"""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "assets", "python"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from finetop.torch import Tracker  # noqa: E402


def main():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    model[0].requires_grad_(False)
    model[1].requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    run_dir = tempfile.mkdtemp()
    try:
        tracker = Tracker(model, opt, run_dir=run_dir, hold_norm_stats=False,
                          hparams={"batch_size": 8, "epochs": 4})
        for e in range(4):
            model.train()
            total = 0.0
            for i in range(0, 32, 8):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x[i:i + 8]), y[i:i + 8])
                loss.backward()
                opt.step()
                total += loss.item()
                tracker.batch(loss=loss.item())
            if e == 1:
                with open(os.path.join(run_dir, ".control.json.tmp"), "w") as f:
                    json.dump({"version": 1, "revision": 1,
                               "trainable": {"0": True, "1": True, "3": False}}, f)
                os.replace(os.path.join(run_dir, ".control.json.tmp"),
                           os.path.join(run_dir, "control.json"))
            tracker.epoch(loss=total / 4)
        tracker.end()
        shutil.copy(os.path.join(run_dir, "events.jsonl"),
                    os.path.join(HERE, "torch_layer_stats.events.jsonl"))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
