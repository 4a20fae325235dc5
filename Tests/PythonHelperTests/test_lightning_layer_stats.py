"""Which layers learn, with a real Lightning Trainer (issue 15): a `layer_stats` line at every
epoch end; frozen conv and BatchNorm (held in eval mode) read exactly 0, trained layers above 0,
and toggles at epoch ends move a layer from 0 to > 0 and back at the next epoch.
Skipped, saying so, where lightning or torch is not installed."""
import pytest

from conftest import of_type

pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                    "(the Lightning helper tests need torch and lightning)")
pytest.importorskip("lightning.pytorch", reason="lightning is not installed in this Python "
                    "(pip install lightning to run the Lightning helper tests)")

from test_lightning_helper import fit  # noqa: E402


def test_lightning_layer_stats_follow_toggles(run_dir):
    _, _, _, ev = fit(run_dir, {
        0: {"version": 1, "revision": 1, "trainable": {"base.3": True, "base.4": True}},
        1: {"version": 1, "revision": 2, "trainable": {"head.1": False}},
    }, epochs=3)
    assert [(a["revision"], a["status"]) for a in of_type(ev, "control")] == \
        [(1, "applied"), (2, "applied")]
    first = of_type(ev, "model")[0]["layers"]
    assert {r["name"]: r.get("stats_frozen", False) for r in first}["base.1"] is True
    stats = {s["epoch"]: s["update_ratio"] for s in of_type(ev, "layer_stats")}
    assert sorted(stats) == [0, 1, 2]
    assert all(set(r) == {row["name"] for row in first} for r in stats.values())
    for e, r in stats.items():
        assert r["base.0"] == 0.0 and r["base.1"] == 0.0, (e, r)  # frozen, BatchNorm held
        assert r["base.7"] > 0 and r["base.8"] > 0 and r["head.4"] > 0, (e, r)
    assert stats[0]["base.3"] == 0.0 and stats[0]["base.4"] == 0.0
    assert stats[1]["base.3"] > 0 and stats[1]["base.4"] > 0  # unfrozen at the end of epoch 0
    assert stats[0]["head.1"] > 0 and stats[1]["head.1"] > 0
    assert stats[2]["head.1"] == 0.0  # frozen at the end of epoch 1
