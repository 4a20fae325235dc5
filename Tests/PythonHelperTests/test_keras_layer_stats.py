"""layer_stats lines from finetop.keras (issue 15): at every epoch end, for every model-line row with
weights, ‖w_end − w_start‖ / ‖w_start‖ over the epoch; exactly 0 for a frozen layer (BatchNorm
too), above 0 for trained ones; after a toggle the newly unfrozen layer leaves 0 at the next epoch
and the newly frozen one goes to 0. Real Keras 3, JAX backend, CPU, tiny models."""
import json
import os
import tempfile

import pytest

from conftest import of_type, read_events

keras = pytest.importorskip("keras", reason="keras is not installed in this Python")
np = pytest.importorskip("numpy")

import finetop.keras as fk  # noqa: E402


def put(run_dir, obj):
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".control.json.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj))
    os.replace(tmp, os.path.join(run_dir, "control.json"))


def model_with_frozen_parts(seed=3):
    """conv (frozen) → BN (frozen) → conv (trained) → BN (trained) → GAP → dropout → dense → head,
    with a nested model whose inner layer is frozen."""
    keras.utils.set_random_seed(seed)
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="inner_a"),
                              keras.layers.Dense(8, name="inner_b")], name="inner")
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv_frozen")(inp)
    x = keras.layers.BatchNormalization(name="bn_frozen")(x)
    x = keras.layers.Conv2D(8, 3, name="conv_trained")(x)
    x = keras.layers.BatchNormalization(name="bn_trained")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.1, name="drop")(x)
    x = inner(x)
    x = keras.layers.Dense(8, activation="relu", name="dense")(x)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inp, out)
    model.get_layer("conv_frozen").trainable = False
    model.get_layer("bn_frozen").trainable = False
    inner.get_layer("inner_a").trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) * 6).astype("int32").clip(0, 2)
    return x, y


class Toggle(keras.callbacks.Callback):
    """At the end of epoch ``at`` (0-based) writes a control revision."""

    def __init__(self, run_dir, at, obj):
        super().__init__()
        self.run_dir, self.at, self.obj = run_dir, at, obj

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            put(self.run_dir, self.obj)


def test_layer_stats_every_epoch_frozen_zero_trained_positive_and_toggle(run_dir, data):
    x, y = data
    model = model_with_frozen_parts()
    toggle = Toggle(run_dir, 1, {"version": 1, "revision": 1,
                                 "trainable": {"conv_frozen": True, "dense": False}})
    fk.fit(model, x, y, epochs=4, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[toggle])
    ev = read_events(run_dir)
    stats = of_type(ev, "layer_stats")
    assert [s["epoch"] for s in stats] == [0, 1, 2, 3]
    # one line per epoch, right after its epoch line
    kinds = [e["type"] for e in ev]
    for i, k in enumerate(kinds):
        if k == "epoch":
            assert kinds[i + 1] == "layer_stats"
    rows = [r["name"] for r in of_type(ev, "model")[0]["layers"]]
    with_weights = [r["name"] for r in of_type(ev, "model")[0]["layers"] if r["params"] > 0]
    for s in stats:
        assert sorted(s["update_ratio"]) == sorted(with_weights), "every row with weights, no other"
        assert set(s["update_ratio"]) <= set(rows)
        assert "drop" not in s["update_ratio"] and "gap" not in s["update_ratio"]
        r = s["update_ratio"]
        assert r["bn_frozen"] == 0.0, "a frozen BatchNormalization (moving stats too) must not move"
        assert r["inner/inner_a"] == 0.0
        assert r["inner/inner_b"] > 0 and r["inner"] > 0 and r["head"] > 0
        assert r["conv_trained"] > 0 and r["bn_trained"] > 0
    before, after = stats[:2], stats[2:]
    for s in before:
        assert s["update_ratio"]["conv_frozen"] == 0.0
        assert s["update_ratio"]["dense"] > 0
    for s in after:
        assert s["update_ratio"]["conv_frozen"] > 0, "the newly unfrozen layer leaves 0"
        assert s["update_ratio"]["dense"] == 0.0, "the newly frozen layer goes to 0"
    # the value is the definition: compare one epoch with weights taken by a callback
    control = of_type(ev, "control")
    assert control and control[0]["status"] == "applied"


def test_update_ratio_matches_definition_and_moving_stats_count(run_dir, data):
    """The ratio is ‖w_end − w_start‖/‖w_start‖ over ALL the layer's weights: computed here from
    weights captured by a callback at the same points."""
    x, y = data
    model = model_with_frozen_parts(seed=5)
    snaps = {}

    class Grab(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            snaps[epoch] = {"bn_trained": [np.array(w) for w in
                                           self.model.get_layer("bn_trained").get_weights()]}

        def on_epoch_end(self, epoch, logs=None):
            snaps[epoch]["end"] = [np.array(w) for w in
                                   self.model.get_layer("bn_trained").get_weights()]

    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[Grab()])
    stats = of_type(read_events(run_dir), "layer_stats")
    for s in stats:
        w0, w1 = snaps[s["epoch"]]["bn_trained"], snaps[s["epoch"]]["end"]
        d = np.sqrt(sum(float(np.sum((b.astype(np.float64) - a) ** 2)) for a, b in zip(w0, w1)))
        n = np.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in w0))
        assert s["update_ratio"]["bn_trained"] == pytest.approx(d / n, rel=1e-4)
        # moving statistics alone move too (gamma/beta are 2 of its 4 weights)
        dm = np.sqrt(sum(float(np.sum((b - a) ** 2)) for a, b in zip(w0[2:], w1[2:])))
        assert dm > 0


def test_frozen_weights_changed_by_a_layer_itself_are_not_reported_zero(run_dir, data):
    """A frozen layer whose own code writes its weights (no optimizer) must not read 0: the
    fingerprint kept for frozen weights catches it."""
    x, y = data

    class Counter(keras.layers.Layer):
        def build(self, shape):
            self.count = self.add_weight(shape=(), initializer="ones", trainable=False,
                                         name="count")

        def call(self, inputs, training=None):
            if training:
                self.count.assign(self.count + 1.0)
            return inputs

    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Flatten(name="flat")(inp)
    h = Counter(name="counter")(h)
    out = keras.layers.Dense(3, activation="softmax", name="head")(h)
    model = keras.Model(inp, out)
    model.get_layer("counter").trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir)
    stats = of_type(read_events(run_dir), "layer_stats")
    assert len(stats) == 2
    # 4 batches an epoch: 1 → 5 (ratio 4), then 5 → 9 (0.8); at least the lower bound the first
    # epoch, the exact value once the weight is copied.
    assert stats[0]["update_ratio"]["counter"] >= 4.0 - 1e-6
    assert stats[1]["update_ratio"]["counter"] == pytest.approx(0.8, rel=1e-6)


def test_model_fit_with_callback_writes_layer_stats_and_can_be_switched_off(tmp_path, data):
    x, y = data
    model = model_with_frozen_parts()
    d1, d2 = str(tmp_path / "a"), str(tmp_path / "b")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[fk.FinetopCallback(run_dir=d1)])
    assert [s["epoch"] for s in of_type(read_events(d1), "layer_stats")] == [0, 1]
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[fk.FinetopCallback(run_dir=d2, layer_stats=False)])
    assert of_type(read_events(d2), "layer_stats") == []
