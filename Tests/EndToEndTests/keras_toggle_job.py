"""A small real Keras job for KerasRunTmuxTests: `finetop run -- python keras_toggle_job.py`.

Dense layers on scikit-learn's digits (no download), trained with ``finetop.keras.fit`` so the
dashboard's toggles are applied at epoch boundaries. ``dense_a`` starts frozen. After every epoch
it appends to ``$FINETOP_RUN_DIR/weights.jsonl`` what the test needs to check that a toggle really
changed what trains: each layer's ``trainable`` flag and a checksum of its weights, and the
trainable parameter count as Keras reports it (``model.trainable_weights``, what
``model.summary()`` prints as "Trainable params").
"""

import hashlib
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import finetop.keras  # noqa: E402

RUN_DIR = os.environ["FINETOP_RUN_DIR"]
EPOCH_SECONDS = float(os.environ.get("JOB_EPOCH_SECONDS", "1.0"))


class WeightRecorder(keras.callbacks.Callback):
    """Writes one line per epoch: flags, weight checksums, trainable count (Keras's own)."""

    def on_epoch_end(self, epoch, logs=None):
        layers = {}
        for layer in self.model.layers:
            digest = hashlib.sha1()
            for w in layer.weights:
                digest.update(np.asarray(keras.ops.convert_to_numpy(w)).tobytes())
            layers[layer.name] = {"trainable": bool(layer.trainable), "sha1": digest.hexdigest()}
        trainable = int(sum(int(np.prod(w.shape)) for w in self.model.trainable_weights))
        # The optimizer's own rate, read from the job's side.
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        with open(os.path.join(RUN_DIR, "weights.jsonl"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "trainable_params": trainable, "layers": layers,
                                "optimizer_lr": lr}) + "\n")
        # Paced so a person (or a test) can act between epochs.
        time.sleep(EPOCH_SECONDS)


def main():
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu", name="dense_a"),
        keras.layers.Dense(32, activation="relu", name="dense_b"),
        keras.layers.Dense(16, activation="relu", name="dense_c"),
        keras.layers.Dense(10, activation="softmax", name="head"),
    ])
    # JOB_FROZEN / JOB_LR: the rate test (TuningTmuxTests) starts with more frozen and a lower rate.
    for name in os.environ.get("JOB_FROZEN", "dense_a").split(","):
        model.get_layer(name).trainable = False
    model.compile(optimizer=keras.optimizers.Adam(float(os.environ.get("JOB_LR", "1e-3"))),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    epochs = int(os.environ.get("JOB_EPOCHS", "60"))
    finetop.keras.fit(model, x, y, epochs=epochs, batch_size=64, validation_split=0.2,
                      callbacks=[WeightRecorder()], verbose=2)
    print("trainable params at the end:", sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
