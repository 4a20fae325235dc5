"""Makes the real-library log fixtures under Fixtures/logs/ (Keras 3 JAX, transformers, lightning,
pandas in /work/main/.venv). Every file here is what the library itself wrote or printed:

    KERAS_BACKEND=jax /work/main/.venv/bin/python make_log_fixtures.py [keras|hf|lightning]

Tiny models on scikit-learn's bundled digits, a few epochs: a minute on a CPU.
"""
import io, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "logs")
os.makedirs(OUT, exist_ok=True)

KERAS_SCRIPT = r'''
import os, sys
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np, keras
from sklearn.datasets import load_digits
keras.utils.set_random_seed(0)
x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
def model():
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m
mode = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else None
if mode == "v1":
    m = model()
    m.fit(x, y, epochs=5, batch_size=64, validation_split=0.2, verbose=1,
          callbacks=[keras.callbacks.ModelCheckpoint(out + "/best.keras", save_best_only=True, verbose=1)])
elif mode == "v2":
    model().fit(x, y, epochs=6, batch_size=64, validation_split=0.2, verbose=2)
elif mode == "finetune":
    # The transfer-learning tutorial's shape: fit, then fit again from initial_epoch=history.epoch[-1].
    m = model()
    h = m.fit(x, y, epochs=3, batch_size=64, validation_split=0.2, verbose=2)
    m.fit(x, y, epochs=6, initial_epoch=h.epoch[-1], batch_size=64, validation_split=0.2, verbose=2)
elif mode == "csv_noval":
    model().fit(x, y, epochs=4, batch_size=64, verbose=0, callbacks=[keras.callbacks.CSVLogger(out)])
elif mode == "csv_runs":
    for epochs in (3, 4, 2):
        model().fit(x, y, epochs=epochs, batch_size=64, validation_split=0.2, verbose=0,
                    callbacks=[keras.callbacks.CSVLogger(out, append=True)])
elif mode == "pandas":
    import pandas as pd
    h = model().fit(x, y, epochs=7, batch_size=64, validation_split=0.2, verbose=0,
                    callbacks=[keras.callbacks.ReduceLROnPlateau(patience=1)])
    pd.DataFrame(h.history).to_csv(out)
    pd.DataFrame(h.history).to_csv(out.replace(".csv", "_noindex.csv"), index=False)
'''

def run_keras(args, tty=False):
    script = os.path.join(OUT, ".keras_job.py")
    with open(script, "w") as f:
        f.write(KERAS_SCRIPT)
    cmd = [sys.executable, script] + args
    env = dict(os.environ, KERAS_BACKEND="jax")
    if not tty:
        return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True).stdout
    import pty
    out = bytearray()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, cmd, env)
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return bytes(out).replace(b"\r\n", b"\n")   # the pty's ONLCR, not Keras

def keras_fixtures():
    tmp = os.path.join(OUT, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(OUT, "keras3_fit_verbose1.log"), "wb") as f:
        f.write(run_keras(["v1", tmp]))                        # `python train.py > train.log`
    with open(os.path.join(OUT, "keras3_fit_verbose1_tty.log"), "wb") as f:
        f.write(run_keras(["v1", tmp], tty=True))              # `script`/tmux capture of a terminal
    with open(os.path.join(OUT, "keras3_fit_verbose2.log"), "wb") as f:
        f.write(run_keras(["v2"]))
    with open(os.path.join(OUT, "keras3_fit_finetune.log"), "wb") as f:
        f.write(run_keras(["finetune"]))
    for name in ("keras3_csvlogger_noval.csv", "keras3_csvlogger_three_runs.csv"):
        if os.path.exists(os.path.join(OUT, name)):
            os.remove(os.path.join(OUT, name))
    run_keras(["csv_noval", os.path.join(OUT, "keras3_csvlogger_noval.csv")])
    run_keras(["csv_runs", os.path.join(OUT, "keras3_csvlogger_three_runs.csv")])
    run_keras(["pandas", os.path.join(OUT, "keras3_history_pandas.csv")])
    # A notebook: the stream outputs as Jupyter saves them (the front end applies \r and \b
    # before saving; ipykernel sends the raw text), here the raw text, which is the harder case.
    v2 = run_keras(["v2"]).decode()
    v1 = open(os.path.join(OUT, "keras3_fit_verbose1.log")).read()
    nb = {"cells": [
        {"cell_type": "markdown", "id": "a1", "metadata": {}, "source": ["# Fine-tuning\n"]},
        {"cell_type": "code", "execution_count": 3, "id": "a2", "metadata": {}, "source": ["history = model.fit(x, y, epochs=6, validation_split=0.2, verbose=2)"],
         "outputs": [{"name": "stdout", "output_type": "stream", "text": v2.splitlines(keepends=True)}]},
        {"cell_type": "code", "execution_count": 4, "id": "a3", "metadata": {}, "source": ["history = model.fit(x, y, epochs=5, validation_split=0.2)"],
         "outputs": [{"name": "stdout", "output_type": "stream", "text": v1}]},
    ], "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
       "nbformat": 4, "nbformat_minor": 5}
    with open(os.path.join(OUT, "keras3_notebook.ipynb"), "w") as f:
        json.dump(nb, f, indent=1)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    os.remove(os.path.join(OUT, ".keras_job.py"))

