"""Fine-tune a small CNN with a new head in PyTorch, watched and steered by finetop.

    finetop run -- python assets/examples/finetune_torch.py
    python assets/examples/finetune_torch.py --epochs 20 --unfreeze 2

The same recipe as the Keras example: a "base" with all but its last N parameter-holding layers
frozen, and the general head — Dropout(0.5) → Linear(128) + ReLU → Dropout(0.5) → Linear(classes)
(after global average pooling). The base here is small and randomly initialized, so the example
runs anywhere without a download; with a pretrained torchvision model you would load its weights
(e.g. ``torchvision.models.mobilenet_v2(weights="IMAGENET1K_V2").features``) and freeze the same way.

The optimizer gets only the parameters trainable at the start (the common pattern); when you
unfreeze a layer in finetop, the tracker adds its parameters to the optimizer (and the cosine
learning-rate schedule to them) so they really train.

Several processes, unchanged: ``torchrun --nproc_per_node=2 assets/examples/finetune_torch.py``
trains with DistributedDataParallel (gloo on CPU, nccl on GPUs), each rank on its shard of the
data. Global rank 0 writes the run and reads control.json; every rank applies each toggle at the
same step. ``FINETOP_REPLICA_CHECK=1`` makes each rank print
``replica-check rank=R epoch=E checksum=X`` (a checksum of all parameters) at every epoch end:
equal checksums mean the replicas are bit-identical.

Data: scikit-learn's bundled digits (1,797 8x8 images, no download).
"""
import argparse
import hashlib
import os
import sys
import time

# finetop's helpers: installed (`pip install assets/python`) or found in the checkout.
_HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if os.path.isdir(_HELPERS):
    sys.path.insert(0, os.path.abspath(_HELPERS))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from finetop.torch import Tracker  # noqa: E402


def digits(n_val, seed=0):
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images[:, None].astype("float32") / 16.0)   # (1797, 1, 8, 8)
    y = torch.tensor(d.target.astype("int64"))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def build(classes):
    base = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Sequential(nn.Dropout(0.5), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, classes))
    model = nn.Sequential()
    model.add_module("base", base)
    model.add_module("head", head)
    return model


def freeze_all_but_last(base, n):
    """Freeze the base except its last n parameter-holding layers (Keras's `layers[:-n]`)."""
    layers = [m for m in base if any(True for _ in m.parameters(recurse=False))]
    for m in layers[:len(layers) - n] if n > 0 else layers:
        m.requires_grad_(False)


def start_distributed():
    """(rank, world size), joining the process group when launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    import torch.distributed as dist
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def checksum(model):
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict(keep_vars=True).items()):
        if isinstance(p, nn.Parameter):
            h.update(name.encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def evaluate(model, x, y, loss_fn):
    model.eval()
    with torch.no_grad():
        out = model(x)
        return loss_fn(out, y).item(), (out.argmax(1) == y).float().mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--unfreeze", type=int, default=2, help="leave the last N base layers trainable")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--val", type=int, default=360, help="validation images")
    p.add_argument("--run-dir", default=None, help="default: $FINETOP_RUN_DIR, else runs/<timestamp>")
    p.add_argument("--epoch-pause", type=float, default=0.0,
                   help="seconds to wait after each epoch (demos: time to toggle)")
    args = p.parse_args()

    rank, world = start_distributed()
    torch.manual_seed(0)
    (x, y), (x_val, y_val) = digits(args.val)
    model = build(10)
    freeze_all_but_last(model.base, args.unfreeze)
    net = model
    if world > 1:  # each rank trains on its own shard; gradients are averaged
        net = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam([q for q in model.parameters() if q.requires_grad],
                                 lr=args.learning_rate)
    steps = (len(x) // world + args.batch_size - 1) // args.batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps)
    loss_fn = nn.CrossEntropyLoss()
    replica_check = os.environ.get("FINETOP_REPLICA_CHECK") == "1"

    tracker = Tracker(net, optimizer, scheduler=scheduler, run_dir=args.run_dir, loss=loss_fn,
                      example_input=x[:2],
                      hparams={"batch_size": args.batch_size * world, "epochs": args.epochs})
    with tracker:  # writes `end` (completed / stopped / error) however the loop ends
        for epoch in range(args.epochs):
            net.train()
            start, total, correct, seen = time.monotonic(), 0.0, 0, 0
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
            order = order[rank:len(order) - len(order) % world:world]   # this rank's shard
            for i in range(0, len(order), args.batch_size):
                idx = order[i:i + args.batch_size]
                optimizer.zero_grad()
                out = net(x[idx])
                loss = loss_fn(out, y[idx])
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.item() * len(idx)
                correct += (out.argmax(1) == y[idx]).sum().item()
                seen += len(idx)
                if tracker.batch(loss=loss.item()):     # logs, and applies control.json
                    break
            if world > 1:  # the epoch's figures over all ranks
                sums = torch.tensor([total, correct, seen], dtype=torch.float64)
                torch.distributed.all_reduce(sums)
                total, correct, seen = sums[0].item(), sums[1].item(), sums[2].item()
            val_loss, val_acc = evaluate(model, x_val, y_val, loss_fn)
            if replica_check:
                print("replica-check rank=%d epoch=%d checksum=%s" % (rank, epoch + 1, checksum(model)),
                      flush=True)
            if rank == 0:
                print("epoch %d: loss %.4f accuracy %.3f val_loss %.4f val_accuracy %.3f"
                      % (epoch + 1, total / seen, correct / seen, val_loss, val_acc), flush=True)
            if tracker.epoch(loss=total / seen, val_loss=val_loss, accuracy=correct / seen,
                             val_accuracy=val_acc, time=time.monotonic() - start):
                break                                   # the dashboard asked to stop
            if args.epoch_pause:
                time.sleep(args.epoch_pause)
    if world > 1:
        torch.distributed.destroy_process_group()

if __name__ == "__main__":
    main()
