"""Read-outs by PD-L1 stratum: objective response per arm and TPS category, as trials report.

The categories are those of the trials (NSCLC: TPS ``< 1 %``, ``1–49 %``, ``≥ 50 %``;
melanoma, KEYNOTE-006: PD-L1 positive = TPS ``≥ 1 %``); the per-patient TPS comes from the
model's ``L`` (:func:`tumorimmune.model.tps_from_L`, docs/science.md "PD-L1 as an assay").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from jaxtyping import Int, Real

from .._typing import NPArrayLike, Numbers
from ._metrics import wilson_ci

#: NSCLC TPS cut-offs (%), as in :data:`tumorimmune.model.NSCLC_TPS_CUTOFFS` (kept here so
#: that importing the read-outs does not load the model package).
_NSCLC_CUTOFFS: tuple[float, ...] = (1.0, 50.0)


def response_by_tps(
    best_response: Int[NPArrayLike, "arm patient"] | Sequence[Sequence[int]],
    tps: Real[NPArrayLike, " patient"] | Numbers,
    *,
    arms: Sequence[str],
    cutoffs: tuple[float, ...] = _NSCLC_CUTOFFS,
) -> list[dict[str, object]]:
    """Objective response by PD-L1 TPS category, one row per arm and category.

    Args:
        best_response: ``(arm, patient)`` best overall response codes
            (:data:`~tumorimmune.response.RESPONSE_CODES`; ``-1``: not evaluable).
        tps: ``(patient,)`` PD-L1 tumor proportion score (%, in [0, 100]) of each patient,
            the same patients in every arm (e.g. ``tps_from_L`` of the store's ``param_L``).
        arms: arm names, in the order of the first axis of ``best_response``.
        cutoffs: category boundaries (TPS, %): ``(1, 50)`` gives ``<1%``, ``1-49%``,
            ``>=50%`` (NSCLC); ``(1,)`` gives PD-L1 negative ``<1%`` / positive ``>=1%``
            (KEYNOTE-006, melanoma). A score equal to a cut-off is in the upper category.

    Returns:
        Rows with ``arm``, ``category``, ``n`` (evaluable patients of the category: code
        ≥ 0), ``share`` (``n`` over the arm's evaluable patients), ``responders`` (CR or PR),
        ``orr`` (``responders/n``, NaN when ``n = 0``), its 95 % Wilson interval
        ``orr_lo``/``orr_hi``, and ``cr`` (CR count).
    """
    from ..model import category_labels, tps_category

    br = np.asarray(best_response)
    t = np.asarray(tps, dtype=float)
    if br.ndim != 2 or br.shape[1] != t.shape[0] or br.shape[0] != len(arms):
        raise ValueError(
            f"best_response must be (arm, patient) = ({len(arms)}, {t.shape[0]}); got {br.shape}"
        )
    cat = tps_category(t, cutoffs=cutoffs)
    rows: list[dict[str, object]] = []
    for i, arm in enumerate(arms):
        ok = br[i] >= 0
        total = int(np.sum(ok))
        for label in category_labels(cutoffs=cutoffs):
            sel = ok & (cat == label)
            n = int(np.sum(sel))
            k = int(np.sum(sel & (br[i] <= 1)))
            lo, hi = wilson_ci(k, n)
            rows.append(
                {
                    "arm": str(arm),
                    "category": label,
                    "n": n,
                    "share": n / total if total else math.nan,
                    "responders": k,
                    "orr": k / n if n else math.nan,
                    "orr_lo": float(lo),
                    "orr_hi": float(hi),
                    "cr": int(np.sum(sel & (br[i] == 0))),
                }
            )
    return rows
