"""assets/examples/finetune_lightning.py with strategy="ddp" on 2 CPU processes (Lightning's own
launcher, gloo), steered while it runs (issue 14): an unfreeze of layers frozen when DDP wrapped the
model, then a freeze of a layer DDP was reducing. One run line, one epoch line per epoch, each
revision acknowledged once as applied, one end "completed", exit 0, equal checksums on both ranks
at every epoch. Skipped, saying so, where torch or lightning is not installed."""
import os
import sys

import pytest

from conftest import ROOT

pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                    "(the Lightning helper tests need torch and lightning)")
pytest.importorskip("lightning", reason="lightning is not installed in this Python "
                    "(pip install lightning to run the Lightning helper tests)")

from test_ddp_torch import acked, check_replicas, check_run, epochs_done, torchrun  # noqa: E402

EXAMPLE = os.path.join(ROOT, "assets", "examples", "finetune_lightning.py")


def test_lightning_ddp_unfreeze_then_freeze(tmp_path):
    run_dir = str(tmp_path / "run")
    os.mkdir(run_dir)
    epochs = 6
    code, out, ev = torchrun(EXAMPLE, run_dir, [
        "--devices", "2", "--epochs", str(epochs), "--val", "100", "--epoch-pause", "0.3"], [
        (epochs_done(1), {"version": 1, "revision": 1, "trainable": {"base.3": True, "base.4": True}}),
        (lambda e: acked(1)(e) and epochs_done(3)(e),
         {"version": 1, "revision": 2, "trainable": {"head.1": False}}),
    ], launcher=[sys.executable])
    assert code == 0, out[-3000:]
    acks = check_run(ev, epochs, [1, 2])
    assert sorted(acks[0]["changed"]) == ["base.3", "base.4"] and acks[1]["changed"] == ["head.1"]
    check_replicas(out, epochs)