HF_SCRIPT = r'''
import os, sys, numpy as np, torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
torch.manual_seed(0)
cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2)
model = BertForSequenceClassification(cfg)
rng = np.random.default_rng(0)
class DS(torch.utils.data.Dataset):
    def __init__(self, n):
        self.x = rng.integers(1, 64, size=(n, 12)); self.y = (self.x[:, 0] > 32).astype(int)
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {"input_ids": torch.tensor(self.x[i]), "labels": torch.tensor(self.y[i])}
def acc(p): return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}
evaluate = sys.argv[2] == "eval"
args = TrainingArguments(output_dir=sys.argv[1], num_train_epochs=3, per_device_train_batch_size=16, learning_rate=1e-3,
    logging_steps=4, eval_strategy="epoch" if evaluate else "no", save_strategy="epoch", report_to=[], use_cpu=True, seed=0)
Trainer(model=model, args=args, train_dataset=DS(160), eval_dataset=DS(48) if evaluate else None,
        compute_metrics=acc if evaluate else None).train()
'''

def hf_fixtures():
    import shutil
    script = os.path.join(OUT, ".hf_job.py")
    with open(script, "w") as f:
        f.write(HF_SCRIPT)
    for mode in ("eval", "noeval"):
        d = os.path.join(OUT, ".hf_" + mode)
        out = subprocess.run([sys.executable, script, d, mode], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True).stdout
        with open(os.path.join(OUT, f"hf_trainer_{mode}_stdout.log"), "wb") as f:
            f.write(out)
        last = sorted(os.listdir(d), key=lambda n: int(n.split("-")[-1]) if n.startswith("checkpoint-") else -1)[-1]
        shutil.copy(os.path.join(d, last, "trainer_state.json"), os.path.join(OUT, f"hf_trainer_state_{mode}.json"))
        shutil.rmtree(d)
    os.remove(script)
    hf_notebook()

