"""Reads ``control.json``, the dashboard's desired state for the job.

    {"version": 1, "revision": 7, "trainable": {"Conv_1": true}, "stop": false,
     "stop_run_id": "20261201-102640-3fa9c2"}

Optional fields (still version 1), all validated here so that every helper refuses the same bad
input with the same message:

- ``"learning_rate": 1e-5`` — the whole optimizer's rate (a positive finite number);
- ``"unfreeze_lr_factor": 0.1`` — the rate of the layers this revision newly unfreezes, as a
  factor of the current head rate (positive finite; PyTorch/Hugging Face make it a param group,
  Keras refuses a factor other than 1);
- ``"plan": {"id": "p1", "kind": "gradual_unfreeze", "groups": [["a", "b"], ["c"]],
  "every_epochs": 1, "lr_factor": null, "cancel": false}`` — gradual unfreezing carried out by
  the job (``Plan``);
- ``"apply_now": true`` — apply a trainable change at the next batch boundary rather than at the
  end of the epoch, where the framework can (Keras ends the epoch early).

The dashboard replaces the file atomically and raises ``revision`` by one per write. The training
side applies a revision it has not handled yet at its next safe point and acknowledges it with a
``control`` line (``RunLog.control``); a revision not newer than the last one handled is stale and
ignored. Applying the same state twice is harmless.

Nothing in control.json can stop training except a valid ``stop`` addressed to this job: a
malformed, hostile or special file (FIFO, device, directory, symbolic link) is refused with a
clear message, never followed, never blocks, and training goes on.

A stop is addressed to one job: it is honoured iff ``stop`` is true and either ``stop_run_id``
equals this job's run_id, or ``stop_run_id`` is absent and the revision is newer than the one
control.json had when this job started (so a stop left over from an earlier job in the same
directory does not stop the next one). Trainable flags found at start are applied.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import sys
from typing import IO, Any, Callable, Hashable, Iterable, Mapping

from .runlog import CONTROL, run_id_for

VERSION = 1
MAX_REVISION = 2 ** 53 - 1      # both sides: 0 <= revision <= 2^53 - 1 (exact in a double)
MAX_BYTES = 16 << 20            # a control file is a few hundred bytes; refuse absurd ones

_O_READ = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))


class ControlError(ValueError):
    """control.json is not a valid version-1 control file. ``revision`` is the revision it seems
    to carry (or -1 when none can be found), so the rejection can still be acknowledged."""

    def __init__(self, message: str, revision: int = -1) -> None:
        super().__init__(message)
        self.revision = revision


MAX_PLAN_ID = 200               # characters of a plan id
PLAN_KINDS = ("gradual_unfreeze",)


class Plan:
    """A validated ``plan`` of control.json: ``id`` (non-empty str), ``kind``
    ("gradual_unfreeze"), ``groups`` (list of non-empty lists of row names: one group unfrozen per
    step), ``every_epochs`` (int ≥ 1), ``lr_factor`` (positive float or None) and ``cancel``
    (bool). A later revision carrying the same ``id`` continues the same plan (it is not
    restarted); ``cancel: true`` stops it."""

    __slots__ = ("id", "kind", "groups", "every_epochs", "lr_factor", "cancel")

    def __init__(self, id: str, groups: Iterable[Iterable[str]], every_epochs: int = 1,
                 lr_factor: float | None = None, cancel: bool = False,
                 kind: str = "gradual_unfreeze") -> None:
        self.id = id
        self.kind = kind
        self.groups = [list(g) for g in groups]
        self.every_epochs = every_epochs
        self.lr_factor = lr_factor
        self.cancel = bool(cancel)

    def names(self) -> list[str]:
        """Every row name of every group, in order, once."""
        seen: set[str] = set()
        out: list[str] = []
        for g in self.groups:
            for n in g:
                if n not in seen:
                    seen.add(n)
                    out.append(n)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and all(getattr(self, k) == getattr(other, k)
                                               for k in self.__slots__)

    def __repr__(self) -> str:
        return "Plan(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


class ControlFile:
    """A validated control.json: ``revision`` (int, 0 ≤ r ≤ 2^53−1), ``trainable``
    {layer name: bool}, ``stop`` (bool) and ``stop_run_id`` (str or None); optionally
    ``learning_rate`` (positive float), ``unfreeze_lr_factor`` (positive float), ``plan``
    (``Plan``) and ``apply_now`` (bool), None/False when absent.

    Handed out by ``ControlReader``, ``stop`` is whether *this job* must stop (the addressing
    rule of the module docstring); ``stop_asked`` is the raw ``stop`` of the file and ``note``
    says why a stop was not for this job (None otherwise)."""

    __slots__ = ("version", "revision", "trainable", "stop", "stop_run_id", "stop_asked", "note",
                 "learning_rate", "unfreeze_lr_factor", "plan", "apply_now")

    def __init__(self, revision: int, trainable: Mapping[str, bool] | None = None, stop: bool = False,
                 version: int = VERSION, stop_run_id: str | None = None,
                 learning_rate: float | None = None, unfreeze_lr_factor: float | None = None,
                 plan: Plan | None = None, apply_now: bool = False) -> None:
        self.version = version
        self.revision = revision
        self.trainable = dict(trainable or {})
        self.stop = bool(stop)
        self.stop_asked = self.stop
        self.stop_run_id = stop_run_id
        self.note: str | None = None
        self.learning_rate = learning_rate
        self.unfreeze_lr_factor = unfreeze_lr_factor
        self.plan = plan
        self.apply_now = bool(apply_now)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ControlFile) and self.revision == other.revision
                and self.trainable == other.trainable and self.stop == other.stop
                and self.stop_run_id == other.stop_run_id
                and self.learning_rate == other.learning_rate
                and self.unfreeze_lr_factor == other.unfreeze_lr_factor
                and self.plan == other.plan and self.apply_now == other.apply_now)

    def __repr__(self) -> str:
        extra = "".join(", %s=%r" % (k, getattr(self, k)) for k in
                        ("learning_rate", "unfreeze_lr_factor", "plan", "apply_now")
                        if getattr(self, k) not in (None, False))
        return "ControlFile(revision=%r, trainable=%r, stop=%r, stop_run_id=%r%s)" % (
            self.revision, self.trainable, self.stop, self.stop_run_id, extra)


def _whole(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


_REVISION_RE = re.compile(r'"revision"\s*:\s*(\d{1,16})(?![\d.eE])')


def _guess_revision(text: str) -> int:
    m = _REVISION_RE.search(text)
    if not m:
        return -1
    r = int(m.group(1))
    return r if r <= MAX_REVISION else -1


def _show(v: object) -> str:
    """A short, printable rendering of a JSON value for a message (never raises)."""
    try:
        text = json.dumps(v)  # ensure_ascii: lone surrogates come out as \\udXXX escapes
    except Exception:
        text = "<%s>" % type(v).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def parse_control(data: str | bytes | bytearray | memoryview) -> ControlFile:
    """Validates the text (str or bytes) of a control file; raises ControlError saying why.
    Any failure of the parser or of the checks (deep nesting, huge numbers, odd types) is a
    ControlError, never another exception."""
    try:
        return _parse(data)
    except ControlError:
        raise
    except RecursionError:
        raise ControlError("control.json is nested too deeply to read", -1)
    except Exception as e:  # anything else the parser can throw: refuse, never crash training
        raise ControlError("control.json could not be read (%s: %s)"
                           % (type(e).__name__, str(e)[:200]), -1)


def _parse(data: str | bytes | bytearray | memoryview) -> ControlFile:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ControlError("control.json is not UTF-8 (%s)" % e,
                               _guess_revision(bytes(data[:4096]).decode("utf-8", "replace")))
    else:
        text = data
    guess = _guess_revision(text)
    try:
        value = json.loads(text)
    except RecursionError:
        raise ControlError("control.json is nested too deeply to be a control file", guess)
    except ValueError as e:
        raise ControlError("control.json is not valid JSON (%s)" % str(e)[:200], guess)
    if not isinstance(value, dict):
        raise ControlError("control.json must be a JSON object, not %s" % type(value).__name__, guess)
    revision = _whole(value.get("revision"))
    if revision is None or revision < 0 or revision > MAX_REVISION:
        raise ControlError('control.json has no whole "revision" between 0 and %d (got %s)'
                           % (MAX_REVISION, _show(value.get("revision"))), guess)
    version = _whole(value.get("version"))
    if version is None:
        raise ControlError('control.json has no whole "version" (got %s)'
                           % _show(value.get("version")), revision)
    if version != VERSION:
        raise ControlError("control.json has version %s; this helper understands version %d"
                           % (_show(version), VERSION), revision)
    trainable = value.get("trainable")
    if trainable is None:
        trainable = {}
    if not isinstance(trainable, dict):
        raise ControlError('control.json: "trainable" must be an object of layer name: true/false',
                           revision)
    for name, flag in trainable.items():
        if not isinstance(flag, bool):
            raise ControlError('control.json: "trainable".%s must be true or false (got %s)'
                               % (_show(name), _show(flag)), revision)
    stop = value.get("stop")
    if stop is None:
        stop = False
    if not isinstance(stop, bool):
        raise ControlError('control.json: "stop" must be true or false (got %s)' % _show(stop),
                           revision)
    stop_run_id = value.get("stop_run_id")
    if stop_run_id is not None and not isinstance(stop_run_id, str):
        raise ControlError('control.json: "stop_run_id" must be a string (got %s)'
                           % _show(stop_run_id), revision)
    learning_rate = _positive(value, "learning_rate", revision)
    unfreeze_lr_factor = _positive(value, "unfreeze_lr_factor", revision)
    apply_now = value.get("apply_now")
    if apply_now is None:
        apply_now = False
    if not isinstance(apply_now, bool):
        raise ControlError('control.json: "apply_now" must be true or false (got %s)'
                           % _show(apply_now), revision)
    plan = _plan(value.get("plan"), revision)
    return ControlFile(revision, trainable, stop, version, stop_run_id, learning_rate=learning_rate,
                       unfreeze_lr_factor=unfreeze_lr_factor, plan=plan, apply_now=apply_now)


def _positive(obj: Mapping[str, Any], key: str, revision: int,
              where: str = "control.json") -> float | None:
    """``obj[key]`` as a positive finite float, None when absent or null; ControlError otherwise."""
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ControlError('%s: "%s" must be a positive number (got %s)' % (where, key, _show(v)),
                           revision)
    try:
        f = float(v)
    except OverflowError:
        f = float("inf")
    if not (f > 0) or f == float("inf"):
        raise ControlError('%s: "%s" must be a positive finite number (got %s)'
                           % (where, key, _show(v)), revision)
    return f


def _plan(p: object, revision: int) -> Plan | None:
    if p is None:
        return None
    where = 'control.json: "plan"'
    if not isinstance(p, dict):
        raise ControlError("%s must be an object (got %s)" % (where, _show(p)), revision)
    pid = p.get("id")
    if not isinstance(pid, str) or not pid or len(pid) > MAX_PLAN_ID:
        raise ControlError('%s needs an "id": a non-empty string of at most %d characters (got %s)'
                           % (where, MAX_PLAN_ID, _show(pid)), revision)
    cancel = p.get("cancel")
    if cancel is None:
        cancel = False
    if not isinstance(cancel, bool):
        raise ControlError('%s: "cancel" must be true or false (got %s)' % (where, _show(cancel)),
                           revision)
    kind = p.get("kind")
    if cancel and p.get("groups") is None and kind in (None,) + PLAN_KINDS:
        return Plan(pid, [], 1, None, True, kind or PLAN_KINDS[0])  # a cancel needs only the id
    if kind not in PLAN_KINDS:
        raise ControlError('%s: "kind" must be %s (got %s)'
                           % (where, " or ".join('"%s"' % k for k in PLAN_KINDS), _show(kind)),
                           revision)
    groups = p.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ControlError('%s: "groups" must be a non-empty list of lists of layer names (got %s)'
                           % (where, _show(groups)), revision)
    for i, g in enumerate(groups):
        if not isinstance(g, list) or not g or not all(isinstance(n, str) for n in g):
            raise ControlError('%s: group %d must be a non-empty list of layer names (got %s)'
                               % (where, i + 1, _show(g)), revision)
    every = _whole(p.get("every_epochs", 1))
    if every is None or every < 1 or every > MAX_REVISION:
        raise ControlError('%s: "every_epochs" must be a whole number of epochs ≥ 1 (got %s)'
                           % (where, _show(p.get("every_epochs"))), revision)
    lr_factor = _positive(p, "lr_factor", revision, where)
    return Plan(pid, groups, every, lr_factor, cancel, kind)


_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _read_regular(path: str) -> tuple[Hashable, bytes | ControlError] | None:
    """(key, data or ControlError) for ``path``, or None when there is no file.

    Never follows a symbolic link, never blocks (FIFOs, devices), reads regular files only:
    ``lstat`` first so that nothing special is even opened, then ``open`` with
    O_NOFOLLOW|O_NONBLOCK and ``fstat`` on the descriptor against a swap in between. ``key``
    identifies what was seen, so a refusal is reported once per distinct file."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        return ("error", e.errno), ControlError("control.json cannot be examined (%s)" % e.strerror)
    if not stat.S_ISREG(st.st_mode):
        return (("special", st.st_dev, st.st_ino, st.st_mode, st.st_mtime_ns),
                ControlError("control.json is %s; finetop reads only a regular file there and "
                             "never follows links (remove it; the dashboard writes a new one)"
                             % _kind(st.st_mode)))
    try:
        fd = os.open(path, _O_READ)
    except (FileNotFoundError, NotADirectoryError):
        return None  # replaced or removed between lstat and open: try again next time
    except OSError as e:
        if e.errno == errno.ELOOP:
            return (("special", "link", st.st_ino, st.st_mtime_ns),
                    ControlError("control.json is a symbolic link; finetop never follows links "
                                 "in a run directory (remove it; the dashboard writes a new one)"))
        return ("error", e.errno), ControlError("control.json cannot be opened (%s)" % e.strerror)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            return (("special", fst.st_dev, fst.st_ino, fst.st_mode, fst.st_mtime_ns),
                    ControlError("control.json is %s; finetop reads only a regular file there"
                                 % _kind(fst.st_mode)))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:
            try:
                chunk = os.read(fd, min(1 << 20, MAX_BYTES + 1 - size))
            except InterruptedError:
                continue
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        return ("error", e.errno), ControlError("control.json cannot be read (%s)" % e.strerror)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        return (("big", hashlib.sha1(data).digest()),
                ControlError("control.json is larger than %d MB; a control file is a few hundred "
                             "bytes" % (MAX_BYTES >> 20), _guess_revision(data[:4096].decode("utf-8", "replace"))))
    return ("data", hashlib.sha1(data).digest()), data


