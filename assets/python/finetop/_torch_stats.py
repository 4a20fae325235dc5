"""The ``layer_stats`` line of the PyTorch, Hugging Face and Lightning helpers (issue 15).

At every epoch end: ``{"type": "layer_stats", "epoch": E, "update_ratio": {"<row>": r, …}}`` with
r = ‖w_end − w_start‖ / ‖w_start‖ over the epoch, for every row of the model line (a module that
owns parameters, named as ``named_modules()`` names it), over ALL of the module's own floating
point parameters and buffers (BatchNorm's running statistics included, so a frozen BatchNorm that
PyTorch lets update its statistics shows), exactly 0.0 when nothing changed.

How, and what it costs:

- At the epoch's beginning every tensor that can change — a parameter with ``requires_grad`` and
  every floating point buffer (running statistics: small) — is copied into a snapshot on the CPU,
  in its own dtype (memory: the trainable part of the model once, kept between epochs and reused,
  half what Adam's two moments take). A frozen parameter is not copied: it keeps a CRC32
  fingerprint of its bytes and its norm (no memory). Its fingerprint at an epoch's end is its
  start fingerprint for the next epoch, so a frozen base costs one CRC pass per epoch.
- At the end, per tensor, ‖w_end − w_start‖² (in chunks of 4 M elements, written into the CPU
  snapshot itself, which the next beginning copies again; on a GPU through one reusable scratch
  chunk on the tensor's device) and ‖w_start‖²; a row's ratio is the square root of the ratio of
  its tensors' sums (a tensor tied into two rows counts in both).
  A tensor whose bytes are unchanged contributes exactly 0 (0.0 when the whole row is unchanged).
- A layer unfrozen during the epoch (a toggle applied by ``batch()``/a step hook): its tensors
  are still bitwise their epoch-start values (the fingerprint proves it), so they are copied at
  that moment and the ratio is exact. A frozen tensor that changed anyway (a module writing its
  own parameters) is caught by its fingerprint and contributes the lower bound
  (‖w_end‖ − ‖w_start‖)² for that epoch; it is copied from the next epoch on.
- Under several processes (DDP) only global rank 0 measures and writes: the replicas are
  identical. Nothing is collective.
  A sharded model: a DTensor parameter (FSDP2) is measured on rank 0's shard (a sample of the
  row); a parameter with no elements here (DeepSpeed ZeRO-3 outside its forward) is left out, and
  a row with nothing left is omitted.
- No ``grad_norm``: a per-layer gradient norm over the epoch needs a hook at every step, and the
  one left after the last step is one batch's (HF's Trainer even clears it).

Any failure disables the line for the rest of the run with a message on stderr; training goes on.
``FINETOP_LAYER_STATS=0`` in the environment turns it off. ``seconds`` counts the time spent here.
"""

from __future__ import annotations

import math
import os
import sys
import time
import zlib
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .torch import Steering

_CHUNK = 1 << 22  # elements per difference pass (16 MB of float32 scratch)

# A frozen tensor's fingerprint: (dtype, shape, CRC32 of its bytes).
_Crc = tuple[str, tuple[int, ...], int]


def _rows(model: torch.nn.Module) -> list[tuple[str, list[tuple[str, torch.Tensor]]]]:
    """[(row name, [(key, tensor)])] for the model line's rows: the module's own parameters and
    floating point buffers. A key is "<row>.<attribute>" of the first row holding the tensor (a
    tensor tied into two rows is measured once, under one key, and counted in both)."""
    from .torch import module_rows
    rows: list[tuple[str, list[tuple[str, torch.Tensor]]]] = []
    keys: dict[int, str] = {}
    for name, m in module_rows(model):
        mine: list[tuple[str, torch.Tensor]] = []
        for attr, t in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            if t is None or not t.is_floating_point() or t.numel() == 0:
                continue  # numel 0: a parameter DeepSpeed ZeRO-3 gathers only for its forward
            key = keys.setdefault(id(t), name + "." + attr)
            if all(key != k for k, _ in mine):
                mine.append((key, t))
        if mine:
            rows.append((name, mine))
    return rows