def hf_notebook():
    # The notebook progress table: transformers.utils.notebook renders it with `html_progress_bar`
    # and `text_to_html_table` (NotebookTrainingTracker.display); the rows are the eval run's epochs
    # as NotebookProgressCallback.on_evaluate writes them. IPython is not installed here: the module
    # imports it at the top, so a stub stands in for the display calls we never make.
    import types
    ipy = types.ModuleType("IPython"); ipy.display = types.ModuleType("IPython.display")
    sys.modules.setdefault("IPython", ipy); sys.modules.setdefault("IPython.display", ipy.display)
    from transformers.utils.notebook import html_progress_bar, text_to_html_table
    state = json.load(open(os.path.join(OUT, "hf_trainer_state_eval.json")))
    table = [["Epoch", "Training Loss", "Validation Loss", "Accuracy"]]
    train_loss = "No log"
    for entry in state["log_history"]:
        if "loss" in entry:
            train_loss = entry["loss"]
        if "eval_loss" in entry:
            table.append([int(entry["epoch"]), train_loss, entry["eval_loss"], entry["eval_accuracy"]])
    n = state["max_steps"]
    html = html_progress_bar(n, n, f"[{n}/{n} 00:12, Epoch {len(table) - 1}/{len(table) - 1}]", "", 300) + text_to_html_table(table)
    nb = {"cells": [{"cell_type": "code", "execution_count": 7, "id": "t1", "metadata": {}, "source": ["trainer.train()"],
                     "outputs": [{"data": {"text/html": html.splitlines(keepends=True), "text/plain": ["<IPython.core.display.HTML object>"]},
                                  "metadata": {}, "output_type": "display_data"}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(os.path.join(OUT, "hf_notebook_progress.ipynb"), "w") as f:
        json.dump(nb, f, indent=1)

LIGHTNING_SCRIPT = r'''
import sys, torch, lightning as L
from torch import nn
from lightning.pytorch.loggers import CSVLogger
torch.manual_seed(0)
x = torch.randn(256, 8); y = (x.sum(1) > 0).long()
class M(L.LightningModule):
    def __init__(self, mode): super().__init__(); self.net = nn.Linear(8, 2); self.mode = mode
    def training_step(self, b, i):
        loss = nn.functional.cross_entropy(self.net(b[0]), b[1])
        if self.mode == "custom":
            self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
            self.log("my_weight_norm", self.net.weight.norm(), on_epoch=True, on_step=False)
        return loss
    def validation_step(self, b, i):
        loss = nn.functional.cross_entropy(self.net(b[0]), b[1])
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", (self.net(b[0]).argmax(1) == b[1]).float().mean(), prog_bar=True)
    def configure_optimizers(self): return torch.optim.SGD(self.parameters(), lr=0.1)
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
mode = sys.argv[2]
# The TQDM bar (Lightning's default when `rich` is not installed); the Rich bar prints only its
# final state to a file.
from lightning.pytorch.callbacks import TQDMProgressBar
L.Trainer(max_epochs=4, logger=CSVLogger(sys.argv[1], name=mode), log_every_n_steps=2, enable_checkpointing=False,
          enable_model_summary=False, accelerator="cpu", callbacks=[TQDMProgressBar()]).fit(M(mode), dl, dl)
'''

def lightning_fixtures():
    import shutil
    script = os.path.join(OUT, ".pl_job.py")
    with open(script, "w") as f:
        f.write(LIGHTNING_SCRIPT)
    d = os.path.join(OUT, ".pl")
    for mode in ("custom", "valonly"):
        out = subprocess.run([sys.executable, script, d, mode], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True).stdout
        with open(os.path.join(OUT, f"lightning_{mode}_stdout.log"), "wb") as f:
            f.write(out)
        shutil.copy(os.path.join(d, mode, "version_0", "metrics.csv"), os.path.join(OUT, f"lightning_{mode}_metrics.csv"))
    shutil.rmtree(d)
    os.remove(script)

def lightning_rich_fixtures():
    """The same job with Lightning's RichProgressBar (its default when `rich` is installed):
    lightning_rich_file_stdout.log as Rich prints to a file (only the final state, its metrics
    wrapped at 80 columns), lightning_rich_live_stdout.log with TTY_COMPATIBLE=1 as `finetop run`
    starts jobs (every refresh, rows redrawn after ESC[1A, metrics wrapped at 80 columns)."""
    import shutil
    script = os.path.join(OUT, ".pl_rich_job.py")
    with open(script, "w") as f:
        f.write(LIGHTNING_SCRIPT.replace("TQDMProgressBar", "RichProgressBar"))
    d = os.path.join(OUT, ".pl_rich")
    for name, extra in (("file", {}), ("live", {"TTY_COMPATIBLE": "1"})):
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TTY_COMPATIBLE", "FORCE_COLOR")}
        env.update(extra)
        out = subprocess.run([sys.executable, script, d, "custom"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             check=True, env=env).stdout
        with open(os.path.join(OUT, f"lightning_rich_{name}_stdout.log"), "wb") as f:
            f.write(out)
    shutil.rmtree(d)
    os.remove(script)

def keras2_fixtures():
    """Keras 2 (tf.keras 2.x) is not installable here (it needs TensorFlow): its printed layout is
    rendered from its own Progbar (keras/utils/generic_utils.py, Keras 2.11 `Progbar.update`):
    verbose=1 writes `"\\b" * prev_total_width` then `"\\r"`, `"%d/%d [" + "=" * (prog_width - 1) + ">" …
    "]"`, `" - ETA: %s"` or `" - %.0fs %.0fms/step"`, `" - %s: %.4f"` per value, `"\\n"` at the target;
    verbose=2 writes `f"{count} - {now - self._start:.0f}s"`, the values, `f" - {time_per_epoch}/epoch
    - {time_per_unit}/step"`. Keras 2.2 wrote verbose=2 as `" - %.0fs" + values` after `Train on N
    samples, validate on M samples`. The values are the Keras 3 run's (keras3_fit_verbose2.log)."""
    import re
    epochs = []
    for line in open(os.path.join(OUT, "keras3_fit_verbose2.log")):
        if line.startswith("23/23"):
            epochs.append(dict(re.findall(r" - (\w+): ([0-9.]+)", line)))
    out1, out2, out3 = [], [], ["Train on 1437 samples, validate on 360 samples\n"]
    target, width = 23, 30
    for e, m in enumerate(epochs):
        head = f"Epoch {e + 1}/{len(epochs)}\n"
        out1.append(head); out2.append(head); out3.append(head)
        prev = 0
        for step in range(1, target + 1):
            bar = "%2d/%d [" % (step, target)
            filled = int(width * step / target)
            bar += ("=" * (filled - 1) + (">" if step < target else "=")) if filled > 0 else ""
            bar += "." * (width - filled) + "]"
            loss = float(m["loss"]) * (1 + 0.3 * (target - step) / target)
            acc = float(m["accuracy"]) * (1 - 0.3 * (target - step) / target)
            info = (" - ETA: 0s" if step < target else " - 1s 5ms/step") + " - loss: %.4f - accuracy: %.4f" % (loss, acc)
            if step == target:
                info += " - val_loss: %.4f - val_accuracy: %.4f" % (float(m["val_loss"]), float(m["val_accuracy"]))
            text = bar + info
            line = "\b" * prev + "\r" + text
            if prev > len(text):
                line += " " * (prev - len(text))
            prev = len(text)
            out1.append(line + ("\n" if step == target else ""))
        vals = " - loss: %.4f - accuracy: %.4f - val_loss: %.4f - val_accuracy: %.4f" % tuple(float(m[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        out2.append("23/23 - 1s" + vals + " - 1s/epoch - 5ms/step\n")
        out3.append(" - 1s" + vals + "\n")
    for name, lines in (("keras2_fit_verbose1.log", out1), ("keras2_fit_verbose2.log", out2), ("keras2_2_fit_verbose2.log", out3)):
        with open(os.path.join(OUT, name), "w") as f:
            f.write("".join(lines))

def layout_fixtures():
    """fastai and Ultralytics are not installed here: their files are written with the exact
    code of the libraries, the values from the Keras 3 run (keras3_fit_verbose2.log).
    - fastai/callback/progress.py `CSVLogger`: `before_fit` opens the file ('a' if append else 'w')
      and writes `','.join(self.recorder.metric_names) + '\\n'`; `after_epoch` writes
      `','.join([str(t) for t in self.recorder.log]) + '\\n'`; `Recorder.metric_names` is
      `['epoch', 'train_loss', 'valid_loss'] + metrics + ['time']`, the time `mm:ss`.
      `learn.fine_tune(3)` is two fits (1 frozen epoch, then 3): with append=True, two headers.
    - ultralytics/engine/trainer.py `save_metrics`: header `("%s," * n % tuple(["epoch", "time"] + keys))`,
      rows `("%.6g," * n % tuple([self.epoch + 1, t] + vals))`; keys are `train/box_loss`,
      `train/cls_loss`, `train/dfl_loss`, `metrics/precision(B)`, `metrics/recall(B)`,
      `metrics/mAP50(B)`, `metrics/mAP50-95(B)`, `val/…_loss`, `lr/pg0..2` (8.1+). Ultralytics 8.0
      wrote `"%23s,"` headers and `"%23.5g,"` rows without `time`."""
    import re
    epochs = []
    for line in open(os.path.join(OUT, "keras3_fit_verbose2.log")):
        if line.startswith("23/23"):
            epochs.append({k: float(v) for k, v in re.findall(r" - (\w+): ([0-9.]+)", line)})
    names = ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    with open(os.path.join(OUT, "fastai_history.csv"), "w") as f:
        for fit in (epochs[:1], epochs[1:4]):      # fine_tune: 1 frozen epoch, then 3
            f.write(",".join(names) + "\n")
            for k, m in enumerate(fit):
                f.write(",".join(str(t) for t in [k, m["loss"], m["val_loss"], m["val_accuracy"], "00:%02d" % (3 + k)]) + "\n")
    keys = ["train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
            "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"]
    def vals(m, e):
        l, v, a = m["loss"], m["val_loss"], m["val_accuracy"]
        return [0.4 * l, 0.4 * l, 0.2 * l, a, a * 0.9, a * 0.8, a * 0.5, 0.4 * v, 0.4 * v, 0.2 * v, 0.0033 * (e + 1), 0.0033 * (e + 1), 0.0033 * (e + 1)]
    n = len(keys) + 2
    with open(os.path.join(OUT, "yolo_results.csv"), "w") as f:
        for e, m in enumerate(epochs):
            s = "" if e else (("%s," * n % tuple(["epoch", "time"] + keys)).rstrip(",") + "\n")
            f.write(s + ("%.6g," * n % tuple([e + 1, 10.5 * (e + 1)] + vals(m, e))).rstrip(",") + "\n")
    n = len(keys) + 1
    with open(os.path.join(OUT, "yolo8_0_results.csv"), "w") as f:
        for e, m in enumerate(epochs):
            s = "" if e else (("%23s," * n % tuple(["epoch"] + keys)).rstrip(",") + "\n")
            f.write(s + ("%23.5g," * n % tuple([e + 1] + vals(m, e))).rstrip(",") + "\n")

if __name__ == "__main__":
    which = sys.argv[1:] or ["keras", "keras2", "layouts", "hf", "lightning", "lightning_rich"]
    for w in which:
        {"keras": keras_fixtures, "keras2": keras2_fixtures, "layouts": layout_fixtures, "hf": hf_fixtures, "hf_notebook": hf_notebook, "lightning": lightning_fixtures, "lightning_rich": lightning_rich_fixtures}[w]()
        print("made", w)
