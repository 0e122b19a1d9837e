"""Reproduce the pembrolizumab arm of KEYNOTE-006 (melanoma, ORR 33.7 %) with a virtual population.

Run:  python examples/calibrate_keynote006.py  [--patients 200] [--seed 0] [--out DIR]

Two calibrations of the same virtual trial (pembrolizumab 10 mg/kg q2w; scans at week 12 and
then every 6 weeks to week 48; RECIST 1.1 on one spherical lesion):

(a) relaxed RECIST + optax: the median and spread of the PD-L1 expression ``L`` (logit-normal)
    are adjusted by Adam through diffrax so that the relaxed ORR of a fixed-draw cohort hits
    33.7 %; the hard-RECIST ORR is then read on a fresh cohort of 1000;
(b) Allen, Rieger & Musante 2016: plausible patients (Sobol' within bounds) and
    prevalence-weighted acceptance–rejection on the response.

Both report the achieved ORR with its Wilson 95 % CI against the trial's CI, the calibrated
distributions, and the untreated arm (sanity check: ORR ≈ 0). A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tumorimmune.calibrate import (
    KEYNOTE006_Q2W,
    Dist,
    TrialArm,
    calibrate_allen,
    calibrate_soft,
    rescale_tumor,
)
from tumorimmune.model import Regimen, TumorImmunePD1

CAVEATS = """\
Caveats (read before quoting any number):
  * The tumor–immune parameters are Kuznetsov et al. 1994's, fitted to BCL1 lymphoma in mice;
    tumor sizes are rescaled by 100x (carrying capacity 5e10 cells ≈ 50 cm³) so that lesions
    have clinical diameters (≈ 27–45 mm). Dynamics are mouse dynamics: an assumption.
  * One spherical lesion per patient, 1 cm³ ≈ 1e9 cells; real RECIST sums up to 5 lesions.
  * Responses are unconfirmed (no confirmation scan), as in many in-silico trials.
  * The only target is the ORR: PFS, response durability and the PD-L1 distribution of
    the trial population are not matched; many populations reproduce the same ORR.
  * PD-1 blockade effect sizes (eps_n, eps_m, EC50) are project assumptions (docs/science.md §2).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200, help="calibration cohort (method a)")
    ap.add_argument("--plausible", type=int, default=1024, help="candidates (method b)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the distributions as CSV")
    args = ap.parse_args()
    print(CAVEATS)

    model = rescale_tumor(TumorImmunePD1.with_drug("pembrolizumab"), 100.0)
    regimen = Regimen(dose=10.0, unit="mg/kg", interval=14.0, drug="pembrolizumab")
    arm = TrialArm(model, regimen)  # scans: day 0, 84, 126, ..., 336; E0 = 1.73e5 cells
    target = KEYNOTE006_Q2W

    print("=== (a) relaxed RECIST (sigmoid of the best % change, τ = 2 points) + optax Adam ===")
    population = {
        "L": Dist("logitnormal", 0.1, 1.5),  # tumor PD-L1 expression in [0, 1]: calibrated
        "eps_n": Dist("lognormal", 1.0, 0.3),  # blockade effect on the kill rate
        "T0": Dist("lognormal", 3.5e10, 0.15),  # baseline tumor cells (≈ 40 mm lesion)
    }
    soft = calibrate_soft(
        arm,
        population,
        target,
        calibrate=["L"],
        n_patients=args.patients,
        seed=args.seed,
        steps=40,
        learning_rate=0.1,
        temperature=2.0,
    )
    print(soft.summary())
    print(
        f"relaxed ORR on the calibration cohort: {100 * soft.info['soft_orr_initial']:.1f} % → "
        f"{100 * soft.info['soft_orr_final']:.1f} % (hard RECIST: "
        f"{100 * soft.info['hard_orr_calibration_cohort']:.1f} %)\n"
    )

    print("=== (b) Allen et al. 2016: plausible patients + prevalence selection ===")
    ranges = {
        "L": (0.01, 1.0, "log"),
        "eps_n": (0.3, 3.0, "log"),
        "T0": (1e10, 4.5e10, "log"),
    }
    allen = calibrate_allen(arm, ranges, target, n_plausible=args.plausible, seed=args.seed)
    print(allen.summary())
    info = allen.info
    print(
        f"candidates {info['n_candidates']}, plausible {info['n_plausible']} (ORR "
        f"{100 * info['plausible_orr']:.1f} %), selected {info['n_selected']}"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        soft.distributions.to_csv(args.out / "soft_distributions.csv", index=False)
        allen.distributions.to_csv(args.out / "allen_distributions.csv", index=False)
        print(f"wrote {args.out}/soft_distributions.csv, allen_distributions.csv")


if __name__ == "__main__":
    main()
