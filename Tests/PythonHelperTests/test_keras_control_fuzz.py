"""100 generated malformed or hostile control files fed, one per epoch boundary, to a running real
Keras job through finetop.keras.fit (issue 10 items 9 and 10): random bytes, deep nesting, huge
numbers, wrong types, lone surrogates, invalid UTF-8, an oversized file, FIFOs, symbolic links (to
/dev/zero and to a valid control file elsewhere) and directories. The job must finish every epoch,
acknowledge each bad file with exactly one `rejected` control line, never follow a link, and
still apply a valid toggle afterwards."""
import json
import os
import random
import shutil
import tempfile

import pytest

from conftest import of_type, read_events

keras = pytest.importorskip("keras", reason="keras is not installed in this Python")
np = pytest.importorskip("numpy")

import finetop.keras as fk  # noqa: E402

N = 100
FIRST = 10  # revision of the first generated file; each next one is +1


def _clear(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _replace_bytes(run_dir, data):
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".control.json.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path = os.path.join(run_dir, "control.json")
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    os.replace(tmp, path)


def hostile_files(seed=7):
    """[(description, place(run_dir, outside_dir), revision the rejection should carry or None)]"""
    rng = random.Random(seed)

    def text(rev, body):
        return lambda d, o: _replace_bytes(d, body.encode("utf-8", "surrogatepass"))

    def head(rev):
        return '{"version": 1, "revision": %d, ' % rev

    makers = [
        ("random bytes", lambda rev: (lambda d, o: _replace_bytes(
            d, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) + b"%d" % rev)), None),
        ("truncated", lambda rev: text(rev, head(rev) + '"trainable": {"head": fal'), True),
        ("deep list", lambda rev: text(rev, head(rev) + '"trainable": ' + "[" * 70_000), True),
        ("deep object", lambda rev: text(rev, '{"a":' * 60_000 + str(rev)), None),
        ("revision 1e20", lambda rev: text(rev, '{"version": 1, "revision": 1e20, "n": %d}' % rev), None),
        ("revision 2^53", lambda rev: text(rev, '{"version": 1, "revision": %d, "n": %d}' % (2 ** 53, rev)), None),
        ("revision with 5000 digits", lambda rev: text(rev, '{"version": 1, "revision": 1%s}' % ("0" * 4999 + str(rev))), None),
        ("negative revision", lambda rev: text(rev, '{"version": 1, "revision": -%d}' % rev), None),
        ("string revision", lambda rev: text(rev, '{"version": 1, "revision": "%d"}' % rev), None),
        ("version 2", lambda rev: text(rev, '{"version": 2, "revision": %d}' % rev), True),
        ("huge version", lambda rev: text(rev, head(rev).replace('"version": 1', '"version": 1e400') + '"stop": false}'), True),
        ("trainable a list", lambda rev: text(rev, head(rev) + '"trainable": ["head"]}'), True),
        ("flag a number", lambda rev: text(rev, head(rev) + '"trainable": {"head": 0}}'), True),
        ("stop a string", lambda rev: text(rev, head(rev) + '"stop": "yes"}'), True),
        ("stop_run_id a number", lambda rev: text(rev, head(rev) + '"stop": true, "stop_run_id": 7}'), True),
        ("lone surrogate name", lambda rev: text(rev, head(rev) + '"trainable": {"\\udc80x%d\\ud800": true}}' % rev), True),
        ("raw surrogate bytes", lambda rev: (lambda d, o: _replace_bytes(
            d, (head(rev) + '"trainable": {"').encode() + b"\xed\xa0\x80" + b'": true}}')), True),
        ("many unknown names", lambda rev: text(rev, head(rev) + '"trainable": {%s}}' % ", ".join(
            '"nope_%d_%d": true' % (rev, i) for i in range(5000))), True),
        ("not an object", lambda rev: text(rev, "[%d, 1, 2]" % rev), None),
        ("null", lambda rev: text(rev, "null " * (1 + rev % 3)), None),
        ("nan revision", lambda rev: text(rev, '{"version": 1, "revision": NaN, "n": %d}' % rev), None),
    ]
    specials = [
        ("FIFO", lambda rev: (lambda d, o: (_clear(os.path.join(d, "control.json")),
                                            os.mkfifo(os.path.join(d, "control.json")))), None),
        ("symlink to /dev/zero", lambda rev: (lambda d, o: (_clear(os.path.join(d, "control.json")),
                                                            os.symlink("/dev/zero", os.path.join(d, "control.json")))), None),
        ("symlink to a valid stop elsewhere", lambda rev: (lambda d, o: (
            open(os.path.join(o, "planted%d.json" % rev), "w").write(json.dumps(
                {"version": 1, "revision": 10 ** 6 + rev, "trainable": {"head": False}, "stop": True})),
            _clear(os.path.join(d, "control.json")),
            os.symlink(os.path.join(o, "planted%d.json" % rev), os.path.join(d, "control.json")))), None),
        ("directory", lambda rev: (lambda d, o: (_clear(os.path.join(d, "control.json")),
                                                 os.mkdir(os.path.join(d, "control.json")))), None),
    ]
    out = []
    for i in range(N):
        rev = FIRST + i
        if i == 50:  # one oversized file (16 MB + 1 of spaces after a valid object)
            out.append(("oversized", lambda d, o, rev=rev: _replace_bytes(
                d, (head(rev) + '"stop": true}').encode() + b" " * (16 << 20)), rev))
            continue
        # Special files every third step, never two of the same kind in a row.
        if i % 3 == 2:
            name, make, _ = specials[(i // 3) % len(specials)]
            out.append((name, make(rev), None))
        else:
            name, make, carries = makers[rng.randrange(len(makers))] if i >= len(makers) else makers[i]
            out.append((name, make(rev), rev if carries else None))
    return out


def test_a_hundred_hostile_control_files_never_stop_a_keras_job(run_dir, tmp_path):
    outside = str(tmp_path / "outside")
    os.mkdir(outside)
    files = hostile_files()
    assert len(files) == N
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="hidden"),
                              keras.layers.Dense(2, activation="softmax", name="head")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype("int32")
    epochs = N + 2

    class Feeder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch < N:
                files[epoch][1](run_dir, outside)
            elif epoch == N:  # a valid toggle still works after all of that
                _clear(os.path.join(run_dir, "control.json"))
                _replace_bytes(run_dir, json.dumps({"version": 1, "revision": 10 ** 7,
                                                    "trainable": {"hidden": False}}).encode())

    history = fk.fit(model, x, y, epochs=epochs, batch_size=8, verbose=0, run_dir=run_dir,
                     callbacks=[Feeder()])

    ev = read_events(run_dir)  # every line valid UTF-8 JSON
    assert history.epoch == list(range(epochs))
    assert [e["epoch"] for e in of_type(ev, "epoch")] == list(range(epochs))
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "completed"
    acks = of_type(ev, "control")
    rejected = [a for a in acks if a["status"] == "rejected"]
    assert len(rejected) == N, [(f[0]) for f in files][:5]
    for (name, _, rev), a in zip(files, rejected):
        assert a["message"], name
        if rev is not None:
            assert a["revision"] == rev, (name, a)
    kinds = {name for name, _, _ in files}
    assert {"FIFO", "directory", "symlink to /dev/zero", "symlink to a valid stop elsewhere",
            "deep list", "lone surrogate name", "oversized"} <= kinds
    # The planted stop behind a link was never read; the last, valid toggle was applied.
    assert [a["status"] for a in acks if a["status"] == "applied"] == ["applied"]
    assert acks[-1]["revision"] == 10 ** 7 and acks[-1]["changed"] == ["hidden"]
    assert not model.get_layer("hidden").trainable and model.get_layer("head").trainable
