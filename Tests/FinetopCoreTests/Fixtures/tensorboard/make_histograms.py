"""Writes tensorboard/histograms/: a real PyTorch job logging weight histograms the common way,
`torch.utils.tensorboard.SummaryWriter.add_histogram(name, param, epoch)` for every
`named_parameters()` at each epoch end, beside `Loss/train` and `Loss/val` scalars. The first
Linear layer is frozen (requires_grad False), so its weights never change; BatchNorm's moving
statistics are logged too (`add_histogram("bn.running_mean", …)`, a buffer). One more tag is
written the TF2 way (`tensorboard.plugins.histogram.summary.histogram_pb`: bucket counts in a
tensor, no sum of squares) to check it is left out, not misread.

    /work/main/.venv/bin/python Tests/FinetopCoreTests/Fixtures/tensorboard/make_histograms.py
"""
import glob, json, os, shutil

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tensorboard.plugins.histogram import summary as histogram_summary

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "histograms")
shutil.rmtree(OUT, ignore_errors=True)
torch.manual_seed(0)
x = torch.randn(256, 8)
y = (x[:, 0] + x[:, 1] > 0).long()
model = nn.Sequential()
model.add_module("frozen", nn.Linear(8, 16))
model.add_module("act", nn.ReLU())
model.add_module("bn", nn.BatchNorm1d(16))
model.add_module("head", nn.Linear(16, 2))
for p in model.frozen.parameters():
    p.requires_grad = False
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
writer = SummaryWriter(OUT)
# What the test checks against, computed from the weights themselves in float64: per epoch after
# the first, per layer, the relative change of the norm and the true update ratio.
def layer_weights():
    out = {}
    for name, p in list(model.named_parameters()) + [("bn.running_mean", model.bn.running_mean)]:
        out.setdefault(name.split(".")[0], []).append(p.detach().double().flatten().clone())
    return {k: torch.cat(v) for k, v in out.items()}
expected = {}
previous = None
for epoch in range(5):
    model.train()
    for i in range(0, 256, 32):
        loss = nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val = nn.functional.cross_entropy(model(x), y)
    writer.add_scalar("Loss/train", loss.item(), epoch)
    writer.add_scalar("Loss/val", val.item(), epoch)
    for name, p in model.named_parameters():
        writer.add_histogram(name, p, epoch)
    writer.add_histogram("bn.running_mean", model.bn.running_mean, epoch)
    writer.file_writer.add_summary(histogram_summary.histogram_pb("tf2/head.weight", model.head.weight.detach().numpy()), epoch)
    now = layer_weights()
    if previous is not None:
        expected[str(epoch)] = {k: {"norm_change": abs(now[k].norm().item() - previous[k].norm().item()) / previous[k].norm().item(),
                                    "update_ratio": (now[k] - previous[k]).norm().item() / previous[k].norm().item()} for k in now}
    previous = now
writer.close()
with open(os.path.join(HERE, "histograms_expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
for n, path in enumerate(sorted(glob.glob(os.path.join(OUT, "events.out.tfevents.*")))):
    os.rename(path, os.path.join(OUT, f"events.out.tfevents.{1763900000 + n}.finetop.1.0"))
print(os.listdir(OUT))
