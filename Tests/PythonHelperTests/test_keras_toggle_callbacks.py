"""A toggle applied by finetop.keras.fit must change the trainable flags and nothing else (issue 10
item 1, issue 13 item 6): no weight rollback by EarlyStopping(restore_best_weights=True), one
on_train_begin/on_train_end for every callback, one continuous History and CSV log, and the
optimizer's state (Adam's moments, step count, learning rate) carried over the recompile.
Real Keras 3, JAX backend, CPU, tiny models."""
import csv
import json
import os
import tempfile

import pytest

from conftest import of_type, read_events

keras = pytest.importorskip("keras", reason="keras is not installed in this Python")
np = pytest.importorskip("numpy")

import finetop.keras as fk  # noqa: E402


def put(run_dir, obj):
    """Replaces control.json atomically, as the dashboard does, through an unpredictable name."""
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".control.json.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj))
    os.replace(tmp, os.path.join(run_dir, "control.json"))


def ctl(revision, trainable=None, stop=False, **extra):
    d = {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": stop}
    d.update(extra)
    return d


def small_model(seed=1):
    """A nested "base" (conv, BN, conv) under a small head; the base's first conv frozen."""
    keras.utils.set_random_seed(seed)
    base = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_a"),
        keras.layers.BatchNormalization(name="bn_a"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_b"),
    ], name="base")
    inp = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
    x = keras.layers.Dense(8, activation="relu", name="dense_hidden")(x)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inp, out, name="small")
    base.get_layer("conv_a").trainable = False
    base.get_layer("conv_b").trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) * 3).astype("int32").clip(0, 2)
    return x, y


class Recorder(keras.callbacks.Callback):
    """A user's own callback: counts train begin/end, keeps every weight at each epoch's begin
    and end, plays the dashboard at the end of given epochs, and notes whether the
    BackupAndRestore directory is there when an epoch begins."""

    def __init__(self, run_dir, writes, backup_dir=None):
        super().__init__()
        self.run_dir, self.writes, self.backup_dir = run_dir, writes, backup_dir
        self.begins = self.ends = 0
        self.at_begin, self.at_end, self.backup_there = {}, {}, {}

    def on_train_begin(self, logs=None):
        self.begins += 1

    def on_train_end(self, logs=None):
        self.ends += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.at_begin[epoch] = [np.array(w) for w in self.model.get_weights()]
        if self.backup_dir:
            self.backup_there[epoch] = os.path.exists(self.backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        self.at_end[epoch] = [np.array(w) for w in self.model.get_weights()]
        if epoch in self.writes:
            put(self.run_dir, self.writes[epoch])


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_two_toggles_are_invisible_to_stock_and_user_callbacks(run_dir, data, tmp_path):
    model = small_model()
    x, y = data
    backup = str(tmp_path / "backup")
    csv_path = str(tmp_path / "log.csv")
    rec = Recorder(run_dir, {1: ctl(1, {"base/conv_b": True}), 3: ctl(2, {"dense_hidden": False})},
                   backup_dir=backup)
    # mode="max" on the training loss makes the first epoch the "best" one: any restore of the
    # best weights at a toggle shows as a rollback to epoch 0.
    es = keras.callbacks.EarlyStopping(monitor="loss", mode="max", patience=100,
                                       restore_best_weights=True)
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), monitor="loss",
                                           save_best_only=True, save_weights_only=True)
    rlr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=100)
    log = keras.callbacks.CSVLogger(csv_path)
    bar = keras.callbacks.BackupAndRestore(backup)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5 ** epoch)
    lam_calls = []
    lam = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: lam_calls.append("begin"),
                                         on_train_end=lambda logs: lam_calls.append("end"))
    history = fk.fit(model, x, y, epochs=6, batch_size=16, verbose=0, run_dir=run_dir,
                     callbacks=[rec, es, ckpt, rlr, log, bar, sched, lam,
                                keras.callbacks.TerminateOnNaN()])

    ev = read_events(run_dir)
    acks = of_type(ev, "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(1, "applied"), (2, "applied")]
    assert "resuming at epoch 3" in acks[0]["message"]            # 1-based, as Keras prints
    assert "resuming at epoch 5" in acks[1]["message"]
    assert es.best_epoch == 0  # so a restore of the best weights would be a visible rollback

    # The weights an epoch after a toggle starts from are those the epoch before ended with.
    for k in (1, 3):
        assert same(rec.at_begin[k + 1], rec.at_end[k]), "weights rolled back at the toggle after epoch %d" % k
    # The toggles took effect: conv_b trains from epoch 2 on, dense_hidden stops at epoch 4.
    names = [w.path for w in model.weights]
    i_conv_b = names.index("base/conv_b/kernel") if "base/conv_b/kernel" in names else \
        next(i for i, n in enumerate(names) if n.endswith("conv_b/kernel"))
    i_dense = next(i for i, n in enumerate(names) if n.endswith("dense_hidden/kernel"))
    assert np.array_equal(rec.at_end[0][i_conv_b], rec.at_end[1][i_conv_b])
    assert not np.array_equal(rec.at_end[1][i_conv_b], rec.at_end[2][i_conv_b])
    assert not np.array_equal(rec.at_end[2][i_dense], rec.at_end[3][i_dense])
    assert np.array_equal(rec.at_end[4][i_dense], rec.at_end[5][i_dense])

    # One training as far as every callback can tell.
    assert (rec.begins, rec.ends) == (1, 1) and lam_calls == ["begin", "end"]
    # The learning-rate schedule follows the epochs through both recompiles.
    rates = [e["metrics"]["learning_rate"] for e in of_type(ev, "epoch")]
    assert rates == pytest.approx([0.01 * 0.5 ** k for k in range(6)], rel=1e-6)
    assert history.epoch == [0, 1, 2, 3, 4, 5] and len(history.history["loss"]) == 6
    assert model.history is history
    assert all(rec.backup_there[k + 1] for k in (1, 3)), "BackupAndRestore deleted its backup at a toggle"
    assert not os.path.exists(backup)                       # deleted once, at the real end
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert sum(1 for r in rows if r and r[0] == "epoch") == 1
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5"]
    assert os.path.exists(str(tmp_path / "best.weights.h5"))
    # EarlyStopping still does its job at the real end of training: epoch 0's weights.
    assert same(model.get_weights(), rec.at_end[0])
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "completed"


def slots(opt, var):
    """Adam's first and second moment of one model variable."""
    i = opt._get_variable_index(var)
    return np.array(opt._momentums[i]), np.array(opt._velocities[i])


def test_the_optimizer_state_survives_a_toggle(run_dir, data):
    model = small_model()
    x, y = data
    head = model.get_layer("head").kernel
    conv_b = model.get_layer("base").get_layer("conv_b").kernel
    seen = {}

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            opt = self.model.optimizer
            seen[("end", epoch)] = (slots(opt, head), int(opt.iterations), float(opt.learning_rate))
            if epoch == 0:
                put(run_dir, ctl(1, {"base/conv_b": True, "dense_hidden": False}))
                self.model.optimizer.learning_rate = 0.003  # as ReduceLROnPlateau would

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                opt = self.model.optimizer
                seen[("begin", 1)] = (slots(opt, head), int(opt.iterations), float(opt.learning_rate),
                                      slots(opt, conv_b))

    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[Watch()])
    (m0, v0), it0, _ = seen[("end", 0)]
    (m1, v1), it1, lr1, (mc, vc) = seen[("begin", 1)]
    assert np.abs(m0).sum() > 0 and np.abs(v0).sum() > 0
    assert np.array_equal(m0, m1) and np.array_equal(v0, v1), "Adam's moments were reset"
    assert it1 == it0 == 6
    assert lr1 == pytest.approx(0.003)
    assert not mc.any() and not vc.any()  # newly trainable: starts from zero
    (ack,) = of_type(read_events(run_dir), "control")
    assert ack["status"] == "applied" and "state carried over" in ack["message"]