def _flat(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    if hasattr(t, "to_local"):  # a DTensor (FSDP2): this rank's shard
        t = t.to_local()
    return (t if t.is_contiguous() else t.contiguous()).view(-1)


def _crc(t: torch.Tensor) -> _Crc:
    """CRC32 of the tensor's bytes (read from the CPU; a GPU tensor is brought over in chunks)."""
    flat = _flat(t)
    crc = 0
    for i in range(0, max(flat.numel(), 1), _CHUNK):
        chunk = flat[i:i + _CHUNK]
        if chunk.device.type != "cpu":
            chunk = chunk.cpu()
        # An ndarray is a buffer (numpy's stubs are skipped: mypy cannot see it).
        crc = zlib.crc32(chunk.view(torch.uint8).numpy(), crc)  # type: ignore[arg-type]
    return (str(t.dtype), tuple(t.shape), crc)


def _sq(flat: torch.Tensor) -> float:
    """‖flat‖² as a Python float (accumulated in float32 at least; float64 if that overflowed)."""
    if flat.numel() == 0:
        return 0.0
    dt = flat.dtype if flat.dtype in (torch.float32, torch.float64) else torch.float32
    v = float(torch.linalg.vector_norm(flat, dtype=dt)) ** 2
    if not math.isfinite(v) and bool(torch.isfinite(flat).all()):
        v = float(torch.linalg.vector_norm(flat, dtype=torch.float64)) ** 2
    return v


class LayerStats:
    """Per-epoch update ratios of a PyTorch model's rows (see the module's docstring)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        # tensor key -> CPU snapshot (kept between epochs, reused)
        self._copies: dict[str, torch.Tensor] = {}
        # tensor key -> fingerprint of a frozen tensor at the epoch's start (and its ‖w‖²)
        self._prints: dict[str, tuple[_Crc, float]] = {}
        self._start_sq: dict[str, float] = {}  # tensor key -> ‖w_start‖²
        self._begun = False  # between begin() and end()
        self._scratch: torch.Tensor | None = None
        self._odd: set[str] = set()  # keys of frozen tensors that changed anyway: copied from now on
        # key -> fingerprint at the last end (the next start's)
        self._end_prints: dict[str, tuple[_Crc, float]] = {}

    # -- snapshot ------------------------------------------------------------------------------

    def _live(self, key: str, t: torch.Tensor) -> bool:
        return not isinstance(t, torch.nn.Parameter) or t.requires_grad or key in self._odd

    def _copy(self, key: str, t: torch.Tensor) -> None:
        flat = _flat(t)
        buf = self._copies.get(key)
        if buf is None or buf.dtype != flat.dtype or buf.numel() != flat.numel():
            buf = torch.empty(flat.numel(), dtype=flat.dtype, device="cpu")
            self._copies[key] = buf
        buf.copy_(flat)
        self._prints.pop(key, None)
        self._start_sq[key] = _sq(buf)

    def begin(self, model: torch.nn.Module) -> None:
        """Takes the epoch's start snapshot."""
        t0 = time.perf_counter()
        try:
            rows = _rows(model)
            tensors = {k: t for _, ts in rows for k, t in ts}
            ends = self._end_prints
            for key, t in tensors.items():
                if self._live(key, t):
                    self._copy(key, t)
                else:
                    self._copies.pop(key, None)
                    fp = ends.get(key)
                    if fp is None:
                        fp = (_crc(t), _sq(_flat(t)))
                    self._prints[key] = fp
            for key in list(self._copies):
                if key not in tensors:
                    del self._copies[key]
            for key in list(self._prints):
                if key not in tensors:
                    del self._prints[key]
            self._begun = True
            self._end_prints = {}
        finally:
            self.seconds += time.perf_counter() - t0

    def toggled(self, model: torch.nn.Module) -> None:
        """After a toggle within the epoch: the newly unfrozen tensors, still bitwise their start
        values (checked), are copied now so their ratio over the epoch is exact."""
        if not self._begun:
            return
        t0 = time.perf_counter()
        try:
            for _, ts in _rows(model):
                for key, t in ts:
                    if key in self._prints and self._live(key, t):
                        fp = self._prints[key]
                        if _crc(t) == fp[0]:
                            self._copy(key, t)
                        # else: it moved while frozen; end() gives the lower bound
        finally:
            self.seconds += time.perf_counter() - t0

    # -- the ratios ----------------------------------------------------------------------------

    def _diff_sq(self, t: torch.Tensor, start: torch.Tensor) -> float | None:
        flat = _flat(t)
        if flat.numel() != start.numel() or flat.dtype != start.dtype:
            return None
        total = 0.0
        n = flat.numel()
        for i in range(0, n, _CHUNK):
            j = min(n, i + _CHUNK)
            a = flat[i:j]
            b = start[i:j]
            if a.device == b.device:
                d = torch.sub(a, b, out=b)  # the copy is retaken at the next begin(): reuse it
            else:
                size = j - i
                if self._scratch is None or self._scratch.numel() < size or \
                        self._scratch.dtype != a.dtype or self._scratch.device != a.device:
                    self._scratch = torch.empty(max(size, min(n, _CHUNK)), dtype=a.dtype,
                                                device=a.device)
                d = torch.sub(a, b.to(a.device), out=self._scratch[:size])
            s = _sq(d)
            if s == 0.0 and bool(d.any()):
                s = float(torch.linalg.vector_norm(d, dtype=torch.float64)) ** 2  # float32 underflow
            total += s
        return total

    def end(self, model: torch.nn.Module) -> dict[str, float]:
        """{row name: ratio} for the epoch since ``begin``; {} when ``begin`` was not called."""
        if not self._begun:
            return {}
        t0 = time.perf_counter()
        try:
            done: dict[str, tuple[float, float]] = {}
            rows = _rows(model)
            for _, ts in rows:
                for key, t in ts:
                    if key in done:
                        continue
                    if key in self._copies:
                        d = self._diff_sq(t, self._copies[key])
                        if d is None:  # replaced by a tensor of another shape: bound only
                            d = (math.sqrt(_sq(_flat(t))) - math.sqrt(self._start_sq[key])) ** 2
                        done[key] = (d, self._start_sq[key])
                    elif key in self._prints:
                        crc0, sq0 = self._prints[key]
                        crc1 = _crc(t)
                        if crc1 == crc0:
                            done[key] = (0.0, sq0)
                            self._end_prints[key] = (crc1, sq0)
                        else:
                            sq1 = _sq(_flat(t))
                            done[key] = ((math.sqrt(sq1) - math.sqrt(sq0)) ** 2, sq0)
                            self._end_prints[key] = (crc1, sq1)
                            self._odd.add(key)
            ratios: dict[str, float] = {}
            for name, ts in rows:
                known = [done[k] for k, _ in ts if k in done]  # a tensor new since begin: none
                if not known:
                    continue
                num = sum(d for d, _ in known)
                den = sum(s for _, s in known)
                if num == 0.0:
                    ratios[name] = 0.0
                elif den > 0.0:
                    ratios[name] = math.sqrt(num) / math.sqrt(den)
                else:
                    ratios[name] = math.inf  # moved away from all zeros
            self._begun = False  # the copies now hold differences: begin() must come first
            return ratios
        finally:
            self.seconds += time.perf_counter() - t0


class EpochStats:
    """What ``Steering`` calls: ``begin()`` at an epoch's start, ``end(epoch)`` at its end (writes
    the line), ``toggled()`` after a change of trainable flags. Only global rank 0 measures.
    Never raises: a failure disables the line with a message on stderr."""

    def __init__(self, steering: Steering) -> None:
        self.steering = steering
        self.stats = LayerStats()
        self.enabled = os.environ.get("FINETOP_LAYER_STATS", "1").strip().lower() not in \
            ("0", "false", "no", "off")

    def _on(self) -> bool:
        return self.enabled and self.steering.rank == 0 and self.steering.model is not None

    def _failed(self, e: Exception) -> None:
        self.enabled = False
        try:
            print("finetop: layer_stats disabled (%s: %s)" % (type(e).__name__, e), file=sys.stderr)
        except Exception:
            pass

    def begin(self) -> None:
        if self._on():
            try:
                assert self.steering.model is not None  # _on()
                self.stats.begin(self.steering.model)
            except Exception as e:  # statistics must never stop training
                self._failed(e)

    def toggled(self) -> None:
        if self._on():
            try:
                assert self.steering.model is not None  # _on()
                self.stats.toggled(self.steering.model)
            except Exception as e:
                self._failed(e)

    def end(self, epoch: int) -> None:
        if self._on():
            try:
                assert self.steering.model is not None  # _on()
                ratios = self.stats.end(self.steering.model)
                if ratios:
                    self.steering.log.layer_stats(epoch, ratios)
            except Exception as e:
                self._failed(e)