def read_control(run_dir: str) -> ControlFile | None:
    """The control file of a run directory, or None when there is none; raises ControlError
    (also for a symbolic link, FIFO, device or directory at control.json)."""
    got = _read_regular(os.path.join(run_dir, CONTROL))
    if got is None:
        return None
    value = got[1]
    if isinstance(value, ControlError):
        raise value
    return parse_control(value)


class ControlReader:
    """Watches ``<run_dir>/control.json`` and hands out each new revision once.

    ``poll()`` returns None (no file, unchanged file, or a stale revision), a ``ControlFile`` with
    a revision newer than any handled so far (now counted as handled), or a ``ControlError`` for
    a malformed or special file (once per distinct content). A stale revision is reported on
    stderr only. ``peek()`` is the same without marking anything handled. Neither ever raises.

    ``start_revision`` is the revision control.json had when the reader was made (-1 when none):
    with ``run_id`` (this job's, else the one its ``RunLog`` wrote for ``run_dir``) it decides
    whether a stop is addressed to this job (see the module docstring): a ``ControlFile``'s
    ``stop`` is already that decision."""

    def __init__(self, run_dir: str, last_revision: int = -1, stream: IO[str] | None = None,
                 run_id: str | None = None) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, CONTROL)
        self.last_revision = last_revision
        self.run_id = run_id
        self._seen_key: Hashable | None = None
        self._stamp: tuple[int, ...] | None = None  # control.json's lstat at the last changed()
        self._stream = stream
        self.start_revision = -1
        try:
            got = _read_regular(self.path)
            if got is not None and not isinstance(got[1], ControlError):
                self.start_revision = parse_control(got[1]).revision
        except Exception:
            pass

    def changed(self) -> bool:
        """Whether control.json looks different from the last call (one ``lstat``: a few
        microseconds, cheap enough for every batch), so a helper reads a new revision at the next
        batch instead of waiting for its timed check. Never raises."""
        stamp: tuple[int, ...] | None
        try:
            st = os.lstat(self.path)
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def own_run_id(self) -> str | None:
        """This job's run_id: the one given, else the one RunLog wrote for this directory."""
        return self.run_id if self.run_id is not None else run_id_for(self.run_dir)

    def _address(self, c: ControlFile) -> ControlFile:
        """Sets ``c.stop`` to whether this job must stop, ``c.note`` to why not."""
        if not c.stop_asked:
            c.stop = False
            return c
        if c.stop_run_id is not None:
            own = self.own_run_id()
            c.stop = c.stop_run_id == own
            if not c.stop:
                c.note = ("the stop is addressed to run %s, not to this job (run %s); ignored"
                          % (_show(c.stop_run_id), _show(own)))
        else:
            c.stop = c.revision > self.start_revision
            if not c.stop:
                c.note = ("the stop in revision %d was already in control.json when this job "
                          "started; ignored" % c.revision)
        return c

    def _read(self) -> tuple[Hashable, ControlFile | ControlError] | None:
        try:
            got = _read_regular(self.path)
            if got is None:
                self._seen_key = None
                return None
            key, data = got
            if key == self._seen_key:
                return None
            if isinstance(data, ControlError):
                return key, data
            try:
                return key, parse_control(data)
            except ControlError as e:
                return key, e
        except Exception as e:  # never let the control file stop training
            return (("error", type(e).__name__, str(e)),
                    ControlError("control.json could not be read (%s: %s)" % (type(e).__name__, e)))

    def peek(self) -> ControlFile | ControlError | None:
        """The new control state if there is one, without marking it handled."""
        got = self._read()
        if got is None:
            return None
        value = got[1]
        if isinstance(value, ControlFile):
            if value.revision <= self.last_revision:
                return None
            self._address(value)
        return value

    def poll(self) -> ControlFile | ControlError | None:
        got = self._read()
        if got is None:
            return None
        key, value = got
        self._seen_key = key
        if isinstance(value, ControlError):
            return value
        if value.revision <= self.last_revision:
            try:
                print("finetop: control.json revision %d is not newer than revision %d already "
                      "handled; ignored" % (value.revision, self.last_revision),
                      file=self._stream or sys.stderr)
            except Exception:
                pass
            return None
        self.last_revision = value.revision
        return self._address(value)
