"""A tiny DDP job for test_ddp_torch_rates.py (run by torchrun, 2 ranks, gloo, CPU): a model with
three frozen layers and a head, Adam and a warm-up/decay LambdaLR, steered through finetop.torch.
At every epoch end each rank prints ``replica-check rank=R epoch=E checksum=X`` (its weights) and
``groups rank=R epoch=E <json> end`` (each param group's rate and parameter names), so the test can
check that every rank has the same groups at the same rates."""
import argparse
import hashlib
import json
import os
import sys
import time

import torch
import torch.distributed as dist

from finetop.torch import Tracker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run-dir", required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--epoch-pause", type=float, default=0.3)
    args = p.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    for name, (i, o) in zip(("a", "b", "c", "head"), ((4, 8), (8, 8), (8, 8), (8, 2))):
        model.add_module(name, torch.nn.Linear(i, o))
    for name in ("a", "b", "c"):
        getattr(model, name).requires_grad_(False)
    net = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 5) * 0.97 ** s)
    names = {id(q): n for n, q in model.named_parameters()}
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    y = (x[:, 0] > 0).long()
    loss_fn = torch.nn.CrossEntropyLoss()
    tracker = Tracker(net, opt, scheduler=sched, run_dir=args.run_dir, loss=loss_fn)
    with tracker:
        for epoch in range(args.epochs):
            for i in range(rank * 8, 64, 8 * world):
                opt.zero_grad()
                loss = loss_fn(net(x[i:i + 8]), y[i:i + 8])
                loss.backward()
                opt.step()
                sched.step()
                if tracker.batch(loss=loss.item()):
                    break
            h = hashlib.sha256()
            for n, q in sorted(model.named_parameters()):
                h.update(n.encode())
                h.update(q.detach().contiguous().numpy().tobytes())
            groups = [[float(g["lr"]), sorted(names[id(q)] for q in g["params"])]
                      for g in opt.param_groups]
            print("replica-check rank=%d epoch=%d checksum=%s" % (rank, epoch + 1,
                                                                 h.hexdigest()[:16]), flush=True)
            print("groups rank=%d epoch=%d %s end" % (rank, epoch + 1, json.dumps(groups)), flush=True)
            if tracker.epoch(loss=loss.item()):
                break
            time.sleep(args.epoch_pause)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