def test_an_ema_optimizer_does_not_swap_in_its_averages_at_a_toggle(run_dir, data):
    """fit() ends by overwriting the weights with their moving averages (use_ema=True): at a toggle
    that would be a jump too."""
    model = small_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    x, y = data
    rec = Recorder(run_dir, {0: ctl(1, {"dense_hidden": False})})
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rec])
    assert same(rec.at_begin[1], rec.at_end[0])


def test_model_lines_count_optimizer_params_as_keras_summary_does(run_dir, data):
    model = small_model()
    x, y = data
    fk.fit(model, x, y, epochs=1, batch_size=32, verbose=0, run_dir=run_dir)
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    text = "\n".join(lines)

    def number(label):
        import re
        return int(re.search(label + r":\s*([\d,]+)", text).group(1).replace(",", ""))

    (line,) = of_type(read_events(run_dir), "model")
    top = [r for r in line["layers"] if r["depth"] == 0]
    params = sum(r["params"] for r in top)
    assert line["optimizer_params"] == number("Optimizer params")
    assert params + line["optimizer_params"] == number("Total params")
    assert sum(r["trainable_params"] for r in top) == number(" Trainable params")
    # learnable_params: everything but BatchNorm's moving statistics, whatever the flags.
    rows = {r["name"]: r for r in line["layers"]}
    assert rows["base/conv_a"]["trainable_params"] == 0 and rows["base/conv_a"]["learnable_params"] == 40
    assert rows["base/bn_a"]["params"] == 16 and rows["base/bn_a"]["learnable_params"] == 8
    assert rows["base"]["learnable_params"] == 40 + 8 + 148


def test_a_stop_left_in_control_json_does_not_stop_the_next_job(run_dir, data):
    """Issue 10 item 8: a rerun in the same directory used to stop in its first epoch."""
    model = small_model()
    x, y = data
    put(run_dir, ctl(3, {"dense_hidden": False}, stop=True))   # left by the previous job
    history = fk.fit(model, x, y, epochs=3, batch_size=32, verbose=0, run_dir=run_dir)
    ev = read_events(run_dir)
    assert history.epoch == [0, 1, 2] and ev[-1]["reason"] == "completed"
    (ack,) = of_type(ev, "control")
    assert ack["status"] == "applied" and ack["changed"] == ["dense_hidden"]  # flags still applied
    assert "already in control.json when this job started" in ack["message"]
    assert not model.get_layer("dense_hidden").trainable


def test_a_stop_addressed_to_this_run_id_stops_it(run_dir, data):
    model = small_model()
    x, y = data

    class Dashboard(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            run_id = of_type(read_events(run_dir), "run")[0]["run_id"]
            if epoch == 0:
                put(run_dir, ctl(1, stop=True, stop_run_id="another-job"))
            if epoch == 1:
                put(run_dir, ctl(2, stop=True, stop_run_id=run_id))

    history = fk.fit(model, x, y, epochs=5, batch_size=32, verbose=0, run_dir=run_dir,
                     callbacks=[Dashboard()])
    ev = read_events(run_dir)
    assert history.epoch == [0, 1]
    acks = of_type(ev, "control")
    assert "not to this job" in acks[0]["message"]
    assert acks[1]["status"] == "applied" and "end of epoch 2" in acks[1]["message"]
    assert ev[-1]["reason"] == "stopped" and "after epoch 2" in ev[-1]["message"]
