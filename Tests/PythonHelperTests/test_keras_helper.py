"""finetop.keras with real Keras 3 (JAX backend, CPU): parameter counts, and control.json applied
by the fit wrapper at epoch boundaries. Models are tiny except MobileNetV2, which is only built
(never trained) to check the counts."""
import json
import os
import subprocess
import sys

import pytest

from conftest import of_type, read_events, write_control

keras = pytest.importorskip("keras", reason="keras is not installed in this Python")
np = pytest.importorskip("numpy")

import finetop.keras as fk  # noqa: E402
from finetop.keras import FinetopCallback, fit, model_layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "FinetopCoreTests", "Fixtures")


def totals(rows):
    top = [r for r in rows if r["depth"] == 0]
    total = sum(r["params"] for r in top)
    trainable = sum(r["trainable_params"] for r in top)
    return total, trainable, total - trainable


def n_trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def n_params(model):
    return int(sum(np.prod(w.shape) for w in model.weights))


# -- (a) parameter counts -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """Runs mobilenet_counts.py in its own process (numpy backend unless FINETOP_COUNT_BACKEND
    says otherwise: counting is backend-independent and JAX takes 20+ s to initialize it)."""
    run_dir = str(tmp_path_factory.mktemp("mobilenet"))
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("FINETOP_COUNT_BACKEND", "numpy"))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "mobilenet_counts.py"), run_dir],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["events"] = read_events(run_dir)
    return out


def test_mobilenetv2_frozen_counts_exactly_as_keras(mobilenet):
    (line,) = of_type(mobilenet["events"], "model")
    rows = line["layers"]
    assert line["revision"] == 0
    assert totals(rows) == (2_257_984, 412_800, 1_845_184)
    assert mobilenet["flat_keras"] == [2_257_984, 412_800]
    assert len(rows) == 154 and all(r["depth"] == 0 for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["Conv_1"]["trainable_params"] == 409_600
    assert by_name["Conv_1_bn"] == {"name": "Conv_1_bn", "class": "BatchNormalization",
                                    "shape": "(None, 7, 7, 1280)", "params": 5120,
                                    "trainable_params": 2560, "learnable_params": 2560,
                                    "trainable": True, "depth": 0,
                                    # MobileNetV2 branches, so Keras's summary has "Connected to".
                                    "connected_to": "Conv_1[0][0]"}
    # learnable_params: what would train if unfrozen (BatchNorm's moving stats never).
    assert by_name["Conv1"]["trainable_params"] == 0 and by_name["Conv1"]["learnable_params"] == 864
    assert sum(r["learnable_params"] for r in rows) == 2_223_872  # Keras: all trainable
    assert by_name["out_relu"]["trainable"] and by_name["out_relu"]["params"] == 0
    assert by_name["input_layer"]["trainable"] is False
    assert by_name["input_layer"]["shape"] == "(None, 224, 224, 3)"
    # Every row agrees with the dump made with real Keras (Tests/FinetopCoreTests/Fixtures).
    fixture = os.path.join(FIXTURES, "mobilenetv2_224_layers.json")
    if os.path.exists(fixture):
        with open(fixture) as f:
            ref = json.load(f)["layers"]
        assert [r["name"] for r in rows] == [l["name"] for l in ref]
        for r, l in zip(rows, ref):
            assert (r["class"], r["params"], r["trainable_params"], r["trainable"]) == \
                (l["class_name"], l["param_count"], l["trainable_params"], l["trainable"]), r["name"]


def test_mobilenetv2_nested_as_a_layer_gives_the_same_totals(mobilenet):
    rows = mobilenet["nested"]
    assert totals(rows) == (2_257_984, 412_800, 1_845_184)
    assert mobilenet["nested_keras"] == [2_257_984, 412_800]
    nested = [r for r in rows if r["depth"] == 0 and r["class"] == "Functional"]
    assert len(nested) == 1
    name = nested[0]["name"]
    assert nested[0]["params"] == 2_257_984 and nested[0]["trainable_params"] == 412_800
    inner = [r for r in rows if r["depth"] == 1]
    assert len(inner) == 154 and all(r["name"].startswith(name + "/") for r in inner)
    assert sum(r["trainable_params"] for r in inner) == 412_800
    assert sum(r["params"] for r in inner) == 2_257_984
    # Frozen as a whole: Keras trains nothing inside, and neither do the rows say so.
    rows = mobilenet["nested_frozen"]
    assert mobilenet["nested_frozen_keras"] == [2_257_984, 0]
    assert totals(rows) == (2_257_984, 0, 2_257_984)
    assert all(r["trainable_params"] == 0 for r in rows)


# -- a tiny model for the training tests ----------------------------------------------------------

def tiny_model():
    """A nested "base" (conv, BN, conv) under a small head, 8x8x1 inputs, 3 classes."""
    keras.utils.set_random_seed(1)
    base = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_a"),
        keras.layers.BatchNormalization(name="bn_a"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_b"),
    ], name="base")
    inp = keras.Input((8, 8, 1))
    x = base(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.25, name="drop")(x)
    x = keras.layers.Dense(8, activation="relu", name="dense_hidden")(x)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inp, out, name="tiny")
    base.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) * 3).astype("int32").clip(0, 2)
    return x, y


class Hook(keras.callbacks.Callback):
    """Plays the dashboard: at the end of given epochs, replaces control.json; and keeps a copy
    of some weights at every epoch end (they are synced to the model there)."""

    def __init__(self, run_dir, writes=None, watch=()):
        super().__init__()
        self.run_dir, self.writes, self.watch = run_dir, dict(writes or {}), watch
        self.snapshots = {}

    def on_epoch_end(self, epoch, logs=None):
        layers = fk.layer_map(self.model)
        self.snapshots[epoch] = {n: [w.numpy().copy() for w in layers[n].weights] for n in self.watch}
        if epoch in self.writes:
            write_control(self.run_dir, self.writes[epoch])


def changed(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


def control(revision, trainable=None, stop=False):
    return {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": stop}


# -- (b) a toggle applied at the epoch boundary ----------------------------------------------------

def test_toggle_is_applied_at_the_epoch_boundary_and_training_continues(run_dir, data):
    model = tiny_model()
    x, y = data
    hook = Hook(run_dir, writes={1: control(1, {"base/conv_b": True, "dense_hidden": False})},
                watch=("base/conv_b", "dense_hidden"))
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=10)
    history = fit(model, x, y, epochs=4, batch_size=16, verbose=0, run_dir=run_dir,
                  callbacks=[hook, es])

    ev = read_events(run_dir)
    run = of_type(ev, "run")
    assert len(run) == 1 and run[0]["framework"] == "keras"
    h = run[0]["hparams"]
    assert h["optimizer"] == "Adam" and h["learning_rate"] == pytest.approx(0.01)
    assert h["batch_size"] == 16 and h["epochs"] == 4 and h["dropout"] == [0.25]
    assert h["early_stopping"]["patience"] == 10 and h["early_stopping"]["monitor"] == "loss"
    assert run[0]["task"] == {"kind": "classification", "num_classes": 3,
                              "loss": "sparse_categorical_crossentropy"}

    # Acknowledged, with what changed; then the next model line matches real Keras.
    (ack,) = of_type(ev, "control")
    assert ack["revision"] == 1 and ack["status"] == "applied"
    assert set(ack["changed"]) == {"base", "base/conv_b", "dense_hidden"}
    models = of_type(ev, "model")
    assert [m["revision"] for m in models] == [0, 1]
    assert ev.index(models[1]) < ev.index(ack)
    before, after = ({r["name"]: r for r in m["layers"]} for m in models)
    assert after["base/conv_b"]["trainable"] and after["base/conv_b"]["trainable_params"] == 4 * 9 * 4 + 4
    assert not after["dense_hidden"]["trainable"] and after["dense_hidden"]["trainable_params"] == 0
    assert after["base/conv_a"]["trainable_params"] == 0 and not after["base/bn_a"]["trainable"]
    assert totals(models[1]["layers"])[:2] == (n_params(model), n_trainable(model))
    assert totals(models[0]["layers"])[1] == 8 * 4 + 8 + 8 * 3 + 3  # head only

    # Epochs go on without duplicates; History covers them all.
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2, 3]
    assert history.epoch == [0, 1, 2, 3] and len(history.history["loss"]) == 4
    assert of_type(ev, "end")[-1]["reason"] == "completed" and ev[-1]["type"] == "end"
    steps = [e["step"] for e in of_type(ev, "epoch")]
    assert steps == sorted(steps) and len(set(steps)) == 4

    # The weights prove it: dense_hidden trained before and is frozen after; conv_b the reverse.
    s = hook.snapshots
    assert changed(s[0]["dense_hidden"], s[1]["dense_hidden"])
    assert not changed(s[1]["dense_hidden"], s[3]["dense_hidden"])
    assert not changed(s[0]["base/conv_b"], s[1]["base/conv_b"])
    assert changed(s[1]["base/conv_b"], s[2]["base/conv_b"])
    assert changed(s[2]["base/conv_b"], s[3]["base/conv_b"])


# -- (c) stop ----------------------------------------------------------------------------------------

def test_stop_ends_training_cleanly(run_dir, data):
    model = tiny_model()
    x, y = data
    hook = Hook(run_dir, writes={0: control(1, stop=True)})
    history = fit(model, x, y, epochs=5, batch_size=32, verbose=0, run_dir=run_dir, callbacks=[hook])
    ev = read_events(run_dir)
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0]
    assert history.epoch == [0]
    (ack,) = of_type(ev, "control")
    assert ack["revision"] == 1 and ack["status"] == "applied"
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "stopped"


def test_stop_works_with_the_callback_alone(run_dir, data):
    model = tiny_model()
    x, y = data
    hook = Hook(run_dir, writes={1: control(4, stop=True)})
    model.fit(x, y, epochs=5, batch_size=32, verbose=0,
              callbacks=[hook, FinetopCallback(run_dir=run_dir)])
    ev = read_events(run_dir)
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1]
    assert ev[-1] == {"type": "end", "reason": "stopped", "message": ev[-1]["message"]}
    assert ev[-1]["reason"] == "stopped"


# -- (d) malformed, unknown, stale, and the callback alone -------------------------------------------

def test_malformed_unknown_and_stale_control_are_rejected_or_ignored(run_dir, data):
    model = tiny_model()
    x, y = data
    hook = Hook(run_dir, writes={
        0: '{"version": 1, "revision": 2, "trainable": {"head": fals',       # malformed
        1: control(3, {"no_such_layer": True, "head": False}),               # unknown name
        2: control(5, {"dense_hidden": False}),                              # applied
        3: control(4, {"head": False}),                                      # stale
    }, watch=("head",))
    history = fit(model, x, y, epochs=5, batch_size=32, verbose=0, run_dir=run_dir, callbacks=[hook],
                  validation_data=(x[:32], y[:32]))
    ev = read_events(run_dir)
    assert all("val_loss" in e and "val_accuracy" in e["metrics"] for e in of_type(ev, "epoch"))
    assert len(history.history["val_loss"]) == 5
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(2, "rejected"), (3, "rejected"), (5, "applied")]
    assert "not valid JSON" in acks[0]["message"]
    assert "no_such_layer" in acks[1]["message"] and "unknown layer" in acks[1]["message"]
    assert acks[2]["changed"] == ["dense_hidden"]
    # Training went on through all of it, and the stale revision changed nothing.
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2, 3, 4]
    assert history.epoch == [0, 1, 2, 3, 4]
    assert model.get_layer("head").trainable and not model.get_layer("dense_hidden").trainable
    assert changed(hook.snapshots[3]["head"], hook.snapshots[4]["head"])
    assert [m["revision"] for m in of_type(ev, "model")] == [0, 1]
    assert ev[-1]["reason"] == "completed"


def test_callback_alone_logs_and_rejects_toggles_pointing_at_fit(run_dir, data):
    model = tiny_model()
    x, y = data
    hook = Hook(run_dir, writes={0: control(1, {"dense_hidden": False})}, watch=("dense_hidden",))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.25,
              callbacks=[hook, FinetopCallback(run_dir=run_dir),
                         keras.callbacks.EarlyStopping(patience=3)])
    ev = read_events(run_dir)
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "rejected" and "finetop.keras.fit" in ack["message"]
    assert model.get_layer("dense_hidden").trainable
    assert changed(hook.snapshots[0]["dense_hidden"], hook.snapshots[1]["dense_hidden"])
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1]
    assert of_type(ev, "batch")  # batch lines are written (throttled)
    assert all("val_loss" in e for e in of_type(ev, "epoch"))
    run = of_type(ev, "run")[0]
    assert run["hparams"]["early_stopping"]["patience"] == 3  # found next to the callback
    assert ev[-1]["reason"] == "completed"


def test_hparams_see_augmentation_dropout_and_head():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.RandomFlip("horizontal", name="flip"),
        keras.layers.RandomRotation(0.1, name="rot"),
        keras.layers.RandomZoom(0.2, name="zoom"),
        keras.layers.GaussianNoise(0.05, name="noise"),
        keras.layers.Conv2D(4, 3, name="c"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="binary_crossentropy")
    h = fk.hparams_of(model, [keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)])
    assert h["optimizer"] == "SGD" and h["learning_rate"] == pytest.approx(0.05)
    assert [a.split("(")[0] for a in h["augmentation"]] == ["RandomFlip", "RandomRotation", "RandomZoom",
                                                            "GaussianNoise"]
    assert "mode=horizontal" in h["augmentation"][0] and "0.1" in h["augmentation"][1]
    assert h["dropout"] == [0.5]
    assert h["early_stopping"]["restore_best_weights"] is True
    assert fk.task_of(model) == {"kind": "classification", "num_classes": 2, "loss": "binary_crossentropy"}


def test_two_phases_continue_one_run(run_dir, data):
    """The tutorial's shape: train the head, unfreeze some of the base, fit again."""
    model = tiny_model()
    x, y = data
    fit(model, x, y, epochs=2, batch_size=32, verbose=0, run_dir=run_dir)
    model.get_layer("base").trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    fit(model, x, y, epochs=3, initial_epoch=2, batch_size=32, verbose=0, run_dir=run_dir)
    ev = read_events(run_dir)
    assert [e["type"] for e in ev if e["type"] in ("run", "model", "end")] == \
        ["run", "model", "end", "run", "model", "end"]
    assert [m["revision"] for m in of_type(ev, "model")] == [0, 1]
    assert of_type(ev, "run")[1]["hparams"]["learning_rate"] == pytest.approx(1e-3)
    assert totals(of_type(ev, "model")[1]["layers"])[1] == n_trainable(model)
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2]


