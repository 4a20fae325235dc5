"""Fine-tune MobileNetV2 with a new head in Keras 3, watched and steered by finetop.

    finetop run -- python assets/examples/finetune_keras.py
    python assets/examples/finetune_keras.py --epochs 10 --unfreeze 20 --image-size 32

The tutorial's recipe: a pretrained base with all but its last N layers frozen, and a general
head — GlobalAveragePooling2D → Dropout(0.5) → Dense(128, relu) → Dropout(0.5) → Dense(softmax).
In finetop, toggle layers with space (or `u` to unfreeze from the cursor): the job applies the
change at the next epoch boundary and the dashboard shows the new trainable counts.

Data: scikit-learn's bundled digits (1,797 8x8 images, no download), upscaled to
IMAGE_SIZE x IMAGE_SIZE x 3 so a small CPU can run a few epochs in minutes.

Weights: this example uses weights=None (random initialization) because it must run without a
download. Where you can download, pass --weights imagenet: fine-tuning a pretrained base is the
point of the recipe (imagenet weights exist for input sizes 96, 128, 160, 192 and 224; e.g.
--weights imagenet --image-size 96). With random weights the frozen base gives weak features and
the run learns slowly — the dashboard will call it underfitting, and unfreezing more layers is
the fix it suggests: a fine thing to try from the dashboard.
"""
import argparse
import os
import sys

# finetop's helpers: installed (`pip install assets/python`) or found in the checkout.
_HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if os.path.isdir(_HELPERS):
    sys.path.insert(0, os.path.abspath(_HELPERS))
os.environ.setdefault("KERAS_BACKEND", "jax")  # any Keras 3 backend works

import numpy as np  # noqa: E402
import keras  # noqa: E402

import finetop.keras  # noqa: E402


def digits(image_size, n_train, n_val, seed=0):
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.images.astype("float32") / 16.0                     # (1797, 8, 8) in [0, 1]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], d.target[order].astype("int32")
    scale = image_size // 8
    x = np.kron(x, np.ones((1, scale, scale), dtype="float32"))  # nearest-neighbour upscale
    x = np.repeat(x[..., None], 3, axis=-1) * 2.0 - 1.0           # 3 channels in [-1, 1], as MobileNetV2 expects
    n_train = min(n_train, len(x) - n_val)
    return (x[:n_train], y[:n_train]), (x[n_train:n_train + n_val], y[n_train:n_train + n_val])


def calibrate_batchnorm(model, x, batch_size=128):
    """Only for weights=None: set every BatchNormalization layer's moving mean and variance from
    the data (one forward pass in training mode with momentum 0). Frozen layers run in inference
    mode, and with the initial statistics (mean 0, variance 1) a randomly initialized base passes
    almost nothing on; pretrained weights come with real statistics, so skip this for them."""
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in bns]
    for l in bns:
        l.momentum = 0.0
    model(x[:batch_size], training=True)
    for l, m in zip(bns, momenta):
        l.momentum = m


def build(image_size, classes, unfreeze, weights, x_calibrate):
    inputs = keras.Input((image_size, image_size, 3))
    augmented = keras.layers.RandomRotation(0.05, name="aug_rotate")(inputs)
    augmented = keras.layers.RandomZoom(0.1, name="aug_zoom")(augmented)
    # input_tensor= puts the base's layers in the same (flat) model: finetop lists Conv1 ... Conv_1.
    base_model = keras.applications.MobileNetV2(
        include_top=False, input_tensor=augmented, weights=weights)
    if weights is None:
        calibrate_batchnorm(base_model, x_calibrate)
    # Freeze the base except its last N layers (the tutorial's `layers[:-N]`).
    for layer in base_model.layers[:-unfreeze] if unfreeze > 0 else base_model.layers:
        layer.trainable = False
    # The general head.
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(base_model.output)
    x = keras.layers.Dropout(0.5, name="head_dropout_1")(x)
    x = keras.layers.Dense(128, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(0.5, name="head_dropout_2")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenetv2_finetune")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--unfreeze", type=int, default=20, help="leave the last N base layers trainable")
    p.add_argument("--image-size", type=int, default=32, help="32 (fast) up to 224")
    p.add_argument("--train", type=int, default=600, help="training images")
    p.add_argument("--val", type=int, default=200, help="validation images")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--weights", default=None, help='"imagenet" where it can be downloaded')
    p.add_argument("--run-dir", default=None, help="default: $FINETOP_RUN_DIR, else runs/<timestamp>")
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    (x, y), (x_val, y_val) = digits(args.image_size, args.train, args.val)
    model = build(args.image_size, 10, args.unfreeze, args.weights, x)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    # finetop.keras.fit is model.fit plus the finetop callback; it also applies the layer toggles
    # made in the dashboard (stop, set the flags, recompile, resume at the next epoch).
    finetop.keras.fit(
        model, x, y, validation_data=(x_val, y_val), epochs=args.epochs,
        batch_size=args.batch_size, run_dir=args.run_dir, verbose=2,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=4,
                                                 restore_best_weights=True)])
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    print("validation loss %.4f, accuracy %.3f" % (loss, acc))


if __name__ == "__main__":
    main()
