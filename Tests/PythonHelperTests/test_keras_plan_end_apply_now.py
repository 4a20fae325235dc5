"""The Keras helper on the shared protocol, as the demo trainer and the PyTorch helper: a
control.json revision without a plan ends the running plan; plan steps are acknowledged with the
revision that started the plan (a later rejected revision never gets an "applied"); and a newer
revision with apply_now, written while an earlier change waits for the epoch's end (the
dashboard's `u` then `!`), ends the epoch early at the next batch boundary (real Keras, JAX)."""
import pytest

from conftest import of_type, read_events

keras = pytest.importorskip("keras", reason="keras is not installed in this Python")
np = pytest.importorskip("numpy")

import finetop.keras as fk  # noqa: E402
from test_keras_control_rate_plan import Rates, ctl, data, mlp, put  # noqa: E402,F401

PLAN = {"id": "gu", "kind": "gradual_unfreeze", "groups": [["d3"], ["d2"], ["d1"]],
        "every_epochs": 1, "lr_factor": None, "cancel": False}


def test_revision_without_a_plan_ends_the_running_plan(run_dir, data):
    x, y = data
    model = mlp(frozen=("d1", "d2", "d3"))
    put(run_dir, ctl(1, plan=PLAN))
    # read at the end of epoch 2, after step 1/3 (end of epoch 1): no plan in it any more
    rates = Rates(run_dir, {(1, None): ctl(2, {"head": True})})
    fk.fit(model, x, y, epochs=4, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    steps = [c for c in control if c["message"].startswith("plan gu: step")]
    assert len(steps) == 1 and steps[0]["changed"] == ["d3"]
    ended = [c for c in control if c["revision"] == 2]
    assert len(ended) == 1 and ended[0]["status"] == "applied"
    assert "plan gu ended after step 1/3" in ended[0]["message"]
    assert "unfroze stay trainable" in ended[0]["message"]
    assert model.get_layer("d3").trainable
    assert not model.get_layer("d2").trainable and not model.get_layer("d1").trainable
    assert len(of_type(ev, "model")) == 2, "the first model line and step 1's, no more"
    # the same id is not started again by a later revision carrying it
    put(run_dir, ctl(3, plan=PLAN))
    fk.fit(model, x, y, epochs=6, initial_epoch=4, batch_size=16, verbose=0, run_dir=run_dir)
    control = of_type(read_events(run_dir), "control")
    assert "plan gu is ended; it is not started again" in control[-1]["message"]
    assert not model.get_layer("d2").trainable


def test_plan_steps_carry_the_revision_that_started_the_plan(run_dir, data):
    x, y = data
    model = mlp(frozen=("d1", "d2", "d3"))
    put(run_dir, ctl(1, plan=PLAN))
    # a later revision, rejected (unknown name), read at the end of epoch 2 before step 2/3
    rates = Rates(run_dir, {(1, None): ctl(2, {"nope": True}, plan=PLAN)})
    fk.fit(model, x, y, epochs=4, batch_size=16, verbose=0, run_dir=run_dir, callbacks=[rates])
    control = of_type(read_events(run_dir), "control")
    assert [c["status"] for c in control if c["revision"] == 2] == ["rejected"]
    steps = [c for c in control if c["message"].startswith("plan gu: step")]
    assert [c["changed"] for c in steps] == [["d3"], ["d2"], ["d1"]]
    assert [c["revision"] for c in steps] == [1, 1, 1]
    assert all(c["status"] == "applied" for c in steps)


def test_apply_now_in_a_newer_revision_ends_the_epoch_with_a_change_pending(run_dir, data):
    """`u` writes revision 1 (freeze d2, rate 1e-4): the rate applies at once, the flag waits for
    the epoch's end. `!` writes revision 2 (the same state + apply_now) two batches later: the job
    notices it at the next batch boundary (an lstat, not the timed poll: its interval here is
    1000 s) and ends the epoch early, applying everything, acknowledged once with revision 2."""
    x, y = data
    model = mlp()
    cb = fk.FinetopCallback(run_dir=run_dir, stop_poll_interval=1000)
    state = ctl(1, {"d2": False}, learning_rate=1e-4)
    rates = Rates(run_dir, {(0, 0): state, (0, 2): dict(state, revision=2, apply_now=True)})
    fk.fit(model, x, y, epochs=3, batch_size=16, verbose=0, callbacks=[rates, cb])
    ev = read_events(run_dir)
    assert rates.seen[0] == [pytest.approx(1e-3)] + [pytest.approx(1e-4)] * 2, \
        "epoch 1 ended after batch 3, the one after the write"
    assert len(rates.seen[1]) == 5 and len(rates.seen[2]) == 5
    control = of_type(ev, "control")
    assert [(c["revision"], c["status"]) for c in control] == [(2, "applied")]
    assert control[0]["changed"] == ["d2"]
    msg = control[0]["message"]
    assert "learning rate 0.001 -> 0.0001 from batch 2 of epoch 1" in msg
    assert "epoch 1 ended early after batch 3 of 5 as asked (apply_now)" in msg
    assert not model.get_layer("d2").trainable
    assert of_type(ev, "layer_stats")[1]["update_ratio"]["d2"] == 0.0
    assert [e["epoch"] for e in of_type(ev, "epoch")] == [0, 1, 2]
    assert of_type(ev, "end")[-1]["reason"] == "completed"


def test_newer_revision_while_pending_keeps_the_earlier_toggle(run_dir, data):
    """A newer revision that does not repeat the pending one's flag (another writer) does not
    lose it: both flags apply at the early end."""
    x, y = data
    model = mlp()
    cb = fk.FinetopCallback(run_dir=run_dir, stop_poll_interval=1000)
    rates = Rates(run_dir, {(0, 0): ctl(1, {"d2": False}, learning_rate=1e-4),
                            (0, 1): ctl(2, {"d3": False}, learning_rate=1e-4, apply_now=True)})
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rates, cb])
    control = of_type(read_events(run_dir), "control")
    assert [(c["revision"], c["status"]) for c in control] == [(2, "applied")]
    assert control[0]["changed"] == ["d2", "d3"]
    assert len(rates.seen[0]) == 2
    assert not model.get_layer("d2").trainable and not model.get_layer("d3").trainable


def test_second_toggle_during_the_epoch_applies_at_the_same_epoch_end(run_dir, data):
    """`u` on d2 then, in the same epoch, `u` on d3 (no apply_now): both wait for this epoch's
    end and apply there together, acknowledged with the newer revision (not d3 an epoch later)."""
    x, y = data
    model = mlp()
    cb = fk.FinetopCallback(run_dir=run_dir, stop_poll_interval=1000)
    rates = Rates(run_dir, {(0, 0): ctl(1, {"d2": False}, learning_rate=1e-4),
                            (0, 2): ctl(2, {"d2": False, "d3": False}, learning_rate=1e-4)})
    fk.fit(model, x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rates, cb])
    ev = read_events(run_dir)
    control = of_type(ev, "control")
    assert [(c["revision"], c["status"]) for c in control] == [(2, "applied")]
    assert control[0]["changed"] == ["d2", "d3"]
    assert "trainable flags applied at the end of epoch 1" in control[0]["message"]
    assert "learning rate 0.001 -> 0.0001 from batch 2 of epoch 1" in control[0]["message"]
    assert len(rates.seen[0]) == 5
    assert of_type(ev, "layer_stats")[1]["update_ratio"]["d3"] == 0.0
