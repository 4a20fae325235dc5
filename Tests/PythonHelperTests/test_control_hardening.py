"""control.json and events.jsonl against hostile input (issue 10 items 6, 8, 9, 10): nothing in
control.json may stop training or hang the job, special files are refused and never followed,
lone surrogates are written escaped, the revision range is the one the dashboard uses, and a stop
is addressed to one job. Framework-free: no Keras needed."""
import json
import os
import signal
import tempfile

import pytest

from conftest import read_events
from finetop import ControlError, ControlReader, RunLog, parse_control, read_control
MAX_REVISION = 2 ** 53 - 1  # the range both sides share (BRIEF)


class Hang(Exception):
    pass


@pytest.fixture
def deadline():
    """Fails the test instead of hanging forever (a FIFO opened blocking never returns)."""
    def on_alarm(signum, frame):
        raise Hang("blocked for 5 s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def put(run_dir, obj_or_text):
    """Replaces control.json atomically, as the dashboard does, through an unpredictable name."""
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".control.json.")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    os.replace(tmp, os.path.join(run_dir, "control.json"))


def ctl(revision, trainable=None, stop=False, **extra):
    d = {"version": 1, "revision": revision, "trainable": trainable or {}, "stop": stop}
    d.update(extra)
    return d


# -- parsing: every failure is a ControlError ------------------------------------------------------

def test_deep_nesting_is_a_control_error_not_a_recursion_error():
    for text in ("[" * 200_000, '{"a":' * 100_000, '{"version": 1, "revision": 4, "trainable": '
                 + "[" * 200_000):
        with pytest.raises(ControlError) as e:
            parse_control(text)
        assert "nested too deeply" in str(e.value)
    with pytest.raises(ControlError) as e:
        parse_control('{"version": 1, "revision": 4, "trainable": ' + "[" * 200_000)
    assert e.value.revision == 4  # still acknowledged under its revision


@pytest.mark.parametrize("revision, ok", [
    (0, True), (MAX_REVISION, True), (MAX_REVISION + 1, False), ("1e20", False),
    (10 ** 30, False), ("1e400", False), (-1, False), ("7.5", False), ('"7"', False),
])
def test_revision_range_is_0_to_2_pow_53_minus_1(revision, ok):
    text = '{"version": 1, "revision": %s}' % revision
    if ok:
        assert parse_control(text).revision == revision
    else:
        with pytest.raises(ControlError) as e:
            parse_control(text)
        assert "revision" in str(e.value) and "9007199254740991" in str(e.value)


def test_huge_integers_and_odd_types_are_refused_with_a_reason():
    for text in ('{"version": 1, "revision": %s}' % ("9" * 5000),    # > int str digits limit
                 '{"version": %s, "revision": 3}' % ("9" * 400),
                 '{"version": 1, "revision": 3, "stop_run_id": 5}',
                 '{"version": 1, "revision": 3, "trainable": {"a": null}}', "null", '"x"'):
        with pytest.raises(ControlError):
            parse_control(text)


def test_lone_surrogate_names_are_written_escaped(run_dir):
    c = parse_control('{"version": 1, "revision": 3, "trainable": {"\\udc80bad\\ud800": true}}')
    (name,) = c.trainable
    log = RunLog(run_dir)
    log.control(3, "rejected", [], "unknown layer name: %s" % name)  # raised UnicodeEncodeError
    log.model(4, [{"name": name, "class": "Dense"}])
    raw = open(os.path.join(run_dir, "events.jsonl"), "rb").read()
    raw.decode("utf-8")  # strict: valid UTF-8
    ev = read_events(run_dir)
    assert ev[0]["message"] == "unknown layer name: \\udc80bad\\ud800"
    assert ev[1]["layers"][0]["name"] == "\\udc80bad\\ud800"


# -- special files at control.json: refused, never followed, never blocking ------------------------

