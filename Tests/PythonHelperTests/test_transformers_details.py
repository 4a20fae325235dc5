"""Hugging Face details of issue 10, item 4, with a real Trainer on a tiny BERT built from a config:
newly unfrozen biases and LayerNorm weights get the Trainer's weight-decay exemption; the epoch loss
is the epoch's mean; the last batch of an epoch carries its own epoch; a module with a frozen weight
and a trainable bias is partial. Skipped, saying so, where transformers or torch is not installed."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Hugging Face helper tests need torch and transformers)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed in this "
                                   "Python (pip install transformers accelerate to run these tests)")

from finetop.transformers import FinetopTrainerCallback  # noqa: E402
from test_transformers_helper import Hook, Tokens, tiny_bert  # noqa: E402


class Recording(transformers.Trainer):
    """Keeps every training step's loss with the epoch it belongs to."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.step_losses = []

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.step_losses.append((int(self.state.global_step // 4), float(loss)))  # 4 steps/epoch
        return loss


def run(tmp_path, run_dir, model, writes, epochs=3, logging_steps=3, weight_decay=0.1):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=epochs, per_device_train_batch_size=16,
        eval_strategy="epoch", logging_steps=logging_steps, save_strategy="no", report_to=[],
        disable_tqdm=True, use_cpu=True, learning_rate=5e-3, weight_decay=weight_decay, seed=0)
    ft = FinetopTrainerCallback(run_dir=run_dir, batch_interval=0)
    trainer = Recording(model=model, args=args, train_dataset=Tokens(),
                        eval_dataset=Tokens(32, seed=1), callbacks=[Hook(run_dir, writes), ft])
    trainer.train()
    return trainer, read_events(run_dir)


def test_unfrozen_biases_and_layernorm_get_no_weight_decay(tmp_path, run_dir):
    model = tiny_bert()
    model.bert.encoder.layer[1].requires_grad_(False)
    trainer, ev = run(tmp_path, run_dir, model, {0: {"version": 1, "revision": 1, "trainable": {
        "bert.encoder.layer.1": True}}}, epochs=2)
    assert [(a["revision"], a["status"]) for a in of_type(ev, "control")] == [(1, "applied")]
    decay = set(trainer.get_decay_parameter_names(model))
    group_of = {id(p): g for g in trainer.optimizer.param_groups for p in g["params"]}
    names = [n for n, _ in model.bert.encoder.layer[1].named_parameters()]
    assert any("bias" in n for n in names) and any("LayerNorm" in n for n in names)
    for n, p in model.bert.encoder.layer[1].named_parameters():
        full = "bert.encoder.layer.1." + n
        expected = 0.1 if full in decay else 0.0
        assert group_of[id(p)]["weight_decay"] == expected, "%s: weight decay %s, Trainer gives %s" % (
            full, group_of[id(p)]["weight_decay"], expected)


def test_epoch_loss_is_the_epoch_mean_and_batches_keep_their_epoch(tmp_path, run_dir):
    trainer, ev = run(tmp_path, run_dir, tiny_bert(), {}, epochs=3, logging_steps=3)
    epochs = of_type(ev, "epoch")
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    for e in epochs:
        losses = [l for k, l in trainer.step_losses if k == e["epoch"]]
        assert len(losses) == 4
        assert e["loss"] == pytest.approx(sum(losses) / 4, rel=1e-5), \
            "epoch %d: loss %s is not the mean of its steps %s" % (e["epoch"], e["loss"], losses)
    batches = of_type(ev, "batch")
    assert {b["step"] for b in batches} >= {4, 8, 12}  # the epochs' last steps are logged
    for b in batches:
        assert b["epoch"] == (b["step"] - 1) // 4, "step %d tagged with epoch %d" % (b["step"], b["epoch"])


def test_frozen_weight_with_trainable_bias_is_partial(tmp_path, run_dir):
    model = tiny_bert()
    model.classifier.weight.requires_grad_(False)
    _, ev = run(tmp_path, run_dir, model, {}, epochs=1)
    rows = {r["name"]: r for r in of_type(ev, "model")[0]["layers"]}
    cls = rows["classifier"]
    assert cls["partial"] is True and cls["trainable"] is True
    assert cls["trainable_params"] == 2 and cls["params"] == cls["learnable_params"] == 16 * 2 + 2
    assert not any(r.get("partial") for n, r in rows.items() if n != "classifier")
    assert all(r["learnable_params"] == r["params"] for r in rows.values())
