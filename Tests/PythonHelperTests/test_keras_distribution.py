"""Keras 3 distribution (issue 14): finetop.keras.fit under keras.distribution.DataParallel on
two JAX devices (CPU devices forced with XLA_FLAGS, in a subprocess since it must be set before JAX
starts). A toggle is applied at the epoch end like on one device: the recompiled model keeps its
replicated layout, the unfrozen layer starts to move, History stays whole."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax", reason="JAX is not installed in this Python")
pytest.importorskip("keras", reason="Keras is not installed in this Python")

JOB = textwrap.dedent("""
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, keras, numpy as np
    import finetop.keras
    assert len(jax.devices()) == 2, jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="d1"),
                          keras.layers.Dense(16, activation="relu", name="d2"),
                          keras.layers.Dense(2, activation="softmax", name="out")])
    m.get_layer("d1").trainable = False
    m.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    run = sys.argv[1]
    out = {"sums": [], "mesh": []}
    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                with open(run + "/control.json.tmp", "w") as f:
                    json.dump({"version": 1, "revision": 1, "trainable": {"d1": True}}, f)
                os.replace(run + "/control.json.tmp", run + "/control.json")
            kernel = self.model.get_layer("d1").kernel.value
            out["sums"].append(float(np.asarray(kernel).sum()))
            out["mesh"].append(str(kernel.sharding))
    h = finetop.keras.fit(m, x, y, epochs=5, batch_size=32, verbose=0, run_dir=run, callbacks=[Watch()])
    out["epochs"] = len(h.history["loss"])
    print("RESULT " + json.dumps(out))
""")


def test_a_toggle_under_keras_data_parallel_on_two_devices(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    job = tmp_path / "job.py"
    job.write_text(JOB)
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "KERAS_BACKEND")}
    p = subprocess.run([sys.executable, str(job), str(run)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(next(l for l in p.stdout.splitlines() if l.startswith("RESULT "))[7:])
    assert out["epochs"] == 5
    assert all("batch" in m for m in out["mesh"]), out["mesh"]     # still laid out on the mesh
    sums = out["sums"]
    assert sums[0] == sums[1], "d1 is frozen for the first two epochs"
    assert sums[2] != sums[1] and sums[4] != sums[3], "d1 trains once unfrozen"
    events = [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines()]
    acks = [e for e in events if e["type"] == "control"]
    assert [(a["revision"], a["status"], a["changed"]) for a in acks] == [(1, "applied", ["d1"])]
    assert [e["reason"] for e in events if e["type"] == "end"] == ["completed"]
