"""assets/examples/finetune_torch.py under a real `torchrun --nproc_per_node=2` (DDP, gloo, CPU),
steered while it runs (issue 14): an unfreeze of layers frozen when DDP wrapped the model, then a
freeze of a layer DDP was reducing. One run line (world size 2), one epoch line per epoch, each
revision acknowledged once as applied, one end "completed", exit 0, and bit-identical replicas
(equal checksums on both ranks at every epoch). Skipped, saying so, where torch is not installed."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import ROOT, of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

EXAMPLE = os.path.join(ROOT, "assets", "examples", "finetune_torch.py")


def lines(run_dir):
    try:
        return read_events(run_dir)
    except (FileNotFoundError, json.JSONDecodeError, AssertionError):
        return []


def torchrun(script, run_dir, args, writes, timeout=240, launcher=None):
    """Runs ``script`` on 2 ranks (with torchrun, or ``launcher`` + script when the script
    launches its own processes); ``writes``: [(predicate(events), control)] written in order
    as soon as each predicate holds (a control may be a function of the events). Returns (exit
    code, output, events)."""
    env = dict(os.environ, FINETOP_REPLICA_CHECK="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.path.join(ROOT, "assets", "python"))
    env.pop("FINETOP_RUN_DIR", None)
    if launcher is None:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node=2"]
    proc = subprocess.Popen(
        launcher + [script, "--run-dir", run_dir] + args,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    deadline = time.monotonic() + timeout
    pending = list(writes)
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if pending and pending[0][0](lines(run_dir)):
                control = pending.pop(0)[1]
                # A control may need the events (a stop names the run_id of the job's run line).
                write_control(run_dir, control(lines(run_dir)) if callable(control) else control)
            time.sleep(0.05)
        out = proc.communicate(timeout=max(1, deadline - time.monotonic()))[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not pending, "the job ended before every control file was written:\n" + out[-3000:]
    return proc.returncode, out, read_events(run_dir)


def acked(revision):
    return lambda ev: any(a["revision"] == revision for a in of_type(ev, "control"))


def epochs_done(n):
    return lambda ev: len(of_type(ev, "epoch")) >= n


def check_replicas(out, epochs):
    seen = {}
    # The checksum is 16 hex digits: two ranks printing at once can glue one line to the next.
    for rank, epoch, checksum in re.findall(r"replica-check rank=(\d) epoch=(\d+) checksum=([0-9a-f]{16})", out):
        seen.setdefault(int(epoch), {})[int(rank)] = checksum
    assert sorted(seen) == list(range(1, epochs + 1)), out[-3000:]
    for epoch, by_rank in sorted(seen.items()):
        assert set(by_rank) == {0, 1} and by_rank[0] == by_rank[1], \
            "epoch %d: replicas differ %s" % (epoch, by_rank)
    return [seen[e][0] for e in sorted(seen)]


def check_run(ev, epochs, revisions):
    (run,) = of_type(ev, "run")
    assert run["world_size"] == 2 and [r["rank"] for r in run["ranks"]] == [0, 1]
    assert [e["epoch"] for e in of_type(ev, "epoch")] == list(range(epochs))
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(r, "applied") for r in revisions], acks
    ends = of_type(ev, "end")
    assert len(ends) == 1 and ends[0]["reason"] == "completed" and ev[-1] is ends[0]
    return acks


def test_torchrun_two_ranks_unfreeze_then_freeze(tmp_path):
    run_dir = str(tmp_path / "run")
    os.mkdir(run_dir)
    epochs = 7
    code, out, ev = torchrun(EXAMPLE, run_dir, ["--epochs", str(epochs), "--val", "200",
                                                "--epoch-pause", "0.3"], [
        (epochs_done(1), {"version": 1, "revision": 1, "trainable": {"base.3": True, "base.4": True}}),
        (lambda e: acked(1)(e) and epochs_done(3)(e),
         {"version": 1, "revision": 2, "trainable": {"head.1": False}}),
    ])
    assert code == 0, out[-3000:]
    acks = check_run(ev, epochs, [1, 2])
    assert sorted(acks[0]["changed"]) == ["base.3", "base.4"] and acks[1]["changed"] == ["head.1"]
    check_replicas(out, epochs)
    models = of_type(ev, "model")
    rows = {r["name"]: r for r in models[-1]["layers"]}
    assert rows["base.3"]["trainable"] and not rows["head.1"]["trainable"]
    assert not rows["base.4"].get("stats_frozen") and rows["base.1"].get("stats_frozen")
    # layer_stats (issue 15): rank 0 alone writes one line per epoch; a layer reads 0 over the
    # epochs that ended before its unfreeze was acknowledged and those that began after its freeze.
    assert [s["epoch"] for s in of_type(ev, "layer_stats")] == list(range(epochs))
    stats, acked_in = {}, {}  # revision -> the epoch during (or at the start of) which it applied
    for e in ev:
        if e["type"] == "layer_stats":
            stats[e["epoch"]] = e["update_ratio"]
        elif e["type"] == "control":
            acked_in[e["revision"]] = len(stats)
    assert acked_in[2] < epochs - 1, "no epoch began after the freeze"
    for k, r in stats.items():
        assert r["base.0"] == 0.0 and r["base.1"] == 0.0 and r["base.7"] > 0, (k, r)
        assert (r["base.3"] == 0.0) if k < acked_in[1] else (r["base.3"] > 0 or k == acked_in[1]), (k, r)
        assert (r["head.1"] > 0) if k < acked_in[2] else (r["head.1"] == 0.0 or k == acked_in[2]), (k, r)


def test_torchrun_two_ranks_stop_ends_every_rank_at_the_same_step(tmp_path):
    run_dir = str(tmp_path / "run")
    os.mkdir(run_dir)
    # The stop is addressed to this job: the run_id of its run line (unique per job).
    code, out, ev = torchrun(EXAMPLE, run_dir, ["--epochs", "30", "--val", "100",
                                                "--epoch-pause", "0.2"], [
        (epochs_done(2), lambda ev: {"version": 1, "revision": 1, "trainable": {}, "stop": True,
                                     "stop_run_id": of_type(ev, "run")[0]["run_id"]}),
    ])
    assert code == 0, out[-3000:]
    assert len(of_type(ev, "run")) == 1
    (ack,) = of_type(ev, "control")
    assert ack["revision"] == 1 and ack["status"] == "applied"
    ends = of_type(ev, "end")
    assert len(ends) == 1 and ends[0]["reason"] == "stopped" and ev[-1] is ends[0]
    epochs = [e["epoch"] for e in of_type(ev, "epoch")]
    assert epochs == list(range(len(epochs))) and 2 <= len(epochs) < 30
    # Both ranks ended the same epoch with the same weights: they stopped at the same step.
    assert len(check_replicas(out, len(epochs))) == len(epochs)
