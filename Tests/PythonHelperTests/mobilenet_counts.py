"""Builds MobileNetV2 (include_top=False, 224x224x3, weights=None) with layers[:-4] frozen and
writes, through finetop.keras, the `model` line of the flat model into RUN_DIR/events.jsonl; then
prints, as one JSON object, the rows of the nested variant (the base as a sub-model layer), the
nested rows with the base frozen as a whole, and Keras's own totals for each.

    KERAS_BACKEND=numpy python mobilenet_counts.py RUN_DIR

Run as a separate process so the test can pick the backend: parameter counting is the same on
every backend, and the numpy backend builds the model in under a second where JAX takes 20+ s
initializing weights on a busy CPU (set FINETOP_COUNT_BACKEND=jax to check with JAX).
"""
import json
import os
import sys

import keras  # noqa: E402  (finetop is the installed package, as in the tests that run this)

from finetop.keras import FinetopCallback, model_layers  # noqa: E402


def keras_totals(model):
    size = lambda ws: int(sum(int(__import__("math").prod(w.shape)) for w in ws))  # noqa: E731
    return [size(model.weights), size(model.trainable_weights)]


def main(run_dir):
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(include_top=False, input_shape=(224, 224, 3), weights=None)
    for layer in base.layers[:-4]:
        layer.trainable = False
    cb = FinetopCallback(run_dir=run_dir)
    cb.set_model(base)
    cb.write_model()

    inp = keras.Input((224, 224, 3))
    outer = keras.Model(inp, base(inp, training=False), name="outer")
    out = {"backend": keras.backend.backend(), "flat_keras": keras_totals(base),
           "nested": model_layers(outer), "nested_keras": keras_totals(outer)}
    base.trainable = False
    out["nested_frozen"] = model_layers(outer)
    out["nested_frozen_keras"] = keras_totals(outer)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
