"""Fine-tune a small CNN with a new head in Lightning, watched and steered by finetop.

    finetop run -- python assets/examples/finetune_lightning.py
    python assets/examples/finetune_lightning.py --devices 2     # strategy="ddp", gloo on CPU

The same recipe and data as finetune_torch.py (a base with all but its last N parameter-holding
layers frozen, a new head; scikit-learn's bundled digits), as a LightningModule. The optimizer gets
only the parameters trainable at the start; ``finetop.lightning.FinetopCallback`` adds the ones you
unfreeze in finetop (and extends the cosine schedule to them), holds frozen BatchNorm layers, stops
when asked, and under DDP applies every toggle on all ranks at the same step.
``FINETOP_REPLICA_CHECK=1`` makes each rank print ``replica-check rank=R epoch=E checksum=X`` at
every epoch end.
"""
import argparse
import os
import sys
import time

# finetop's helpers: installed (`pip install assets/python`) or found in the checkout.
_HERE = os.path.dirname(os.path.abspath(__file__))
_HELPERS = os.path.join(_HERE, "..", "python")
if os.path.isdir(_HELPERS):
    sys.path.insert(0, os.path.abspath(_HELPERS))
sys.path.insert(0, _HERE)

import torch  # noqa: E402
from torch import nn  # noqa: E402

try:
    import lightning.pytorch as pl  # noqa: E402
except ImportError:
    import pytorch_lightning as pl  # noqa: E402

from finetop.lightning import FinetopCallback  # noqa: E402
from finetune_torch import build, checksum, digits, freeze_all_but_last  # noqa: E402


class Digits(pl.LightningModule):
    def __init__(self, unfreeze, learning_rate, epochs):
        super().__init__()
        model = build(10)
        freeze_all_but_last(model.base, unfreeze)
        self.base, self.head = model.base, model.head
        self.learning_rate, self.epochs = learning_rate, epochs
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.head(self.base(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss_fn(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", self.loss_fn(out, y), sync_dist=True)
        self.log("val_accuracy", (out.argmax(1) == y).float().mean(), sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.learning_rate)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ReplicaCheck(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        print("replica-check rank=%d epoch=%d checksum=%s" % (
            trainer.global_rank, trainer.current_epoch + 1, checksum(pl_module)), flush=True)


class Pause(pl.Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_epoch_end(self, trainer, pl_module):
        time.sleep(self.seconds)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--unfreeze", type=int, default=2, help="leave the last N base layers trainable")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--val", type=int, default=360, help="validation images")
    p.add_argument("--devices", type=int, default=int(os.environ.get("WORLD_SIZE", "1")),
                   help="processes (CPU); more than 1 trains with strategy=\"ddp\"")
    p.add_argument("--run-dir", default=None, help="default: $FINETOP_RUN_DIR, else runs/<timestamp>")
    p.add_argument("--epoch-pause", type=float, default=0.0,
                   help="seconds to wait after each epoch (demos: time to toggle)")
    args = p.parse_args()

    pl.seed_everything(0, verbose=False)
    (x, y), (x_val, y_val) = digits(args.val)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                        batch_size=args.batch_size, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_val, y_val),
                                      batch_size=256)
    model = Digits(args.unfreeze, args.learning_rate, args.epochs)
    callbacks = [FinetopCallback(run_dir=args.run_dir, loss=model.loss_fn, example_input=x[:2],
                                 hparams={"batch_size": args.batch_size * args.devices})]
    if os.environ.get("FINETOP_REPLICA_CHECK") == "1":
        callbacks.append(ReplicaCheck())
    if args.epoch_pause:
        callbacks.append(Pause(args.epoch_pause))
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                         strategy="ddp" if args.devices > 1 else "auto", callbacks=callbacks,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, train, val)


if __name__ == "__main__":
    main()