def test_fifo_at_control_json_is_refused_without_blocking(run_dir, deadline):
    os.mkfifo(os.path.join(run_dir, "control.json"))
    r = ControlReader(run_dir)          # reads the start revision: must not block either
    c = r.poll()
    assert isinstance(c, ControlError) and "FIFO" in str(c)
    assert r.poll() is None             # reported once
    with pytest.raises(ControlError):
        read_control(run_dir)


def test_symlink_at_control_json_is_not_followed(run_dir, tmp_path):
    elsewhere = tmp_path / "planted.json"
    elsewhere.write_text(json.dumps(ctl(9, {"head": False}, stop=True)))
    os.symlink(elsewhere, os.path.join(run_dir, "control.json"))
    r = ControlReader(run_dir)
    c = r.poll()
    assert isinstance(c, ControlError) and "symbolic link" in str(c)
    os.unlink(os.path.join(run_dir, "control.json"))
    os.symlink("/dev/zero", os.path.join(run_dir, "control.json"))
    c = r.poll()
    assert isinstance(c, ControlError) and "symbolic link" in str(c)


def test_directory_at_control_json_is_refused(run_dir):
    os.mkdir(os.path.join(run_dir, "control.json"))
    c = ControlReader(run_dir).poll()
    assert isinstance(c, ControlError) and "directory" in str(c)


def test_a_good_file_after_a_bad_one_is_applied(run_dir, deadline):
    r = ControlReader(run_dir)
    os.mkfifo(os.path.join(run_dir, "control.json"))
    assert isinstance(r.poll(), ControlError)
    os.unlink(os.path.join(run_dir, "control.json"))
    put(run_dir, ctl(2, {"a": True}))
    assert r.poll().trainable == {"a": True}


# -- events.jsonl: regular files only, links never followed ------------------------------------------

def test_events_jsonl_symlink_is_refused_and_its_target_untouched(run_dir, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    os.symlink(target, os.path.join(run_dir, "events.jsonl"))
    with pytest.raises(OSError) as e:
        RunLog(run_dir)
    assert "symbolic link" in str(e.value) and "regular file" in str(e.value)
    assert target.read_text() == "precious\n"


def test_events_jsonl_hard_linked_to_another_file_is_refused(run_dir, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    os.link(target, os.path.join(run_dir, "events.jsonl"))
    with pytest.raises(OSError) as e:
        RunLog(run_dir)
    assert "hard links" in str(e.value)
    assert target.read_text() == "precious\n"


def test_events_jsonl_fifo_is_refused_without_blocking(run_dir, deadline):
    os.mkfifo(os.path.join(run_dir, "events.jsonl"))
    with pytest.raises(OSError) as e:
        RunLog(run_dir)
    assert "FIFO" in str(e.value)


# -- a stop is addressed to one job --------------------------------------------------------------------

def test_a_stop_left_from_an_earlier_job_does_not_stop_the_next(run_dir):
    put(run_dir, ctl(5, {"head": False}, stop=True))     # no stop_run_id: an older dashboard
    r = ControlReader(run_dir)
    assert r.start_revision == 5
    c = r.poll()
    assert c.revision == 5 and c.trainable == {"head": False}   # flags found at start: applied
    assert c.stop is False and c.stop_asked and "already in control.json" in c.note
    put(run_dir, ctl(6, stop=True))                       # a new stop, after the job started
    assert r.poll().stop is True


def test_a_stop_with_a_run_id_stops_only_that_job(run_dir):
    log = RunLog(run_dir)
    log.run("keras")
    put(run_dir, ctl(1, stop=True, stop_run_id="someone-else"))
    r = ControlReader(run_dir)   # learns its run_id from the RunLog of this directory
    c = r.poll()
    assert c.stop is False and "someone-else" in c.note
    put(run_dir, ctl(2, stop=True, stop_run_id=log.run_id))
    assert r.poll().stop is True
    # A rerun in the same directory is another job: the old job's stop is not for it.
    log2 = RunLog(run_dir)
    log2.run("keras")
    r2 = ControlReader(run_dir)
    c = r2.poll()
    assert c.revision == 2 and c.stop is False
