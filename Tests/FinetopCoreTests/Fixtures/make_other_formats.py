"""Writes trainer_state.json and Lightning metrics.csv fixtures in the exact layouts those
libraries write (torch, transformers and lightning are multi-GB installs, not available here).

- trainer_state.json: `TrainerState.save_to_json` = json.dumps(dataclasses.asdict(state),
  indent=2, sort_keys=True) + "\n"; `log_history` gets {loss, grad_norm, learning_rate, epoch,
  step} every `logging_steps`, {eval_loss, eval_<metric>, eval_runtime, eval_samples_per_second,
  eval_steps_per_second, epoch, step} at each evaluation, and a final {train_runtime, …,
  train_loss, total_flos, epoch, step} summary.
- metrics.csv (Lightning 2.x CSVLogger): `self.log("train_loss", …, on_step=True, on_epoch=True)`
  gives `train_loss_step` rows every `log_every_n_steps` and a `train_loss_epoch` row at epoch
  end; validation values sit on their own rows; every row has `epoch` and `step`; empty cells
  elsewhere. The older layout (keys in first-appearance order, `train_loss,step,epoch`) too.
Values follow a plausible fine-tuning run; they are synthetic, the structure is not.
"""
import csv, json, math, os

HERE = os.path.dirname(os.path.abspath(__file__))

def trainer_state():
    history = []
    steps_per_epoch, logging_steps, epochs = 125, 25, 4
    lr0 = 2e-5
    for step in range(1, steps_per_epoch * epochs + 1):
        epoch = step / steps_per_epoch
        if step % logging_steps == 0:
            loss = round(0.69 * math.exp(-epoch / 1.6) + 0.12, 4)
            history.append({"epoch": epoch, "grad_norm": 1.0 + 0.5 * math.sin(step),
                            "learning_rate": lr0 * (1 - step / (steps_per_epoch * epochs)),
                            "loss": loss, "step": step})
        if step % steps_per_epoch == 0:
            e = step // steps_per_epoch
            history.append({"epoch": float(e), "eval_accuracy": [0.842, 0.871, 0.879, 0.874][e - 1],
                            "eval_loss": [0.391, 0.342, 0.351, 0.389][e - 1], "eval_runtime": 3.2785,
                            "eval_samples_per_second": 152.511, "eval_steps_per_second": 9.761, "step": step})
    history.append({"epoch": 4.0, "step": 500, "total_flos": 202109110272000.0, "train_loss": 0.301,
                    "train_runtime": 301.2, "train_samples_per_second": 26.5, "train_steps_per_second": 1.66})
    state = {"best_global_step": 250, "best_metric": 0.342, "best_model_checkpoint": "out/checkpoint-250",
             "epoch": 4.0, "eval_steps": 500, "global_step": 500, "is_hyper_param_search": False,
             "is_local_process_zero": True, "is_world_process_zero": True, "log_history": history,
             "logging_steps": 25, "max_steps": 500, "num_input_tokens_seen": 0, "num_train_epochs": 4,
             "save_steps": 500, "stateful_callbacks": {}, "total_flos": 202109110272000.0,
             "train_batch_size": 16, "trial_name": None, "trial_params": None}
    os.makedirs(os.path.join(HERE, "hf_output", "checkpoint-500"), exist_ok=True)
    with open(os.path.join(HERE, "hf_output", "checkpoint-500", "trainer_state.json"), "w") as f:
        f.write(json.dumps(state, indent=2, sort_keys=True) + "\n")

def lightning():
    rows = []
    step = 0
    for epoch in range(5):
        for k in range(4):
            step += 50
            rows.append({"epoch": epoch, "step": step - 1, "train_acc_step": 0.5 + 0.08 * epoch + 0.01 * k,
                         "train_loss_step": 1.2 * math.exp(-0.4 * epoch - 0.05 * k) + 0.1})
        rows.append({"epoch": epoch, "step": step - 1, "val_acc": 0.55 + 0.07 * epoch - (0.03 if epoch == 4 else 0),
                     "val_loss": [1.05, 0.82, 0.70, 0.66, 0.69][epoch]})
        rows.append({"epoch": epoch, "step": step - 1, "train_acc_epoch": 0.52 + 0.08 * epoch,
                     "train_loss_epoch": 1.2 * math.exp(-0.4 * epoch - 0.08) + 0.1})
    keys = sorted({k for r in rows for k in r})
    os.makedirs(os.path.join(HERE, "lightning_logs", "version_0"), exist_ok=True)
    with open(os.path.join(HERE, "lightning_logs", "version_0", "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    # The older layout: keys in first-appearance order, per-step train_loss only.
    with open(os.path.join(HERE, "lightning_old_metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["train_loss", "step", "epoch", "val_loss"])
        w.writeheader()
        step = 0
        for epoch in range(3):
            for k in range(2):
                step += 50
                w.writerow({"train_loss": 0.9 - 0.2 * epoch - 0.05 * k, "step": step - 1, "epoch": epoch})
            w.writerow({"val_loss": [0.8, 0.6, 0.55][epoch], "step": step - 1, "epoch": epoch})

trainer_state()
lightning()
