"""The fine-tuning moves of issue 13 on a real Keras job (JAX, CPU, tiny models): learning_rate in
control.json (next batch, or with a freeze at the epoch end with the rate carried over), a
LearningRateSchedule replaced by a constant, unfreeze_lr_factor refused whole, gradual-unfreezing
plans run by the job (three steps unattended, cancel, same id not restarted) and apply_now."""
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


def ctl(revision, trainable=None, **extra):
    d = {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": False}
    d.update(extra)
    return d


def mlp(seed=2, lr=1e-3, frozen=()):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6,))
    x = keras.layers.Dense(8, activation="relu", name="d1")(inp)
    x = keras.layers.Dense(8, activation="relu", name="d2")(x)
    x = keras.layers.Dense(8, activation="relu", name="d3")(x)
    out = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inp, out)
    for n in frozen:
        model.get_layer(n).trainable = False
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((80, 6), dtype=np.float32)
    y = (x.sum(axis=1) > 3).astype("int32")
    return x, y


class Rates(keras.callbacks.Callback):
    """Records the optimizer's rate at every batch end, per epoch; writes control revisions at
    chosen (epoch, batch) points (batch None: at the epoch's end)."""

    def __init__(self, run_dir, writes=None):
        super().__init__()
        self.run_dir, self.writes, self.seen = run_dir, dict(writes or {}), {}

    def rate(self):
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.seen[epoch] = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen[self.epoch].append(self.rate())
        if (self.epoch, batch) in self.writes:
            put(self.run_dir, self.writes.pop((self.epoch, batch)))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch, None) in self.writes:
            put(self.run_dir, self.writes.pop((epoch, None)))


def test_one_revision_freezes_a_layer_and_sets_the_rate(run_dir, data):
    """Issue 13's acceptance: one revision freezing d2 with learning_rate 1e-5 is applied; the
    next epoch trains at 1e-5 (the optimizer, seen from a callback, and the epoch line) and d2 is
    frozen (its update ratio is 0)."""
    x, y = data
    model = mlp()
    rates = Rates(run_dir, {(0, None): ctl(1, {"d2": False}, learning_rate=1e-5)})
    fk.fit(model, x, y, epochs=3, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    epochs = of_type(ev, "epoch")
    assert epochs[0]["metrics"]["learning_rate"] == pytest.approx(1e-3)
    assert [e["metrics"]["learning_rate"] for e in epochs[1:]] == [pytest.approx(1e-5)] * 2
    assert all(r == pytest.approx(1e-5) for e in (1, 2) for r in rates.seen[e])
    assert not model.get_layer("d2").trainable
    control = of_type(ev, "control")
    assert len(control) == 1 and control[0]["status"] == "applied"
    assert control[0]["changed"] == ["d2"]
    msg = control[0]["message"]
    assert "learning rate 0.001 -> 1e-05 from epoch 2" in msg
    assert "trainable flags applied at the end of epoch 1" in msg
    stats = of_type(ev, "layer_stats")
    assert stats[0]["update_ratio"]["d2"] > 0
    assert stats[1]["update_ratio"]["d2"] == 0.0 and stats[2]["update_ratio"]["d2"] == 0.0
    assert model.get_layer("d2").trainable is False
    # the optimizer state survived the recompile with the new rate (step count carried)
    assert int(model.optimizer.iterations) == 15


def test_rate_alone_applies_at_the_next_batch_and_really_trains_with_it(run_dir, data):
    """learning_rate read during an epoch applies from the next batch (no recompile): the JAX
    state is synced first, so the jitted step uses it: at 1e-30 nothing moves any more."""
    x, y = data
    model = mlp(lr=0.01)
    cb = fk.FinetopCallback(run_dir=run_dir, stop_poll_interval=0)
    rates = Rates(run_dir, {(0, 1): ctl(1, learning_rate=1e-30)})
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rates, cb])
    assert rates.seen[0][:2] == [pytest.approx(0.01)] * 2
    assert rates.seen[0][2:] == [pytest.approx(1e-30)] * 3, "the batch after the write uses it"
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    assert [c["status"] for c in control] == ["applied"]
    assert "from batch 3 of epoch 1" in control[0]["message"]
    assert of_type(ev, "model")[-1]["revision"] == 0, "no recompile, no new model line"
    assert of_type(ev, "epoch")[0]["metrics"]["learning_rate"] == pytest.approx(1e-30)
    assert of_type(ev, "layer_stats")[1]["update_ratio"]["head"] < 1e-20
    # the same rate still in later revisions is not applied again (control.json is a state)
    put(run_dir, ctl(2, learning_rate=1e-30))
    model.optimizer.learning_rate = 0.5
    fk.fit(model, x, y, epochs=3, initial_epoch=2, batch_size=16, verbose=0, callbacks=[cb])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)


