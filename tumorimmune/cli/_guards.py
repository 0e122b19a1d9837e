"""What the commands say when a run goes wrong in a way the user can fix, one line each:
failed arms, a user model that raises, a ``simulate`` too large for this machine."""

from __future__ import annotations

import inspect
import os
import traceback
from pathlib import Path
from typing import Any

#: Environment variable: set to 1 to see the full traceback of a user model's exception.
TRACEBACK_ENV = "TUMORIMMUNE_TRACEBACK"
#: Bytes per output time and state of a ``simulate`` solve, per row of the backend's pool:
#: the solver's output buffer, its host copy and the returned states (float64).
_COPIES = 3


def failed_arms(ds: Any) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of a finished sweep's patients without a result (best overall
    response -1: a failed solve, or not evaluable): an arm where every solve failed is an
    error; an arm where some failed, or where every patient is solved but none is evaluable
    (e.g. lesions below the detection limit), a warning."""
    import numpy as np

    errors: list[str] = []
    warnings: list[str] = []
    status = np.asarray(ds["status"].values) if "status" in ds.variables else None
    for i, arm in enumerate(ds["arm"].values):
        bad = int(ds["n_failed"].values[i])
        total = bad + int(ds["n"].values[i])
        if not bad:
            continue
        codes = sorted({int(c) for c in status[i] if c != 0}) if status is not None else []
        solves = int(np.sum(status[i] != 0)) if status is not None else bad
        parts, fix = [], []
        if solves:
            parts.append(f"{solves} failed solves, status {', '.join(map(str, codes))}")
            fix.append("check the model's parameters or raise max_steps / loosen rtol")
        if bad > solves:
            parts.append(f"{bad - solves} not evaluable")
            fix.append("check that baseline lesions are above [response] detection_limit_mm")
        why = f"({'; '.join(parts)}); {' and '.join(fix)}"
        if solves == total:  # nothing solved: an error (exit 1)
            errors.append(f"no result for arm {str(arm)!r}: all {total} patients failed {why}")
        elif bad == total:  # solved, but RECIST cannot read one of them: a warning
            warnings.append(
                f"no RECIST result for arm {str(arm)!r}: none of its {total} patients is "
                f"evaluable {why}"
            )
        else:
            warnings.append(
                f"{bad} of {total} patients of arm {str(arm)!r} failed and are left out of its "
                f"rates {why}"
            )
    return errors, warnings


def _model_file(cls: type) -> str | None:
    try:
        return os.path.realpath(inspect.getsourcefile(cls) or "")
    except (TypeError, OSError):
        return None


def user_model_error(err: BaseException, cls: type | None) -> str | None:
    """One line for an exception raised inside a user's model (its own source file, not the
    package's): ``None`` when the error did not come from such a model or
    :data:`TRACEBACK_ENV` asks for the full trace."""
    if cls is None or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        return None
    where = _model_file(cls)
    package = os.path.realpath(Path(__file__).resolve().parents[1])
    if not where or where.startswith(package):
        return None
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:  # the chain: JAX may re-raise
        seen.add(id(e))
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename]
        mine = [f for f in frames if os.path.realpath(f.filename) == where]
        if mine:
            f = mine[-1]
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return (
                f"model {cls.__module__}:{cls.__name__} raised {type(e).__name__}"
                f"{': ' + msg if msg else ''} ({Path(f.filename).name}:{f.lineno}, in "
                f"{f.name}); fix the model (full traceback: {TRACEBACK_ENV}=1)"
            )
        e = e.__cause__ or e.__context__
    return None


def simulate_memory_error(cls: type, days: float, step_days: float) -> str | None:
    """Refuse a ``simulate`` whose output does not fit this machine, naming the limit and the
    largest ``--days`` that fits (``sweeps.memory_limit_bytes``; the solver's pool rows from
    ``solvers.default_sizes``)."""
    from ..solvers import default_sizes
    from ..sweeps import memory_limit_bytes

    n_states = len(cls.state_names)  # type: ignore[attr-defined]
    rows = default_sizes(1, os.cpu_count() or 1)[0]
    per_time = _COPIES * rows * n_states * 8 + 8 * (2 * n_states + 8)
    n_t = int(days // step_days) + 2
    need, limit = n_t * per_time, memory_limit_bytes()
    if need <= limit:
        return None
    fits = max(int(limit // per_time) - 2, 1) * step_days
    return (
        f"--days {days:g} needs about {need / 2**30:.1f} GiB of memory ({n_t:,} output times "
        f"every {step_days:g} days), more than the {limit / 2**30:.1f} GiB this machine "
        f"allows; use --days {fits:.0f} or less"
    )
