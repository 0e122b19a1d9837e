"""Timing, memory and error bookkeeping shared by the benchmark scripts (numpy + jax only)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return float("nan")


class PeakRSS:
    """Peak resident memory above the level at entry, MiB (sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        self.base = _rss_mb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def delta_mb(self) -> float:
        return self.peak - self.base


def machine_meta(*dists: str) -> dict[str, Any]:
    """Date, machine, CPU model and count, jax version and device, load average, and the
    versions of the installed distributions ``dists``."""
    import jax

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "load_avg_start": os.getloadavg(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            meta["cpu"] = next(ln.split(":")[1].strip() for ln in fh if "model name" in ln)
    except (OSError, StopIteration):
        pass
    for dist in dists:
        try:
            meta[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return meta


def device_peak_mb() -> float | None:
    """Peak accelerator memory in use (MiB) when the backend reports it."""
    import jax

    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return None
    stats = dev.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def timed(fn: Callable[[], Any], *, repeat: bool = True) -> dict[str, Any]:
    """Run ``fn`` (first call compiles), then once more for the steady-state time."""
    c0, w0 = time.process_time(), time.perf_counter()
    with PeakRSS() as mem:
        out = fn()
    first = time.perf_counter() - w0
    rec: dict[str, Any] = {"first_call_s": first, "peak_rss_mb": mem.delta_mb}
    if repeat:
        c0, w0 = time.process_time(), time.perf_counter()
        with PeakRSS() as mem:
            out = fn()
        rec["wall_s"] = time.perf_counter() - w0
        rec["cpu_s"] = time.process_time() - c0
        rec["peak_rss_mb"] = max(rec["peak_rss_mb"], mem.delta_mb)
        rec["compile_s"] = max(first - rec["wall_s"], 0.0)
    else:
        rec["wall_s"] = first
        rec["cpu_s"] = time.process_time() - c0
        rec["compile_s"] = None
    rec["load_avg"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"out": out, **rec}


def fmt_row(r: dict[str, Any]) -> str:
    def f(x: Any, spec: str) -> str:
        return (
            "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)
        )

    return (
        f"{r['model']:<15} {r['engine']:<14} {r['dtype']:<7} {r['rtol']:<7.0e} {r['n']:>9} "
        f"{f(r.get('patients_per_s'), '>12,.0f')} {f(r.get('patients_per_cpu_s'), '>12,.0f')} "
        f"{f(r.get('steps_per_patient'), '>7.1f')} {f(r.get('compile_s'), '>8.2f')} "
        f"{f(r.get('peak_mem_mb'), '>9.1f')} {f(r.get('max_rel_err_T'), '>9.1e')} "
        f"{r.get('n_failed', 0):>6}"
    )


HEADER = (
    f"{'model':<15} {'engine':<14} {'dtype':<7} {'rtol':<7} {'patients':>9} {'patients/s':>12} "
    f"{'pat/cpu-s':>12} {'steps':>7} {'compile':>8} {'mem MiB':>9} {'rel.err T':>9} {'failed':>6}"
)
