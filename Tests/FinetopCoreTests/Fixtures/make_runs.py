"""Turns the Keras layer dumps (made with real Keras 3.15, see README.md) into run-format
events.jsonl files, so tests and samples start from real parameter counts.

    python3 make_runs.py   # rewrites the *.events.jsonl files next to it
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))

def shape(s):
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + ")"

def convert(src, dst, framework_version="3.15.1"):
    d = json.load(open(os.path.join(HERE, src)))
    layers = []
    for l in d["layers"]:
        layers.append({
            "name": l["name"], "class": l["class_name"],
            "shape": shape(l["output_shape"]) if isinstance(l["output_shape"], list) else str(l["output_shape"]),
            "params": l["param_count"], "trainable_params": l["trainable_params"],
            "trainable": l["trainable"], "depth": 0,
        })
    lines = [
        {"type": "run", "version": 1, "framework": "keras", "framework_version": framework_version,
         "run_id": d.get("model_name", "model"), "started": 1763900000,
         "task": {"kind": "classification", "num_classes": None, "loss": None}, "hparams": {}},
        {"type": "model", "revision": 0, "layers": layers},
    ]
    with open(os.path.join(HERE, dst), "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")

convert("mobilenetv2_224_layers.json", "mobilenetv2_224_frozen.events.jsonl")
convert("mobilenetv2_96_avg_dense5_unfreeze20_layers.json", "mobilenetv2_96_unfreeze20.events.jsonl")
