"""finetop.transformers with a real Hugging Face Trainer (CPU) on a tiny BERT built from a config
(no download). Skipped, saying so, where transformers or torch is not installed."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Hugging Face helper tests need torch and transformers)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed in this "
                                   "Python (pip install transformers accelerate to run these tests)")

from finetop.transformers import FinetopTrainerCallback  # noqa: E402


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n=64, length=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 20, (n, length), generator=g)
        self.labels = (self.ids[:, 0] > 10).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]),
                "labels": self.labels[i]}


def tiny_bert():
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=24, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=16, num_labels=2)
    return transformers.BertForSequenceClassification(config)


class Hook(transformers.TrainerCallback):
    """Plays the dashboard at epoch ends, and keeps copies of some weights."""

    def __init__(self, run_dir, writes, watch=()):
        self.run_dir, self.writes, self.watch, self.snapshots = run_dir, writes, watch, {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        e = int(round(state.epoch)) - 1
        params = dict(model.named_parameters())
        self.snapshots[e] = {n: params[n].detach().clone() for n in self.watch}
        if e in self.writes:
            write_control(self.run_dir, self.writes[e])


def train(tmp_path, run_dir, hook, model=None, epochs=4):
    model = model or tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=epochs, per_device_train_batch_size=16,
        eval_strategy="epoch", logging_steps=1, save_strategy="no", report_to=[],
        disable_tqdm=True, use_cpu=True, learning_rate=5e-3, seed=0)
    ft = FinetopTrainerCallback(run_dir=run_dir)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(),
                                   eval_dataset=Tokens(32, seed=1), callbacks=[hook, ft])
    trainer.train()
    return model, read_events(run_dir)


def totals(rows):
    return (sum(r["params"] for r in rows if r["depth"] == 0),
            sum(r["trainable_params"] for r in rows if r["depth"] == 0))


def test_toggle_applied_between_steps(tmp_path, run_dir):
    model = tiny_bert()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # not in the optimizer
    hook = Hook(run_dir, {1: {"version": 1, "revision": 1, "stop": False, "trainable": {
        "bert.embeddings.word_embeddings": True, "classifier": False}}},
        watch=("bert.embeddings.word_embeddings.weight", "classifier.weight"))
    model, ev = train(tmp_path, run_dir, hook, model)
    run = of_type(ev, "run")[0]
    assert run["framework"] == "transformers" and run["task"]["num_classes"] == 2
    assert run["hparams"]["learning_rate"] == 5e-3 and run["hparams"]["batch_size"] == 16
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "applied"
    assert sorted(ack["changed"]) == ["bert.embeddings.word_embeddings", "classifier"]
    models = of_type(ev, "model")
    assert [m["revision"] for m in models] == [0, 1]
    assert totals(models[1]["layers"]) == (
        sum(p.numel() for p in model.parameters()),
        sum(p.numel() for p in model.parameters() if p.requires_grad))
    epochs = of_type(ev, "epoch")
    assert [e["epoch"] for e in epochs] == [0, 1, 2, 3]
    assert all("val_loss" in e and "loss" in e for e in epochs)
    assert of_type(ev, "batch")
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "completed"
    s = hook.snapshots
    emb, cls = "bert.embeddings.word_embeddings.weight", "classifier.weight"
    assert torch.equal(s[0][emb], s[1][emb]) and not torch.equal(s[1][emb], s[2][emb])
    assert not torch.equal(s[0][cls], s[1][cls]) and torch.equal(s[2][cls], s[3][cls])


def test_stop_malformed_unknown_stale(tmp_path, run_dir):
    hook = Hook(run_dir, {
        0: '{"version": 1, "revision": 3, "trainable": {"classifier": maybe}}',
        1: {"version": 1, "revision": 4, "trainable": {"no.such.module": False}, "stop": False},
        2: {"version": 1, "revision": 1, "trainable": {"classifier": False}, "stop": False},
        3: {"version": 1, "revision": 6, "trainable": {}, "stop": True},
    })
    model, ev = train(tmp_path, run_dir, hook, epochs=6)
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(3, "rejected"), (4, "rejected"), (6, "applied")]
    assert "not valid JSON" in acks[0]["message"] and "no.such.module" in acks[1]["message"]
    assert model.classifier.weight.requires_grad
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2, 3]
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "stopped"
