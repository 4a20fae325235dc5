"""Fine-tune a small BERT classifier with the Hugging Face Trainer, watched and steered by finetop.

    finetop run -- python assets/examples/finetune_transformers.py
    python assets/examples/finetune_transformers.py --epochs 8 --freeze-layers 1

The recipe: freeze the embeddings and the lower encoder layers, train the upper layers and the
classifier; in finetop, unfreeze more (or freeze some) while it trains — the callback applies the
change between optimizer steps.

Several processes, unchanged: ``torchrun --nproc_per_node=2 assets/examples/finetune_transformers.py``
(the Trainer uses DDP; gloo on CPU). Rank 0 writes the run and reads control.json; every rank
applies each toggle at the same step. ``FINETOP_REPLICA_CHECK=1`` makes each rank print
``replica-check rank=R epoch=E checksum=X`` at every epoch end.

No download: the model is a tiny BERT built from a config, and the data is made-up sentences with
a word-level vocabulary. Where you can download, use a pretrained model and its tokenizer instead:

    tokenizer = AutoTokenizer.from_pretrained("distilbert-base-uncased")
    model = AutoModelForSequenceClassification.from_pretrained("distilbert-base-uncased", num_labels=2)
"""
import argparse
import hashlib
import os
import random
import sys
import time

# finetop's helpers: installed (`pip install assets/python`) or found in the checkout.
_HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if os.path.isdir(_HELPERS):
    sys.path.insert(0, os.path.abspath(_HELPERS))

import torch  # noqa: E402
import transformers  # noqa: E402

from finetop.transformers import FinetopTrainerCallback  # noqa: E402

GOOD = "great wonderful superb lovely excellent delightful brilliant fine".split()
BAD = "awful terrible boring dull poor dreadful bad weak".split()
FILLER = "the movie film plot story acting music was is really quite very a an and but".split()
PAD, UNK = 0, 1
VOCAB = {w: i + 2 for i, w in enumerate(sorted(set(GOOD + BAD + FILLER)))}


def sentence(rng, label):
    words = [rng.choice(FILLER) for _ in range(rng.randint(3, 7))]
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label else BAD))
    if rng.random() < 0.15:  # some noise: a word of the other side
        words.insert(rng.randint(0, len(words)), rng.choice(BAD if label else GOOD))
    return words


class Sentences(torch.utils.data.Dataset):
    def __init__(self, n, length=12, seed=0):
        rng = random.Random(seed)
        self.items = []
        for _ in range(n):
            label = rng.randint(0, 1)
            ids = [VOCAB.get(w, UNK) for w in sentence(rng, label)][:length]
            mask = [1] * len(ids) + [0] * (length - len(ids))
            self.items.append({"input_ids": torch.tensor(ids + [PAD] * (length - len(ids))),
                               "attention_mask": torch.tensor(mask), "labels": torch.tensor(label)})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class ReplicaCheck(transformers.TrainerCallback):
    """With FINETOP_REPLICA_CHECK=1: each rank prints a checksum of all parameters at every epoch
    end (equal on every rank when the replicas are bit-identical)."""

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        h = hashlib.sha256()
        for name, p in sorted(model.named_parameters()):
            h.update(name.encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        print("replica-check rank=%d epoch=%d checksum=%s" % (args.process_index,
              int(round(state.epoch)), h.hexdigest()[:16]), flush=True)


class Pause(transformers.TrainerCallback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_epoch_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


def accuracy(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--freeze-layers", type=int, default=1, help="freeze the lowest N encoder layers")
    p.add_argument("--train", type=int, default=512)
    p.add_argument("--val", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--run-dir", default=None, help="default: $FINETOP_RUN_DIR, else runs/<timestamp>")
    p.add_argument("--epoch-pause", type=float, default=0.0,
                   help="seconds to wait after each epoch (demos: time to toggle)")
    p.add_argument("--output-dir", default=None, help="the Trainer's output_dir (default: in the run dir)")
    args = p.parse_args()

    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=len(VOCAB) + 2, hidden_size=64, num_hidden_layers=4,
                                     num_attention_heads=4, intermediate_size=128,
                                     max_position_embeddings=32, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    model.bert.embeddings.requires_grad_(False)
    for layer in model.bert.encoder.layer[:args.freeze_layers]:
        layer.requires_grad_(False)

    callback = FinetopTrainerCallback(run_dir=args.run_dir)
    training_args = transformers.TrainingArguments(
        output_dir=args.output_dir or os.path.join(callback.run_dir or "runs", "trainer"),
        num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, learning_rate=args.learning_rate,
        eval_strategy="epoch", logging_steps=5, save_strategy="no", report_to=[], use_cpu=True,
        seed=0)
    trainer = transformers.Trainer(
        model=model, args=training_args, train_dataset=Sentences(args.train, seed=1),
        eval_dataset=Sentences(args.val, seed=2), compute_metrics=accuracy,
        callbacks=[callback]
        + ([ReplicaCheck()] if os.environ.get("FINETOP_REPLICA_CHECK") == "1" else [])
        + ([Pause(args.epoch_pause)] if args.epoch_pause else []))
    trainer.train()
    print(trainer.evaluate())
    # Under torchrun: every rank leaves together (a rank exiting while another still talks to it
    # makes gloo abort that one), and the process group is closed as PyTorch asks.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
