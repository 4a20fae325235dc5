"""Fine-tune a pre-trained base in Keras 3, watched and steered by finetop: the tutorial's story in a minute.

    finetop run -- python train.py
    python train.py --epochs 60 --epoch-seconds 1 --train 100

No download: everything comes from scikit-learn's bundled digits (8x8 images).

1. Pre-training (a few seconds, before finetop's run starts): a small conv base learns digits 0-4.
   That is the "pre-trained model" of the tutorial; its features were learned for other classes.
2. Fine-tuning on a new task, digits 5-9, with few examples (--train, 100): the tutorial's
   recipe. The base `digits_base` is frozen (`base_model.trainable = False`) and a new head
   (`predictions`) learns on top of its 3 features. Training and validation accuracy creep up
   and level off well under 0.9 (about 0.65): once the head has plateaued (~15 epochs) finetop says
   UNDERFITTING — the frozen features cannot separate the new classes.
3. The toggle to make: in the dashboard, put the cursor on the `digits_base` row and press space.
   The job applies it at the next epoch boundary (finetop.keras.fit recompiles; the layer table
   shows the new trainable counts), and this script then lowers the learning rate tenfold, as the
   tutorial recompiles with a low rate to fine-tune. Within a few epochs training accuracy passes
   0.9 and validation loss reaches its best: finetop says FIT.
4. Keep training: with 100 examples and no regularization the whole network soon learns them by
   heart; training loss goes to ~0 while validation loss turns up and validation accuracy stays
   about 0.08 below. Once the rise is clearly beyond the curve's noise (15-30 epochs after the
   toggle) finetop says OVERFITTING and suggests early stopping — the tutorial's
   EarlyStopping(restore_best_weights=True); try --early-stopping 3.

Without a dashboard the same toggle is one line in the run directory's control.json:
    {"version": 1, "revision": 1, "trainable": {"digits_base": true}}

Each epoch takes milliseconds here, so the job waits --epoch-seconds (1 s) after each one to give
you time to watch and toggle; --epoch-seconds 0 trains flat out.
"""
import argparse
import os
import sys
import time

# finetop's helpers: installed (`pip install assets/python`) or found in the checkout.
_HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if os.path.isdir(_HELPERS):
    sys.path.insert(0, os.path.abspath(_HELPERS))
os.environ.setdefault("KERAS_BACKEND", "jax")  # any Keras 3 backend works

import numpy as np  # noqa: E402
import keras  # noqa: E402

import finetop.keras  # noqa: E402


def digits(seed=0):
    """scikit-learn's digits as (N, 8, 8, 1) in [0, 1], shuffled, with their labels."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images.astype("float32") / 16.0)[..., None]
    y = d.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order]


def make_base():
    """A small conv base ending in 3 features (the tutorial's MobileNetV2, in miniature): few
    enough that a new head on the frozen base cannot fit new classes (the underfitting act)."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv_3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    features = keras.layers.Dense(3, name="features")(x)
    return keras.Model(inputs, features, name="digits_base")


def pretrain(base, x, y, epochs):
    """Trains the base (with a throwaway head) on digits 0-4: our stand-in for ImageNet weights."""
    started = time.monotonic()
    model = keras.Sequential([base, keras.layers.Dense(5, activation="softmax")], name="pretraining")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    _, acc = model.evaluate(x, y, verbose=0)
    print("pre-trained digits_base on digits 0-4 (%d images): accuracy %.3f in %.0f s"
          % (len(x), acc, time.monotonic() - started), flush=True)


class FineTuneRate(keras.callbacks.Callback):
    """The tutorial's second stage: once the base is trainable (the dashboard's toggle), train the
    whole model at a rate `factor` times lower, so the pre-trained features are adjusted, not
    overwritten. Applied once, at the first epoch that starts with the base unfrozen."""

    def __init__(self, base, factor):
        super().__init__()
        self.base = base
        self.factor = factor
        self.done = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.done or not self.base.trainable:
            return
        self.done = True
        opt = self.model.optimizer
        old = float(keras.ops.convert_to_numpy(opt.learning_rate))
        opt.learning_rate = old * self.factor
        print("%s is trainable: fine-tuning from epoch %d at learning rate %g (was %g)"
              % (self.base.name, epoch + 1, old * self.factor, old), flush=True)


class Pace(keras.callbacks.Callback):
    """Waits so that each epoch lasts at least `seconds`: time to watch and toggle."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self.started is not None:
            time.sleep(max(0.0, self.seconds - (time.monotonic() - self.started)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=60, help="fine-tuning epochs")
    p.add_argument("--epoch-seconds", type=float, default=1.0, help="shortest epoch, to watch (0: no pause)")
    p.add_argument("--train", type=int, default=100, help="training images of digits 5-9 (few: it overfits)")
    p.add_argument("--val", type=int, default=400, help="validation images of digits 5-9")
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--learning-rate", type=float, default=1e-2)
    p.add_argument("--fine-tune-factor", type=float, default=0.1,
                   help="the learning rate is multiplied by this once digits_base is unfrozen")
    p.add_argument("--batch-size", type=int, default=4,
                   help="small batches: the frozen head reaches its ceiling within a few epochs")
    p.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop when val_loss has not improved for PATIENCE epochs, keeping the best weights")
    p.add_argument("--run-dir", default=None, help="default: $FINETOP_RUN_DIR, else runs/<timestamp>")
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    x, y = digits()
    old = y < 5
    base = make_base()
    pretrain(base, x[old], y[old], args.pretrain_epochs)

    # The new task: digits 5-9 (labels 0-4), few training examples.
    x_new, y_new = x[~old], y[~old] - 5
    x_train, y_train = x_new[:args.train], y_new[:args.train]
    x_val, y_val = x_new[args.train:args.train + args.val], y_new[args.train:args.train + args.val]

    # The tutorial's recipe: freeze the base, run it in inference mode, add a new head.
    base.trainable = False
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(base(inputs, training=False))
    model = keras.Model(inputs, outputs, name="finetune_digits")
    # clipnorm: once the base is unfrozen, its first steps stay bounded.
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    callbacks = [FineTuneRate(base, args.fine_tune_factor), Pace(args.epoch_seconds)]
    if args.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.early_stopping,
                                                       restore_best_weights=True))
    # finetop.keras.fit is model.fit plus the finetop callback; it also applies the layer toggles
    # made in the dashboard or control.json (stop, set the flags, recompile, resume next epoch).
    finetop.keras.fit(model, x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
                      batch_size=args.batch_size, run_dir=args.run_dir, verbose=2, callbacks=callbacks)
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    print("validation loss %.4f, accuracy %.3f" % (loss, acc))


if __name__ == "__main__":
    main()
