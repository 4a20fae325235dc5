"""100 fuzzed control files fed to a running PyTorch training loop (issue 10, "what it must show"):
the job finishes its epochs every time, every line it writes is valid, and nothing but a valid stop
could end it. ``fuzzed_controls`` is shared with the Hugging Face fuzz test. Real torch; skipped,
saying so, where it is not installed."""
import json
import random

import pytest

from conftest import of_type, read_events, write_control


def fuzzed_controls(names, n=100, seed=10):
    """``n`` control.json contents (str or bytes): malformed, hostile and valid ones, never a valid
    stop. ``names``: real layer names of the job (valid toggles use them)."""
    rng = random.Random(seed)
    rev = [0]

    def revision():
        rev[0] += 1
        return rev[0]

    def valid():
        picked = rng.sample(names, k=rng.randint(1, min(3, len(names))))
        return {"version": 1, "revision": revision(), "stop": False,
                "trainable": {k: rng.random() < 0.6 for k in picked}}

    fixed = [
        "", "   ", "{", "}", "[]", "null", "42", '"text"', "{}", "\ufeff{}", "\x00\x00\x00",
        "[" * 100000 + "]" * 100000,                           # 200 KB of nested brackets
        '{"version": 1, "revision": 3, "trainable": {' + '"a": {' * 50000,
        '{"version": 1, "revision": 1e20, "trainable": {}}',
        '{"version": 1, "revision": 9007199254740992, "trainable": {}}',
        '{"version": 1, "revision": -1, "trainable": {}}',
        '{"version": 1, "revision": 2.5, "trainable": {}}',
        '{"version": 1, "revision": "7", "trainable": {}}',
        '{"version": 1, "revision": true, "trainable": {}}',
        '{"version": 2, "revision": 5, "trainable": {}}',
        '{"version": "1", "revision": 5, "trainable": {}}',
        '{"version": 1, "revision": 5, "trainable": []}',
        '{"version": 1, "revision": 5, "trainable": {"x": 1}}',
        '{"version": 1, "revision": 5, "trainable": {}, "stop": "yes"}',
        '{"version": 1, "revision": 5, "trainable": {}, "stop": 1}',
        '{"version": 1, "revision": 6, "trainable": {"\\ud800lone": false}}',  # lone surrogate
        '{"version": 1, "revision": 6, "trainable": {"%s": false}}' % ("n" * 100000),
        '{"version": 1, "revision": NaN, "trainable": {}}',
        '{"version": 1, "revision": Infinity, "trainable": {}}',
        b"\xff\xfe\xfd not utf-8",
        '{"version": 1, "revision": 8, "trainable": {}, "version": 3}',
    ]
    # Random ones first, then the hostile fixed ones (revision 1e20, once accepted, would make
    # every later revision stale).
    out = []
    for i in range(n - len(fixed)):
        kind = rng.random()
        if kind < 0.35:
            out.append(json.dumps(valid()))
        elif kind < 0.5:
            text = json.dumps(valid())
            out.append(text[:rng.randint(0, len(text) - 1)])          # truncated mid-write
        elif kind < 0.65:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
        elif kind < 0.8:
            v = valid()
            v["trainable"]["no.such.layer.%d" % i] = False               # one unknown name
            out.append(json.dumps(v))
        elif kind < 0.9:
            v = valid()
            v[rng.choice(["revision", "version", "trainable", "stop"])] = rng.choice(
                [None, [], {}, "x", -3, 1.5, 10 ** 30])
            out.append(json.dumps(v))
        else:
            text = bytearray(json.dumps(valid()).encode())
            for _ in range(rng.randint(1, 4)):
                text[rng.randrange(len(text))] = rng.randrange(256)     # flipped bytes
            out.append(bytes(text))
    return out + fixed


def write_raw(run_dir, content):
    if isinstance(content, bytes):
        import os
        tmp = os.path.join(run_dir, ".control.json.tmp")
        with open(tmp, "wb") as f:
            f.write(content)
        os.replace(tmp, os.path.join(run_dir, "control.json"))
    else:
        write_control(run_dir, content)


def check_job(ev, epochs):
    assert [e["epoch"] for e in of_type(ev, "epoch")] == list(range(epochs))
    assert ev[-1]["type"] == "end" and ev[-1]["reason"] == "completed", ev[-1]
    assert len(of_type(ev, "run")) == 1
    acks = of_type(ev, "control")
    assert acks and all(a["status"] in ("applied", "rejected") for a in acks)
    assert any(a["status"] == "applied" and a["changed"] for a in acks)  # the valid ones worked
    return acks


def test_pytorch_job_survives_100_fuzzed_control_files(run_dir):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                                "(pip install torch, CPU wheel, to run the PyTorch helper tests)")
    from finetop.torch import Tracker
    from test_torch_helper import data, small_model

    model = small_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.99 ** s)
    names = [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    files = fuzzed_controls(names + ["base", "head"])
    tracker = Tracker(model, opt, run_dir=run_dir, control_interval=0, scheduler=sched)
    x, y = data()
    epochs, fed = 7, 0
    with tracker:
        for epoch in range(epochs):
            model.train()
            for i in range(0, len(x), 4):  # 16 steps an epoch
                if fed < len(files):
                    write_raw(run_dir, files[fed])
                    fed += 1
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[i:i + 4]), y[i:i + 4])
                loss.backward()  # a toggle never leaves nothing trainable
                opt.step()
                sched.step()
                assert not tracker.batch(loss=loss.item())
            assert not tracker.epoch(loss=loss.item())
    assert fed == 100
    check_job(read_events(run_dir), epochs)