def test_schedule_is_replaced_by_a_constant_and_said_so(run_dir, data):
    x, y = data
    keras.utils.set_random_seed(4)
    model = mlp()
    sched = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy")
    rates = Rates(run_dir, {(0, None): ctl(1, learning_rate=2e-4)})
    fk.fit(model, x, y, epochs=3, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    assert [c["status"] for c in control] == ["applied"]
    assert "ExponentialDecay" in control[0]["message"]
    assert "replaced by the constant 0.0002" in control[0]["message"]
    assert rates.seen[1] == [pytest.approx(2e-4)] * 5 and rates.seen[2] == [pytest.approx(2e-4)] * 5
    assert [e["metrics"]["learning_rate"] for e in of_type(ev, "epoch")[1:]] == \
        [pytest.approx(2e-4)] * 2
    assert int(model.optimizer.iterations) == 15


def test_unfreeze_lr_factor_rejects_the_whole_revision(run_dir, data):
    x, y = data
    model = mlp(frozen=("d1",))
    rates = Rates(run_dir, {(0, None): ctl(1, {"d1": True}, learning_rate=1e-4,
                                           unfreeze_lr_factor=0.1)})
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    assert [c["status"] for c in control] == ["rejected"]
    msg = control[0]["message"]
    assert "one learning rate per optimizer" in msg and '"learning_rate"' in msg
    assert "nothing in this revision was applied" in msg
    assert not model.get_layer("d1").trainable
    assert rates.seen[1] == [pytest.approx(1e-3)] * 5
    assert len(of_type(ev, "model")) == 1


def test_plan_runs_three_steps_unattended(run_dir, data):
    """A gradual-unfreezing plan (three groups, every epoch, rate x0.5 per step) written once:
    the job takes one step per epoch boundary, each with a model line and a control line, and
    a later revision with the same plan id neither restarts nor repeats it."""
    x, y = data
    model = mlp(frozen=("d1", "d2", "d3"))
    plan = {"id": "gu1", "kind": "gradual_unfreeze", "groups": [["d3"], ["d2"], ["d1"]],
            "every_epochs": 1, "lr_factor": 0.5, "cancel": False}
    put(run_dir, ctl(1, plan=plan))
    rates = Rates(run_dir, {(2, None): ctl(2, {"head": True}, plan=plan)})
    fk.fit(model, x, y, epochs=5, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    steps = [c for c in control if c["message"].startswith("plan gu1: step")]
    assert [c["message"].split(":")[1].strip() for c in steps] == ["step 1/3", "step 2/3",
                                                                    "step 3/3"]
    assert [c["changed"] for c in steps] == [["d3"], ["d2"], ["d1"]]
    assert "at the end of epoch 1" in steps[0]["message"]
    assert "at the end of epoch 3" in steps[2]["message"] and "plan finished" in steps[2]["message"]
    assert "x 0.5" in steps[0]["message"]
    accepted = [c for c in control if "plan gu1 accepted" in c["message"]]
    assert len(accepted) == 1 and accepted[0]["revision"] == 1
    later = [c for c in control if c["revision"] == 2 and "plan gu1: step" not in c["message"]]
    assert len(later) == 1 and "plan gu1 continues (2/3 steps done)" in later[0]["message"]
    models = of_type(ev, "model")
    trainable = [{r["name"]: r["trainable"] for r in m["layers"]} for m in models]
    assert [(t["d1"], t["d2"], t["d3"]) for t in trainable] == [
        (False, False, False), (False, False, True), (False, True, True), (True, True, True)]
    stats = [s["update_ratio"] for s in of_type(ev, "layer_stats")]
    assert stats[0]["d3"] == 0.0 and stats[1]["d3"] > 0
    assert stats[1]["d2"] == 0.0 and stats[2]["d2"] > 0
    assert stats[2]["d1"] == 0.0 and stats[3]["d1"] > 0
    lrs = [e["metrics"]["learning_rate"] for e in of_type(ev, "epoch")]
    assert lrs == [pytest.approx(v) for v in (1e-3, 5e-4, 2.5e-4, 1.25e-4, 1.25e-4)]
    assert of_type(ev, "end")[-1]["reason"] == "completed"


def test_plan_cancel_and_every_two_epochs(run_dir, data):
    x, y = data
    model = mlp(frozen=("d1", "d2", "d3"))
    plan = {"id": "p", "kind": "gradual_unfreeze", "groups": [["d3"], ["d2"], ["d1"]],
            "every_epochs": 2, "lr_factor": None}
    put(run_dir, ctl(1, plan=plan))
    rates = Rates(run_dir, {(1, None): ctl(2, plan=dict(plan, cancel=True))})
    fk.fit(model, x, y, epochs=5, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    msgs = [c["message"] for c in of_type(ev, "control")]
    assert sum(m.startswith("plan p: step") for m in msgs) == 1
    assert any("plan p cancelled after step 1/3" in m for m in msgs)
    assert model.get_layer("d3").trainable and not model.get_layer("d2").trainable
    assert [e["metrics"]["learning_rate"] for e in of_type(ev, "epoch")] == [pytest.approx(1e-3)] * 5


def test_plan_with_unknown_names_or_in_model_fit_is_rejected_whole(run_dir, data):
    x, y = data
    model = mlp(frozen=("d1",))
    put(run_dir, ctl(1, {"d1": True}, plan={"id": "q", "kind": "gradual_unfreeze",
                                            "groups": [["d2"], ["nope"]]}))
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, run_dir=run_dir)
    control = of_type(read_events(run_dir), "control")
    assert [c["status"] for c in control] == ["rejected"] and "nope" in control[0]["message"]
    assert not model.get_layer("d1").trainable
    # plain model.fit: the plan needs a recompile, so the revision is refused with the way out
    put(run_dir, ctl(2, plan={"id": "q2", "kind": "gradual_unfreeze", "groups": [["d1"]]}))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[fk.FinetopCallback(run_dir=run_dir)])
    control = of_type(read_events(run_dir), "control")
    assert control[-1]["status"] == "rejected" and "finetop.keras.fit" in control[-1]["message"]


def test_apply_now_ends_the_epoch_early_at_a_batch_boundary(run_dir, data):
    x, y = data
    model = mlp()
    cb = fk.FinetopCallback(run_dir=run_dir, stop_poll_interval=0)
    rates = Rates(run_dir, {(0, 1): ctl(1, {"d2": False}, apply_now=True)})
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=50)
    fk.fit(model, x, y, epochs=3, batch_size=16, verbose=0, callbacks=[rates, es, cb])
    ev = read_events(run_dir)
    # written at the end of batch 2, seen by finetop at the same batch end
    assert len(rates.seen[0]) == 2, "epoch 1 ended after its second batch"
    assert len(rates.seen[1]) == 5 and len(rates.seen[2]) == 5
    control = of_type(ev, "control")
    assert [c["status"] for c in control] == ["applied"] and control[0]["changed"] == ["d2"]
    assert "epoch 1 ended early after batch 2 of 5 as asked (apply_now)" in control[0]["message"]
    assert of_type(ev, "end")[-1]["reason"] == "completed"
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2]
    assert of_type(ev, "layer_stats")[1]["update_ratio"]["d2"] == 0.0
