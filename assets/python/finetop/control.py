"""Reads ``control.json``, the dashboard's desired state for the job.

    {"version": 1, "revision": 7, "trainable": {"Conv_1": true}, "stop": false}

The dashboard replaces the file atomically and raises ``revision`` by one per write. The training
side applies a revision it has not handled yet at its next safe point and acknowledges it with a
``control`` line (``RunLog.control``); a revision not newer than the last one handled is stale and
ignored. Applying the same state twice is harmless.
"""

import hashlib
import json
import os
import re
import sys

from .runlog import CONTROL

VERSION = 1


class ControlError(ValueError):
    """control.json is not a valid version-1 control file. ``revision`` is the revision it seems
    to carry (or -1 when none can be found), so the rejection can still be acknowledged."""

    def __init__(self, message, revision=-1):
        super().__init__(message)
        self.revision = revision


class ControlFile:
    """A validated control.json: ``revision`` (int ≥ 0), ``trainable`` {layer name: bool},
    ``stop`` (bool)."""

    __slots__ = ("version", "revision", "trainable", "stop")

    def __init__(self, revision, trainable=None, stop=False, version=VERSION):
        self.version = version
        self.revision = revision
        self.trainable = dict(trainable or {})
        self.stop = bool(stop)

    def __eq__(self, other):
        return (isinstance(other, ControlFile) and self.revision == other.revision
                and self.trainable == other.trainable and self.stop == other.stop)

    def __repr__(self):
        return "ControlFile(revision=%r, trainable=%r, stop=%r)" % (
            self.revision, self.trainable, self.stop)


def _whole(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


_REVISION_RE = re.compile(r'"revision"\s*:\s*(\d{1,18})\b')


def _guess_revision(text):
    m = _REVISION_RE.search(text)
    return int(m.group(1)) if m else -1


def parse_control(data):
    """Validates the text (str or bytes) of a control file; raises ControlError saying why."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ControlError("control.json is not UTF-8 (%s)" % e)
    else:
        text = data
    guess = _guess_revision(text)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ControlError("control.json is not valid JSON (%s)" % e, guess)
    if not isinstance(value, dict):
        raise ControlError("control.json must be a JSON object, not %s" % type(value).__name__, guess)
    revision = _whole(value.get("revision"))
    if revision is None or revision < 0:
        raise ControlError('control.json has no whole, non-negative "revision" (got %s)'
                           % json.dumps(value.get("revision")), guess)
    version = _whole(value.get("version"))
    if version is None:
        raise ControlError('control.json has no whole "version"', revision)
    if version != VERSION:
        raise ControlError("control.json has version %d; this helper understands version %d"
                           % (version, VERSION), revision)
    trainable = value.get("trainable")
    if trainable is None:
        trainable = {}
    if not isinstance(trainable, dict):
        raise ControlError('control.json: "trainable" must be an object of layer name: true/false',
                           revision)
    for name, flag in trainable.items():
        if not isinstance(flag, bool):
            raise ControlError('control.json: "trainable".%s must be true or false (got %s)'
                               % (json.dumps(name), json.dumps(flag)), revision)
    stop = value.get("stop")
    if stop is None:
        stop = False
    if not isinstance(stop, bool):
        raise ControlError('control.json: "stop" must be true or false (got %s)' % json.dumps(stop),
                           revision)
    return ControlFile(revision, trainable, stop, version)


def read_control(run_dir):
    """The control file of a run directory, or None when there is none; raises ControlError."""
    path = os.path.join(run_dir, CONTROL)
    try:
        with open(path, "rb") as f:
            data = f.read(16 << 20)
    except FileNotFoundError:
        return None
    return parse_control(data)


class ControlReader:
    """Watches ``<run_dir>/control.json`` and hands out each new revision once.

    ``poll()`` returns None (no file, unchanged file, or a stale revision), a ``ControlFile`` with
    a revision newer than any handled so far (now counted as handled), or a ``ControlError`` for
    a malformed file (once per distinct content). A stale revision is reported on stderr only.
    ``peek()`` is the same without marking anything handled."""

    def __init__(self, run_dir, last_revision=-1, stream=None):
        self.path = os.path.join(run_dir, CONTROL)
        self.last_revision = last_revision
        self._stat = None
        self._seen_digest = None
        self._stream = stream

    def _read(self):
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._stat = None
            return None
        sig = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_dev)
        if sig == self._stat:
            return None
        try:
            with open(self.path, "rb") as f:
                data = f.read(16 << 20)
        except OSError:
            return None  # replaced or removed between stat and open: try again next time
        digest = hashlib.sha1(data).digest()
        if digest == self._seen_digest:
            self._stat = sig
            return None
        try:
            value = parse_control(data)
        except ControlError as e:
            value = e
        return sig, digest, value

    def _mark(self, sig, digest):
        self._stat = sig
        self._seen_digest = digest

    def peek(self):
        """The new control state if there is one, without marking it handled."""
        got = self._read()
        if got is None:
            return None
        value = got[2]
        if isinstance(value, ControlFile) and value.revision <= self.last_revision:
            return None
        return value

    def poll(self):
        got = self._read()
        if got is None:
            return None
        sig, digest, value = got
        self._mark(sig, digest)
        if isinstance(value, ControlError):
            return value
        if value.revision <= self.last_revision:
            print("finetop: control.json revision %d is not newer than revision %d already "
                  "handled; ignored" % (value.revision, self.last_revision),
                  file=self._stream or sys.stderr)
            return None
        self.last_revision = value.revision
        return value
