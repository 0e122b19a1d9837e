"""RECIST over time (:mod:`._timecourse`) in ``jax.numpy``, for running on the device.

:func:`timecourse_readout` is :func:`~._timecourse.timecourse_readout` (time to and duration
of response, confirmed best overall response, pseudo-progression; RECIST 1.1 defaults) as one
compiled program. Its results are selections of scan days, differences of two scan days and
small integer codes, computed with the same comparisons in the same order as the NumPy
reference from the same sums of diameters, so they are **bit-identical** to it (tested in
``tests/response/test_jax_timecourse.py``). The scan days are static: what depends on them
only (the confirming scan of each scan, the scans on or before follow-up) is computed once in
NumPy when the program is traced.

Inputs are not validated here (the sweep engine builds them); jax is imported on use.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from jaxtyping import Float

# RECIST 1.1 rules (the reference's defaults)
_MIN_INCREASE_MM = 5.0
_PR_DECREASE_PCT = 30.0
_PD_INCREASE_PCT = 20.0
_CR_DIAMETER_MM = 0.0
# pseudo_progression's defaults (Hodi et al. 2016)
_PSEUDO_FIRST_DAY = 84.0
_PSEUDO_INCREASE_PCT = 25.0


def _evaluable(jnp: Any, d: Any) -> Any:
    return jnp.all(jnp.isfinite(d), axis=-1) & (jnp.nan_to_num(d[..., 0]) > 0)


def _codes(jnp: Any, jax: Any, d: Any) -> Any:
    """scan_responses with its defaults: int8 codes at the post-baseline scans."""
    nadir = jax.lax.cummin(d, axis=d.ndim - 1)[..., :-1]
    cur = d[..., 1:]
    pd = (cur >= nadir * (1.0 + _PD_INCREASE_PCT / 100.0)) & (cur - nadir >= _MIN_INCREASE_MM)
    cr = cur <= _CR_DIAMETER_MM
    pr = cur <= d[..., :1] * (1.0 - _PR_DECREASE_PCT / 100.0)
    codes = jnp.where(pd, 3, jnp.where(cr, 0, jnp.where(pr, 1, 2))).astype(jnp.int8)
    return jnp.where(_evaluable(jnp, d)[..., None], codes, jnp.int8(-1))


def _confirmed(jnp: Any, codes: Any, t_post: np.ndarray, gap: float) -> tuple[Any, Any]:
    """``(response, confirmed_code)`` at each post-baseline scan (``_timecourse._confirmed``)."""
    before_pd = jnp.cumsum(codes == 3, axis=-1) == 0
    resp = (codes >= 0) & (codes <= 1) & before_pd
    cr = (codes == 0) & before_pd
    m = t_post.size
    idx = np.arange(m)
    k = np.maximum(np.searchsorted(t_post, t_post + gap, side="left"), idx + 1)
    has_k = k < m
    kk = np.minimum(k, m - 1)

    def run_holds(flag: Any) -> Any:
        miss = jnp.cumsum(~flag, axis=-1)
        before = jnp.concatenate([jnp.zeros_like(miss[..., :1]), miss[..., :-1]], axis=-1)
        return (jnp.take(miss, kk, axis=-1) - before == 0) & has_k

    conf_resp = resp & run_holds(resp)
    conf_cr = conf_resp & cr & run_holds(cr)
    return resp, jnp.where(conf_cr, 0, jnp.where(conf_resp, 1, 2)).astype(jnp.int8)


def _onset(jnp: Any, flag: Any) -> tuple[Any, Any]:
    return jnp.any(flag, axis=-1), jnp.argmax(flag, axis=-1)


def _timecourse(
    d: Any, *, scan_days: tuple[float, ...], n_used: int, confirm: bool, gap: float
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    t = np.asarray(scan_days, np.float64)
    codes = _codes(jnp, jax, d)
    ok = _evaluable(jnp, d)
    resp, conf = _confirmed(jnp, codes, t[1:], gap)
    # time_to_response: all scans
    hit, first = _onset(jnp, conf <= 1 if confirm else resp)
    ttr = jnp.where(hit & ok, jnp.asarray(t[1:])[first], jnp.nan)
    # duration_of_response: the scans on or before follow-up
    du, tu = d[..., :n_used], t[:n_used]
    codes_u = codes[..., : n_used - 1]
    resp_u, conf_u = _confirmed(jnp, codes_u, tu[1:], gap)
    hit_u, first_u = _onset(jnp, conf_u <= 1 if confirm else resp_u)
    event, first_pd = _onset(jnp, codes_u == 3)
    tu_post = jnp.asarray(tu[1:])
    end = jnp.where(event, tu_post[first_pd], tu[-1])
    ok_u = hit_u & _evaluable(jnp, du)
    dor = jnp.where(ok_u, end - tu_post[first_u], jnp.nan)
    # confirmed_best_response
    is_pd = codes == 3
    point = jnp.where(is_pd, 3, jnp.where(codes <= 1, conf, codes))
    before_pd = jnp.cumsum(is_pd, axis=-1) == 0
    best = jnp.min(jnp.where(before_pd, point, 3), axis=-1).astype(jnp.int8)
    confirmed = jnp.where(codes[..., 0] < 0, jnp.int8(-1), best)
    # pseudo_progression
    if d.shape[-1] < 3:
        pseudo = jnp.where(ok, jnp.int8(0), jnp.int8(-1))
    else:
        nadir = jax.lax.cummin(d, axis=d.ndim - 1)[..., :-1]
        cur = d[..., 1:]
        flag = (cur >= nadir * (1.0 + _PSEUDO_INCREASE_PCT / 100.0)) & (
            cur - nadir >= _MIN_INCREASE_MM
        )
        nxt = d[..., 2:]
        conf_pd = (
            (nxt >= cur[..., :-1])
            & (nxt >= nadir[..., :-1] * (1.0 + _PD_INCREASE_PCT / 100.0))
            & (nxt - nadir[..., :-1] >= _MIN_INCREASE_MM)
        )
        p_hit, p_first = _onset(jnp, flag[..., :-1])
        conf_first = jnp.take_along_axis(conf_pd, p_first[..., None], axis=-1)[..., 0]
        early = jnp.asarray(t[1:-1])[p_first] <= _PSEUDO_FIRST_DAY
        code = jnp.where(p_hit & ~conf_first, jnp.where(early, 1, 2), 0).astype(jnp.int8)
        pseudo = jnp.where(ok, code, jnp.int8(-1))
    return {
        "ttr_days": ttr,
        "dor_days": dor,
        "dor_event": ok_u & event,
        "confirmed_response": confirmed,
        "pseudo_progression": pseudo,
    }


@functools.cache
def _jitted() -> Any:
    import jax

    return jax.jit(_timecourse, static_argnames=("scan_days", "n_used", "confirm", "gap"))


def timecourse_readout(
    diam: Float[Any, "*batch scan"],
    scan_days: Float[Any, " scan"],
    *,
    follow_up: float,
    confirm: bool = False,
    min_confirm_days: float = 28.0,
) -> dict[str, np.ndarray]:
    """:func:`~tumorimmune.response.timecourse_readout` on the default JAX device (float64),
    bit-identical to it: ``ttr_days``, ``dor_days`` (float64 days), ``dor_event`` (bool),
    ``confirmed_response``, ``pseudo_progression`` (int8) of the leading shape, as NumPy.

    Args:
        diam: sums of diameters (mm), last axis = scans (baseline first, at least one later
            scan); any leading axes (arm, patient); NumPy or a device array.
        scan_days: scan days, ``(n_scans,)``, strictly increasing (days).
        follow_up: end of follow-up (days), >= ``scan_days[1]``: the duration of response
            counts the scans on or before it.
        confirm, min_confirm_days: count only confirmed responses in the time to and duration
            of response; the confirmation gap (days) of all of them.
    """
    import jax

    t = np.asarray(scan_days, np.float64)
    n_used = int(np.searchsorted(t, float(follow_up), side="right"))
    if n_used < 2:
        raise ValueError(
            f"follow_up must be >= the first post-baseline scan day ({t[1]}); got {follow_up!r}"
        )
    with jax.enable_x64(True):
        import jax.numpy as jnp

        out = _jitted()(
            jnp.asarray(diam, jnp.float64),
            scan_days=tuple(float(x) for x in t),
            n_used=n_used,
            confirm=bool(confirm),
            gap=float(min_confirm_days),
        )
        return {k: np.asarray(v) for k, v in out.items()}
