"""Real Keras summaries next to finetop's, for KerasSummaryRealTests.

Usage: python keras_summary_job.py OUT_DIR [CASE ...]   (cases: mobilenetv2_224, recipe_96, recipe_96_nested)

For each case it builds MobileNetV2 (weights=None) the way the Keras tutorial does, and twice —
before ``fit`` (optimizer not built) and after one tiny ``fit`` step — it

- writes a run directory with the real ``finetop.keras`` helper (``FinetopCallback`` before,
  ``finetop.keras.fit`` after): OUT_DIR/<case>-<stage>/events.jsonl;
- captures ``model.summary(...)`` as Keras prints it (``print_fn``, so rich's non-terminal
  console) for show_trainable x expand_nested at each width in $SUMMARY_WIDTHS (default 80):
  OUT_DIR/<case>-<stage>-<trainable>-<expand>-w<width>.txt.

What ``model.summary()`` shows but the helper's model line does not record yet (the model's name,
"Connected to", the optimizer's variables) is added to the helper's last model line by
``summary_extras`` below, and listed in OUT_DIR/<case>-<stage>.added.json, so the test can say
which fields came from the harness rather than from the helper.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.utils import summary_utils  # noqa: E402

import finetop.keras  # noqa: E402


def summary_extras(model):
    """The model line's ``name``, rows' ``connected_to`` (only when Keras prints that column) and
    ``optimizer_params`` / ``optimizer_bytes`` (once the optimizer is built), as Keras computes them."""
    # The helper's own rule for "Connected to" (finetop.keras.connected_to), as Keras decides it.
    extras = {"name": model.name, "connected_to": finetop.keras.connected_to(model)}
    opt = getattr(model, "optimizer", None)
    if model.compiled and opt is not None and opt.built:
        extras["optimizer_params"] = summary_utils.count_params(opt.variables)
        extras["optimizer_bytes"] = int(summary_utils.weight_memory_size(opt.variables))
    return extras


def add_extras(run_dir, model):
    """Adds what the helper's last model line lacks; writes the list of added fields."""
    path = os.path.join(run_dir, "events.jsonl")
    with open(path) as f:
        lines = f.read().splitlines()
    last = max(i for i, line in enumerate(lines) if json.loads(line).get("type") == "model")
    m = json.loads(lines[last])
    extras = summary_extras(model)
    added = []
    for key in ("name", "optimizer_params", "optimizer_bytes"):
        if key in extras and key not in m:
            m[key] = extras[key]
            added.append(key)
    for row in m["layers"]:
        if row["depth"] == 0 and row["name"] in extras["connected_to"] and "connected_to" not in row:
            row["connected_to"] = extras["connected_to"][row["name"]]
            if "connected_to" not in added:
                added.append("connected_to")
    lines[last] = json.dumps(m)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(run_dir + ".added.json", "w") as f:
        json.dump(added, f)


def capture(model, out_prefix):
    """Keras's summary text for each width in $SUMMARY_WIDTHS (rich and Keras read $COLUMNS)."""
    for width in os.environ.get("SUMMARY_WIDTHS", "80").split(","):
        os.environ["COLUMNS"] = width
        for trainable in (False, True):
            for expand in (False, True):
                parts = []
                model.summary(show_trainable=trainable, expand_nested=expand,
                              print_fn=lambda s, line_break=None: parts.append(s))
                with open("%s-%d-%d-w%s.txt" % (out_prefix, trainable, expand, width), "w") as f:
                    f.write("".join(parts))


def build(case):
    keras.utils.set_random_seed(0)
    if case == "mobilenetv2_224":
        model = keras.applications.MobileNetV2(include_top=False, input_shape=(224, 224, 3), weights=None)
        for layer in model.layers[:-4]:
            layer.trainable = False
        model.compile(optimizer="adam", loss="mse")
        x = np.random.rand(2, 224, 224, 3).astype("float32")
        y = np.zeros((2, 7, 7, 1280), "float32")
        return model, x, y
    base = keras.applications.MobileNetV2(include_top=False, input_shape=(96, 96, 3), pooling="avg", weights=None)
    if case == "recipe_96":
        for layer in base.layers:
            layer.trainable = False
        for layer in base.layers[-20:]:
            layer.trainable = True
        out = keras.layers.Dense(5, activation="softmax", name="head_dense")(base.output)
        model = keras.Model(base.input, out)
    else:
        base.trainable = True
        for layer in base.layers[:-20]:
            layer.trainable = False
        inp = keras.Input((96, 96, 3))
        out = keras.layers.Dense(5, activation="softmax", name="head_dense")(base(inp, training=False))
        model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(2, 96, 96, 3).astype("float32")
    y = np.array([0, 3])
    return model, x, y


def main():
    out = sys.argv[1]
    for case in sys.argv[2:] or ["mobilenetv2_224", "recipe_96", "recipe_96_nested"]:
        model, x, y = build(case)
        before = os.path.join(out, case + "-before")
        cb = finetop.keras.FinetopCallback(run_dir=before, control=False)
        cb.set_model(model)
        cb.on_train_begin()
        cb.log.close()
        add_extras(before, model)
        capture(model, before)
        after = os.path.join(out, case + "-after")
        finetop.keras.fit(model, x, y, epochs=1, batch_size=2, run_dir=after, verbose=0)
        add_extras(after, model)
        capture(model, after)
        print(case, "done", flush=True)


if __name__ == "__main__":
    main()
