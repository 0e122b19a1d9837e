"""Timing, memory and result bookkeeping shared by the benchmarks (numpy + jax only).

Every benchmark writes its JSON with :func:`save_result` (``--save VARIANT``, see
:func:`add_save_options`) to ``benchmarks/<name>/results/DATE_MACHINE_VARIANT.json``: DATE the
UTC day, MACHINE :func:`machine_slug` (``cpu-amd-epyc-2c``, ``gpu-nvidia-h100-80gb-hbm3-1x``),
VARIANT a label of the run; the file's ``meta`` holds the command line, the versions, the
machine and the load average.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: ``DATE_MACHINE_VARIANT.json`` (``.log`` for a shell check's output); lower-case words
#: joined by ``-`` (``.`` allowed in a variant), no ``_`` inside a part.
RESULT_NAME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})_(?P<machine>(?:cpu|gpu|tpu)-[a-z0-9]+(?:-[a-z0-9]+)*)"
    r"_(?P<variant>[a-z0-9]+(?:[-.][a-z0-9]+)*)\.(?:json|log)$"
)
#: Versions recorded in every result, besides the benchmark's own ``dists``.
DISTS = ("tumorimmune", "jax", "jaxlib", "diffrax", "equinox", "numpy")


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
    """Date, machine (:func:`machine_slug`), CPU model and count, jax version and device, load
    average, and the versions of the installed distributions ``dists``."""
    import jax

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_slug(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "load_avg_start": os.getloadavg(),
    }
    for dist in dists:
        try:
            meta[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return meta


def slug(text: str) -> str:
    """Lower-case words joined by ``-``: ``"Intel(R) Xeon(R) Processor"`` -> ``"intel-xeon"``."""
    text = re.sub(r"\((?:r|tm)\)|\bprocessor\b|\bcpu\b|@.*$|\b\d+-core\b", " ", text.lower())
    return re.sub(r"[^a-z0-9.]+", "-", text).replace(".", "-").strip("-") or "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_slug() -> str:
    """``cpu-<model>-<cores>c`` on a CPU, ``gpu-<device kind>-<devices>x`` on an accelerator."""
    import jax

    devices = jax.devices()
    if devices[0].platform == "cpu":
        return f"cpu-{slug(cpu_model())}-{os.cpu_count()}c"
    kind = "tpu" if devices[0].platform == "tpu" else "gpu"
    return f"{kind}-{slug(devices[0].device_kind)}-{len(devices)}x"


def add_save_options(ap: argparse.ArgumentParser) -> None:
    """``--save [VARIANT]`` and ``--results-dir DIR``, the options of :func:`save_result`."""
    ap.add_argument(
        "--save",
        nargs="?",
        const="default",
        default=None,
        metavar="VARIANT",
        help="write the results to results/DATE_MACHINE_VARIANT.json (VARIANT: a label, "
        "lower-case words joined by '-'; default 'default')",
    )
    ap.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="write there instead of the benchmark's results/ folder (e.g. $OUT on a lent GPU)",
    )


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def save_result(
    script: str,
    data: Mapping[str, Any],
    *,
    variant: str | None,
    results_dir: str | Path | None = None,
    dists: Iterable[str] = (),
) -> Path | None:
    """Write ``data`` as ``<script's folder>/results/DATE_MACHINE_VARIANT.json`` (or under
    ``results_dir``) with a ``meta`` entry: benchmark, variant, command line, git commit,
    machine (slug, CPU, cores, devices), versions and load average; ``data``'s own ``meta``
    is merged into it. Nothing is written when ``variant`` is None (no ``--save``). An
    existing file is not overwritten: ``-2``, ``-3``, ... is appended to the variant."""
    if variant is None:
        return None
    variant = re.sub(r"[^a-z0-9.]+", "-", variant.lower()).strip("-.") or "default"
    import jax

    bench = Path(script).resolve().parent
    folder = Path(results_dir) if results_dir is not None else bench / "results"
    folder.mkdir(parents=True, exist_ok=True)
    meta = machine_meta(*DISTS, *dists)
    devices = jax.devices()
    meta.update(
        benchmark=bench.name,
        variant=variant,
        device_kind=getattr(devices[0], "device_kind", devices[0].platform),
        n_devices=len(devices),
        platform=platform.platform(),
        python=platform.python_version(),
        command=f"python -m benchmarks.{bench.name}.run " + " ".join(sys.argv[1:]),
        git_commit=_git_commit(),
        load_avg_end=os.getloadavg(),
    )
    meta.update(data.get("meta", {}))
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    path, k = folder / f"{day}_{meta['machine']}_{variant}.json", 1
    while path.exists():
        k += 1
        path = folder / f"{day}_{meta['machine']}_{variant}-{k}.json"
    body = {"meta": meta, **{key: v for key, v in data.items() if key != "meta"}}
    path.write_text(json.dumps(body, indent=1, default=str) + "\n")
    print(f"# results: {path}", flush=True)
    return path


class ResultFile:
    """One result file saved again after every run (a benchmark cut short keeps what it
    measured): the first call is :func:`save_result`, later calls replace its records (its
    ``meta`` kept, ``data``'s own ``meta`` merged in)."""

    def __init__(self, script: str, *, variant: str | None, results_dir: Path | None = None):
        self.script, self.variant, self.results_dir = script, variant, results_dir
        self.path: Path | None = None

    def __call__(self, data: Mapping[str, Any]) -> None:
        if self.path is None:
            self.path = save_result(
                self.script, data, variant=self.variant, results_dir=self.results_dir
            )
            return
        old = json.loads(self.path.read_text())
        meta = {**old.get("meta", {}), **data.get("meta", {}), "load_avg_end": os.getloadavg()}
        body = {"meta": meta, **{key: v for key, v in data.items() if key != "meta"}}
        self.path.write_text(json.dumps(body, indent=1, default=str) + "\n")


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
