"""Which layers learn, with a real Hugging Face Trainer (issue 15): a `layer_stats` line at every
epoch end; the frozen word embeddings read exactly 0 until a toggle unfreezes them, the classifier
moves until the same toggle freezes it, then reads 0. Tiny BERT from a config (no download), CPU.
Skipped, saying so, where transformers or torch is not installed."""
import pytest

from conftest import of_type

pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                    "(the Hugging Face helper tests need torch and transformers)")
pytest.importorskip("transformers", reason="transformers is not installed in this Python "
                    "(pip install transformers accelerate to run these tests)")

from test_transformers_helper import Hook, tiny_bert, train  # noqa: E402

EMB, HEAD = "bert.embeddings.word_embeddings", "classifier"


def test_trainer_layer_stats_follow_a_toggle(tmp_path, run_dir):
    model = tiny_bert()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    hook = Hook(run_dir, {1: {"version": 1, "revision": 1, "trainable": {EMB: True, HEAD: False}}})
    model, ev = train(tmp_path, run_dir, hook, model, epochs=4)
    assert [(a["revision"], a["status"]) for a in of_type(ev, "control")] == [(1, "applied")]
    rows = [r["name"] for r in of_type(ev, "model")[0]["layers"]]
    stats = of_type(ev, "layer_stats")
    assert [s["epoch"] for s in stats] == [0, 1, 2, 3]
    for s in stats:
        r = s["update_ratio"]
        assert list(r) == rows  # every row has weights here, in the model line's order
        assert r["bert.encoder.layer.0.attention.self.query"] > 0
        if s["epoch"] <= 1:
            assert r[EMB] == 0.0 and r[HEAD] > 0, s
        else:
            assert r[EMB] > 0 and r[HEAD] == 0.0, s
    # each line is written before the epoch's toggle is applied (the model line after it)
    order = [(e["type"], e.get("epoch", e.get("revision"))) for e in ev
             if e["type"] in ("layer_stats", "model")]
    assert order.index(("layer_stats", 1)) < order.index(("model", 1)) < order.index(("layer_stats", 2))
