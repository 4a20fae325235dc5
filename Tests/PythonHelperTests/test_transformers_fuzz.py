"""100 fuzzed control files fed to a running Hugging Face Trainer (issue 10, "what it must show"):
the job finishes its epochs every time. Real Trainer, tiny BERT from a config; skipped, saying so,
where transformers or torch is not installed."""
import pytest

from conftest import read_events

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(the Hugging Face helper tests need torch and transformers)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed in this "
                                   "Python (pip install transformers accelerate to run these tests)")

from finetop.transformers import FinetopTrainerCallback  # noqa: E402
from test_torch_fuzz import check_job, fuzzed_controls, write_raw  # noqa: E402
from test_transformers_helper import Tokens, tiny_bert  # noqa: E402


class Feeder(transformers.TrainerCallback):
    """Writes the next fuzzed control file after every step."""

    def __init__(self, run_dir, files):
        self.run_dir, self.files, self.fed = run_dir, files, 0

    def on_step_end(self, args, state, control, **kwargs):
        if self.fed < len(self.files):
            write_raw(self.run_dir, self.files[self.fed])
            self.fed += 1


def test_trainer_survives_100_fuzzed_control_files(tmp_path, run_dir):
    model = tiny_bert()
    names = [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    files = fuzzed_controls(names[:12] + ["bert.encoder.layer.0", "bert.embeddings", "classifier"])
    feeder = Feeder(run_dir, files)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=4, per_device_train_batch_size=4,
        eval_strategy="no", logging_steps=5, save_strategy="no", report_to=[], disable_tqdm=True,
        use_cpu=True, learning_rate=1e-3, weight_decay=0.01, seed=0)
    ft = FinetopTrainerCallback(run_dir=run_dir, control_interval=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(104),
                                   callbacks=[feeder, ft])
    trainer.train()  # 26 steps an epoch, 104 in all
    assert feeder.fed == 100
    check_job(read_events(run_dir), 4)