def test_target_goes_into_the_run_hparams_and_a_bad_one_is_refused(run_dir, data, tmp_path):
    """``fit(..., target=)`` (issue 17): the diagnosis's reference for avoidable bias, in the run
    line's hparams, with the same rule as the PyTorch helpers; a bad one raises before training."""
    model = tiny_model()
    x, y = data
    fit(model, x, y, epochs=1, batch_size=32, verbose=0, run_dir=run_dir, target=0.9)
    assert of_type(read_events(run_dir), "run")[0]["hparams"]["target"] == {"accuracy": 0.9}
    other = str(tmp_path / "other")
    fit(tiny_model(), x, y, epochs=1, batch_size=32, verbose=0, run_dir=other, target={"loss": 0.3})
    assert of_type(read_events(other), "run")[0]["hparams"]["target"] == {"loss": 0.3}
    with pytest.raises(ValueError, match="target"):
        fit(tiny_model(), x, y, epochs=1, batch_size=32, verbose=0, run_dir=str(tmp_path / "bad"),
            target={"accurcy": 0.9})


def test_an_exception_in_training_ends_the_run_with_error(run_dir, data):
    model = tiny_model()
    x, y = data

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fit(model, x, y, epochs=4, batch_size=32, verbose=0, run_dir=run_dir, callbacks=[Boom()])
    ev = read_events(run_dir)
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "error"
    assert "disk full" in ev[-1]["message"]


def test_stop_is_honoured_within_an_epoch(run_dir, data):
    model = tiny_model()
    x, y = data

    class MidEpoch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                write_control(run_dir, control(2, stop=True))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    ft = FinetopCallback(run_dir=run_dir, stop_poll_interval=0)
    history = fit(model, x, y, epochs=5, batch_size=8, verbose=0, callbacks=[MidEpoch(), ft])
    ev = read_events(run_dir)
    assert history.epoch == [0, 1]  # epoch 1 cut short: 12 steps in epoch 0, far fewer in 1
    steps = [e["step"] for e in of_type(ev, "epoch")]
    assert steps[0] == 12 and steps[1] - steps[0] < 12
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "applied" and "during epoch 2" in ack["message"]  # 1-based, as Keras
    assert ev[-1]["reason"] == "stopped"
