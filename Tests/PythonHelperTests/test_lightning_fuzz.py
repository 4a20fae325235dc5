"""100 fuzzed control files fed to a running Lightning fit (issue 10, "what it must show", for the
Lightning helper too): the job finishes its epochs every time. Skipped, saying so, where lightning
or torch is not installed."""
import os
import sys

import pytest

from conftest import ROOT, read_events

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Lightning helper tests need torch and lightning)")
pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed in this Python "
                         "(pip install lightning to run the Lightning helper tests)")

sys.path.insert(0, os.path.join(ROOT, "assets", "examples"))

from finetop.lightning import FinetopCallback  # noqa: E402
from finetune_lightning import Digits  # noqa: E402
from finetune_torch import digits  # noqa: E402
from test_torch_fuzz import check_job, fuzzed_controls, write_raw  # noqa: E402


class Feeder(pl.Callback):
    def __init__(self, run_dir, files):
        self.run_dir, self.files, self.fed = run_dir, files, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.fed < len(self.files):
            write_raw(self.run_dir, self.files[self.fed])
            self.fed += 1


def test_lightning_fit_survives_100_fuzzed_control_files(run_dir):
    pl.seed_everything(0, verbose=False)
    (x, y), _ = digits(10)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:256], y[:256]),
                                        batch_size=8, shuffle=True)
    model = Digits(unfreeze=2, learning_rate=1e-3, epochs=4)
    names = ["base.0", "base.1", "base.3", "base.4", "base.7", "base.8", "head.1", "head.4",
             "base", "head"]
    feeder = Feeder(run_dir, fuzzed_controls(names))
    trainer = pl.Trainer(max_epochs=4, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0,
                         callbacks=[feeder, FinetopCallback(run_dir=run_dir, control_interval=0)])
    trainer.fit(model, train)  # 32 steps an epoch, 128 in all
    assert feeder.fed == 100
    check_job(read_events(run_dir), 4)
