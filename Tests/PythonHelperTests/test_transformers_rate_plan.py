"""Issue 13 in the Hugging Face helper with a real Trainer (CPU) on a tiny BERT built from a
config (no download): the layers an unfreeze adds train at the head's rate ÷ 10 in their own param
groups (decay / no-decay as the Trainer splits them) and follow the Trainer's warm-up + linear
decay; a gradual-unfreezing plan takes its steps at epoch ends; learning_rate applies before the
next optimizer step and the epoch line reports it; target= reaches the run line. Skipped, saying
so, where transformers or torch is not installed."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Hugging Face helper tests need torch and transformers)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed in this "
                                   "Python (pip install transformers accelerate to run these tests)")

from finetop.transformers import FinetopTrainerCallback  # noqa: E402
from test_transformers_helper import Tokens, tiny_bert  # noqa: E402


class Recorder(transformers.TrainerCallback):
    """Plays the dashboard (``writes`` {global step or ("epoch", e): control}) and records the
    rate of every param group right before each optimizer step."""

    def __init__(self, run_dir, writes):
        self.run_dir, self.writes, self.used = run_dir, dict(writes), {}

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.used[state.global_step + 1] = [float(g["lr"]) for g in optimizer.param_groups]

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.writes:
            write_control(self.run_dir, self.writes.pop(state.global_step))

    def on_epoch_end(self, args, state, control, **kwargs):
        key = ("epoch", int(round(state.epoch)) - 1)
        if key in self.writes:
            write_control(self.run_dir, self.writes.pop(key))


def train(tmp_path, run_dir, writes, schedule, epochs=4, **ft_args):
    model = tiny_bert()
    for name in ("bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1"):
        model.get_submodule(name).requires_grad_(False)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=epochs, per_device_train_batch_size=16,
        eval_strategy="epoch", logging_steps=1, save_strategy="no", report_to=[],
        disable_tqdm=True, use_cpu=True, learning_rate=5e-3, seed=0, lr_scheduler_type=schedule,
        warmup_steps=3, weight_decay=0.01)
    rec = Recorder(run_dir, writes)
    ft = FinetopTrainerCallback(run_dir=run_dir, **ft_args)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(),
                                   eval_dataset=Tokens(32, seed=1), callbacks=[rec, ft])
    trainer.train()
    return model, trainer, rec.used, read_events(run_dir)


def ctl(revision, trainable=None, **extra):
    d = {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": False}
    d.update(extra)
    return d


def test_unfrozen_groups_at_a_tenth_of_the_head_follow_the_schedule_and_a_plan_runs(tmp_path, run_dir):
    plan = {"id": "gu", "kind": "gradual_unfreeze", "groups": [["bert.encoder.layer.0"],
                                                               ["bert.embeddings"]],
            "every_epochs": 1, "lr_factor": 0.1, "cancel": False}
    model, trainer, used, ev = train(tmp_path, run_dir, {
        ("epoch", 0): ctl(1, {"bert.encoder.layer.1": True}, unfreeze_lr_factor=0.1, plan=plan)},
        "linear", target={"accuracy": 0.8})
    opt = trainer.optimizer
    groups = opt.param_groups
    # The Trainer's two groups (decay, no decay), then decay + no-decay for each of three unfreezes.
    assert len(groups) == 8, [len(g["params"]) for g in groups]
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0] * 4
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("bert.encoder.layer.1.") for g in groups[2:4]
               for p in g["params"])
    assert all(names[id(p)].startswith("bert.embeddings.") for g in groups[6:8] for p in g["params"])
    # Epoch 1 ends after step 4: layer 1 (revision) and layer 0 (the plan's step 1) from step 5,
    # the embeddings (step 2) from step 9; each at the head's rate / 10 while the decay moves.
    for s in range(5, 17):
        head = used[s][0]
        assert used[s][1] == head
        n = 6 if s < 9 else 8
        assert used[s][2:n] == pytest.approx([head / 10] * (n - 2), rel=1e-9), (s, used[s])
    assert used[16][0] < used[5][0] / 2, "the linear decay moved the head"
    acks = of_type(ev, "control")
    msgs = [a["message"] for a in acks]
    assert acks[0]["changed"] == ["bert.encoder.layer.1.attention.self.query",
                                  "bert.encoder.layer.1.attention.self.key",
                                  "bert.encoder.layer.1.attention.self.value",
                                  "bert.encoder.layer.1.attention.output.dense",
                                  "bert.encoder.layer.1.attention.output.LayerNorm",
                                  "bert.encoder.layer.1.intermediate.dense",
                                  "bert.encoder.layer.1.output.dense",
                                  "bert.encoder.layer.1.output.LayerNorm"]
    assert "the head's rate x 0.1" in msgs[0] and "plan gu accepted" in msgs[0], msgs[0]
    assert msgs[1].startswith("plan gu: step 1/2: unfroze bert.encoder.layer.0.") and \
        "at the end of epoch 1" in msgs[1], msgs[1]
    assert msgs[2].startswith("plan gu: step 2/2: unfroze bert.embeddings.") and \
        msgs[2].endswith("plan finished"), msgs[2]
    assert len(acks) == 3
    assert all(p.requires_grad for p in model.parameters())
    (run,) = of_type(ev, "run")
    assert run["hparams"]["target"] == {"accuracy": 0.8}
    assert len(of_type(ev, "model")) == 4


def test_learning_rate_applies_before_the_next_step_and_the_epoch_line_reports_it(tmp_path, run_dir):
    # control_interval of an hour: only the per-step lstat of control.json sees the write.
    model, trainer, used, ev = train(tmp_path, run_dir, {6: ctl(1, learning_rate=1e-3)},
                                     "constant", epochs=3, control_interval=3600)
    # Written after step 6: step 7 trains at the new rate (no step in between).
    assert [used[s][0] for s in range(1, 7)] == [5e-3] * 6
    assert all(used[s] == [1e-3, 1e-3] for s in range(7, 13)), used
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "applied" and "learning rate 0.005 -> 0.001 for all 2 param groups " \
        "from step 7 (the next batch)" in ack["message"], ack["message"]
    assert "LambdaLR follows" in ack["message"], ack["message"]
    epochs = of_type(ev, "epoch")
    assert [e["metrics"]["learning_rate"] for e in epochs] == pytest.approx([5e-3, 1e-3, 1e-3])
