"""The framework-free part: the run-format writer and the control.json reader."""
import json
import math
import os

import pytest

from conftest import read_events, write_control
from finetop import ControlError, ControlFile, ControlReader, RunLog, parse_control, read_control


def test_lines_are_whole_json_and_allow_nan(run_dir):
    log = RunLog(run_dir)
    log.run("keras", "3.15.1", hparams={"learning_rate": 1e-3})
    log.model(0, [{"name": "d", "class": "Dense", "shape": "(None, 2)", "params": 6,
                   "trainable_params": 6, "trainable": True, "depth": 0}])
    log.epoch(0, loss=float("nan"), val_loss=float("inf"), metrics={"accuracy": 0.5, "note": "x"},
              step=3, time=0.25)
    log.control(1, "applied", ["d"], "ok")
    log.end("completed")
    ev = read_events(run_dir)
    assert [e["type"] for e in ev] == ["run", "model", "epoch", "control", "end"]
    assert ev[0]["version"] == 1 and ev[0]["run_id"] == log.run_id
    # The directory's name plus a random suffix: a rerun in the same directory is another job.
    assert log.run_id.startswith("run-") and RunLog(run_dir).run_id != log.run_id
    assert math.isnan(ev[2]["loss"]) and ev[2]["val_loss"] == math.inf
    assert ev[2]["metrics"] == {"accuracy": 0.5}  # non-numbers dropped
    raw = open(os.path.join(run_dir, "events.jsonl")).read()
    assert "NaN" in raw and "Infinity" in raw


def test_batch_lines_are_throttled(run_dir):
    log = RunLog(run_dir, batch_interval=10)
    wrote = [log.batch(0, i, 1.0 / (i + 1)) for i in range(100)]
    assert wrote[0] and not any(wrote[1:])
    assert len(read_events(run_dir)) == 1


def test_run_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETOP_RUN_DIR", str(tmp_path / "envrun"))
    log = RunLog()
    log.end("completed")
    assert os.path.exists(tmp_path / "envrun" / "events.jsonl")


def test_default_run_dir_is_timestamped(tmp_path, monkeypatch):
    monkeypatch.delenv("FINETOP_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    a, b = RunLog(), RunLog()
    assert os.path.dirname(a.dir) == "runs" and a.dir != b.dir


@pytest.mark.parametrize("text, why", [
    ("{nope", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"version": 1, "trainable": {}}', '"revision"'),
    ('{"version": 1, "revision": -1}', '"revision"'),
    ('{"version": 1, "revision": true}', '"revision"'),
    ('{"version": 2, "revision": 4}', "version 2"),
    ('{"revision": 4}', '"version"'),
    ('{"version": 1, "revision": 4, "trainable": ["a"]}', '"trainable" must be an object'),
    ('{"version": 1, "revision": 4, "trainable": {"a": 1}}', '"trainable"."a" must be true or false'),
    ('{"version": 1, "revision": 4, "stop": "yes"}', '"stop" must be true or false'),
])
def test_malformed_control_says_why(text, why):
    with pytest.raises(ControlError) as e:
        parse_control(text)
    assert why in str(e.value)


def test_malformed_control_keeps_a_revision_when_it_can():
    with pytest.raises(ControlError) as e:
        parse_control('{"version": 1, "revision": 9, "trainable": {"a": "no"}}')
    assert e.value.revision == 9
    with pytest.raises(ControlError) as e:
        parse_control('{"version": 1, "revision": 5, "trainable": {')
    assert e.value.revision == 5
    with pytest.raises(ControlError) as e:
        parse_control("garbage")
    assert e.value.revision == -1


def test_valid_control():
    c = parse_control('{"version": 1, "revision": 7, "trainable": {"Conv_1": true, "x": false}, "stop": false}')
    assert c == ControlFile(7, {"Conv_1": True, "x": False}, False)
    assert parse_control('{"version": 1, "revision": 0}') == ControlFile(0)


def test_reader_hands_out_each_revision_once_and_ignores_stale(run_dir, capsys):
    r = ControlReader(run_dir)
    assert r.poll() is None and read_control(run_dir) is None
    write_control(run_dir, {"version": 1, "revision": 2, "trainable": {"a": True}, "stop": False})
    assert r.peek().revision == 2          # peek does not consume
    assert r.poll().revision == 2
    assert r.poll() is None                # same file
    write_control(run_dir, {"version": 1, "revision": 1, "trainable": {"a": False}, "stop": False})
    assert r.poll() is None                # stale
    assert "not newer" in capsys.readouterr().err
    write_control(run_dir, "{broken")
    assert isinstance(r.poll(), ControlError)
    assert r.poll() is None                # reported once per content
    write_control(run_dir, {"version": 1, "revision": 3, "trainable": {}, "stop": True})
    c = r.poll()
    assert c.revision == 3 and c.stop
