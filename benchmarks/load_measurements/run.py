"""Loading measurements is linear in the rows: ``calibrate.load_measurements`` on 1e5 and 1e6
rows (10 visits per patient), median seconds over repeats and their ratio (linear: about 10;
the former quadratic loader did not finish 1e6 rows in 300 s).

    python -m benchmarks.load_measurements.run [--repeats 5] [--save VARIANT]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from benchmarks._common.harness import add_save_options, save_result
from tumorimmune.calibrate import load_measurements


def _frame(patients: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient": np.repeat(np.arange(patients).astype(str), 10),
            "day": np.tile(np.arange(10) * 7.0, patients),
            "value": 1e6,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    add_save_options(ap)
    args = ap.parse_args()
    out: dict[str, float] = {}
    for patients in (10_000, 100_000):
        df = _frame(patients)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            d = load_measurements(df, unit="cells")
            times.append(time.perf_counter() - t0)
            assert d.n_patients == patients
        out[f"rows_{10 * patients}_median_s"] = statistics.median(times)
        print(
            f"{10 * patients:>9,} rows: {statistics.median(times):.3f} s (median of {len(times)})"
        )
    ratio = out["rows_1000000_median_s"] / out["rows_100000_median_s"]
    out["ratio_1e6_vs_1e5"] = ratio
    print(f"ratio 1e6 / 1e5 rows: {ratio:.1f} (linear: about 10)")
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
