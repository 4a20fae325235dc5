"""assets/examples/finetune_transformers.py (Hugging Face Trainer) under a real
`torchrun --nproc_per_node=2` (DDP, gloo, CPU), steered while it runs (issue 14): an unfreeze of an
encoder layer frozen when the Trainer wrapped the model, then a freeze of the classifier. One run
line, one epoch line per epoch, each revision acknowledged once as applied, one end "completed",
exit 0, equal checksums on both ranks at every epoch. Skipped, saying so, where torch or
transformers is not installed."""
import os

import pytest

from conftest import ROOT, of_type

pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                    "(the Hugging Face helper tests need torch and transformers)")
pytest.importorskip("transformers", reason="transformers is not installed in this Python "
                    "(pip install transformers accelerate to run these tests)")

from test_ddp_torch import acked, check_replicas, check_run, epochs_done, torchrun  # noqa: E402

EXAMPLE = os.path.join(ROOT, "assets", "examples", "finetune_transformers.py")


def test_trainer_under_torchrun_unfreeze_then_freeze(tmp_path):
    run_dir = str(tmp_path / "run")
    os.mkdir(run_dir)
    epochs = 6
    code, out, ev = torchrun(EXAMPLE, run_dir, [
        "--epochs", str(epochs), "--train", "128", "--val", "32", "--batch-size", "16",
        "--epoch-pause", "0.3", "--output-dir", str(tmp_path / "out")], [
        (epochs_done(1), {"version": 1, "revision": 1, "trainable": {"bert.encoder.layer.0": True}}),
        (lambda e: acked(1)(e) and epochs_done(3)(e),
         {"version": 1, "revision": 2, "trainable": {"classifier": False}}),
    ])
    # A rank's own error (a traceback, a C++ abort) first, then the tail with torchrun's summary.
    errors = [ln for ln in out.splitlines()
              if any(k in ln for k in ("Error", "Traceback", "terminate called", "Abort", "what():"))]
    assert code == 0, "\n".join(errors[:40]) + "\n...\n" + out[-3000:]
    acks = check_run(ev, epochs, [1, 2])
    assert acks[1]["changed"] == ["classifier"]
    assert all(n.startswith("bert.encoder.layer.0.") for n in acks[0]["changed"]) and acks[0]["changed"]
    check_replicas(out, epochs)
