"""Cost of one gradient relative to one forward solve of a virtual trial (not a test).

    python -m benchmarks.gradient_cost.run [--n 10000] [--repeats 3] [--save VARIANT]

Forward: soft ORR (relaxed RECIST, ``tumorimmune.optimize.soft_endpoints``) of ``n`` patients of
the KEYNOTE-006 virtual population under pembrolizumab 2 mg/kg q3w to week 48 (float64, Tsit5,
rtol 1e-6, atol 1e-4, ``tumorimmune.solve``). Gradient: of the same number with respect to the
dose and to every patient's growth rate ``a`` (n + 1 inputs, one reverse pass), with
``adjoint="checkpoint"`` (RecursiveCheckpointAdjoint) and ``"backsolve"`` (BacksolveAdjoint).
Each timing is the median of ``repeats`` runs after one compile-and-run; the platform
(``JAX_PLATFORMS``), ``nproc`` and the load average are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tumorimmune as ti
from benchmarks._common.harness import add_save_options, save_result
from tumorimmune.calibrate import CLINICAL_FIXED, load_population
from tumorimmune.optimize import population_model, soft_endpoints
from tumorimmune.response import Readout

DAYS = (0.0, 84.0, 126.0, 168.0, 210.0, 252.0, 294.0, 336.0)


def _median_time(fn, repeats: int) -> tuple[float, float]:
    clock = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - clock
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - clock)
    return statistics.median(times), first


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    add_save_options(ap)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)

    table, _ = load_population(Path(ti.__file__).parent / "data" / "keynote006_vpop.npz")
    idx = np.random.default_rng(0).choice(
        table["T0"].size, args.n, replace=args.n > table["T0"].size
    )
    tab = {k: jnp.asarray(v[idx]) for k, v in table.items()}
    days = jnp.asarray(DAYS)
    y0 = {"E": tab["E0"], "T": tab["T0"]}

    def orr(dose, a, adjoint):
        model = population_model({**tab, "a": a}, CLINICAL_FIXED)
        dosing = ti.Dosing(dose=dose * tab["weight"], interval=21.0, n_max=17)
        sol = ti.solve(model, y0, days, dosing=dosing, rtol=1e-6, atol=1e-4, adjoint=adjoint)
        cells = jnp.where(sol.status[:, None] == 0, sol.ys[..., 1], jnp.nan)
        return soft_endpoints(cells, days, readout=Readout(temperature=1.0))["orr"]

    x = (jnp.asarray(2.0), tab["a"])
    fwd = jax.jit(lambda d, a: orr(d, a, "checkpoint"))
    result: dict[str, object] = {
        "n_patients": args.n,
        "repeats": args.repeats,
        "platform": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "nproc": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "machine": platform.node(),
        "jax": jax.__version__,
    }
    t_fwd, c_fwd = _median_time(lambda: fwd(*x), args.repeats)
    result["forward_s"], result["forward_first_s"] = t_fwd, c_fwd
    print(f"forward: {t_fwd:.3f} s (first call {c_fwd:.1f} s)", flush=True)
    for adjoint in ("checkpoint", "backsolve"):
        grad = jax.jit(jax.grad(lambda d, a, adj=adjoint: orr(d, a, adj), argnums=(0, 1)))
        t_g, c_g = _median_time(lambda g=grad: g(*x), args.repeats)
        g = grad(*x)
        result[f"grad_{adjoint}_s"] = t_g
        result[f"grad_{adjoint}_first_s"] = c_g
        result[f"ratio_{adjoint}"] = t_g / t_fwd
        result[f"dorr_ddose_{adjoint}"] = float(g[0])
        print(
            f"gradient ({adjoint}): {t_g:.3f} s = {t_g / t_fwd:.2f} x forward "
            f"(first call {c_g:.1f} s); dORR/ddose = {float(g[0]):.5f} per mg/kg",
            flush=True,
        )
    result["loadavg_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    save_result(__file__, result, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
