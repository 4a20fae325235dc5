"""Real Keras runs with per-layer update ratios (layer_stats), kept as fixtures for the
diagnosis's learning-signal evidence (issue 15). Each run is written by finetop.keras.fit, the
helper users run, so its events.jsonl is exactly what the dashboard reads.

    cd <repo> && PYTHONPATH=assets/python KERAS_BACKEND=jax \
        /work/main/.venv/bin/python Tests/FinetopDiagnosisTests/Corpus/learning/make_learning_runs.py

Runs (sklearn's bundled digits, 8x8 images, 10 classes; a Dense "base" frozen at the start and a
Dense head; a layer toggle written to control.json from a callback, as the dashboard writes it):
- tiny_rate:  SGD at 1e-5: the head barely moves, the loss stays near ln(10); the base is unfrozen
              at the end of epoch 4 and barely moves either.
- good_rate:  Adam at 1e-3, the same toggle: the base learns once unfrozen.
- huge_rate:  SGD at 20 on the raw pixels (0-16): every layer moves far more than its own size an
              epoch and the loss blows up.
"""

import json
import os
import shutil
import sys

import numpy as np
import keras
from sklearn.datasets import load_digits

import finetop.keras as fk

HERE = os.path.dirname(os.path.abspath(__file__))


class ToggleAt(keras.callbacks.Callback):
    """Writes control.json at the end of epoch `epoch` (0-based), as the dashboard would."""

    def __init__(self, run_dir, epoch, trainable):
        super().__init__()
        self.run_dir, self.epoch, self.trainable = run_dir, epoch, trainable

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            path = os.path.join(self.run_dir, "control.json")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"version": 1, "revision": 1, "trainable": self.trainable, "stop": False}, f)
            os.replace(tmp, path)


def model_for(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", name="base_dense"),
        keras.layers.Dense(32, activation="relu", name="head_dense"),
        keras.layers.Dense(10, activation="softmax", name="head_out"),
    ])
    model.get_layer("base_dense").trainable = False
    return model


def run(name, optimizer, epochs, scale=True, toggle_at=None):
    x, y = load_digits(return_X_y=True)
    x = x.astype("float32") / (16.0 if scale else 1.0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    run_dir = os.path.join(HERE, name)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    model = model_for(0)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [ToggleAt(run_dir, toggle_at, {"base_dense": True})] if toggle_at is not None else []
    fk.fit(model, x[:1200], y[:1200], validation_data=(x[1200:], y[1200:]), epochs=epochs, batch_size=32,
           callbacks=callbacks, run_dir=run_dir, verbose=0)
    # Keep only the run's own log: control.json is the dashboard's input, not part of the record.
    for f in os.listdir(run_dir):
        if f != "events.jsonl":
            p = os.path.join(run_dir, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    print(name, "written", file=sys.stderr)


if __name__ == "__main__":
    run("tiny_rate", keras.optimizers.SGD(learning_rate=1e-5), epochs=14, toggle_at=3)
    run("good_rate", keras.optimizers.Adam(learning_rate=1e-3), epochs=10, toggle_at=3)
    run("huge_rate", keras.optimizers.SGD(learning_rate=20.0), epochs=8, scale=False)
