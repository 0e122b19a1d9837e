"""Validating a spec: every problem at once, one clear line each; warnings; loading TOML.

:func:`validate_spec` runs pydantic's structural validation (its errors reworded to name
the key, the value and what is allowed), then the checks that need the model
(``_checks.cross_check``) and the sizes against this machine (``_sizing.size_errors``), and
fills in the automatic chunk size. :func:`spec_warnings` lists settings that are allowed but
probably not meant.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from ..solvers import DEFAULT_TOLERANCES
from ._checks import cross_check
from ._plan import SweepPlan
from ._plausibility import plausibility_warnings
from ._sizing import auto_chunk_size as _auto_chunk
from ._sizing import count_errors, memory_limit_bytes, size_errors
from ._spec import MANY_CHUNKS, SECONDS_PER_CHUNK, SweepSpec
from ._spec import format_number as _num


def spec_warnings(spec: SweepSpec | SweepPlan) -> list[str]:
    """Settings that are allowed but probably not meant, one line each naming the key.

    Also the plausibility guards (``_plausibility``: a baseline tumor above the carrying
    capacity, drug exposures far above the highest studied regimen).
    ``tumorimmune validate`` and ``run`` print them; a run stores them in the results'
    ``warnings`` attribute (JSON list).
    """
    plan = SweepPlan.of(spec)
    spec = plan.spec
    out: list[str] = []
    rt0, at0 = DEFAULT_TOLERANCES[spec.precision]
    eps = float(np.finfo(spec.precision).eps)
    if spec.rtol is not None and spec.rtol > 1e-3:
        out.append(
            f"rtol: {_num(spec.rtol)} is loose (default {_num(rt0)} for {spec.precision}); "
            "responses near the RECIST thresholds may be misclassified"
        )
    if spec.rtol is not None and spec.rtol < 10 * eps:
        out.append(
            f"rtol: {_num(spec.rtol)} is below what {spec.precision} resolves ({_num(10 * eps)}); "
            f"expect failed solves (max_steps) — use precision = 'float64' or rtol >= {_num(rt0)}"
        )
    if spec.atol is not None and spec.atol > 1e-2:
        out.append(
            f"atol: {_num(spec.atol)} is loose (default {_num(at0)}); small antibody amounts and "
            "tumors near extinction are not resolved"
        )
    if spec.max_steps < 1000:
        out.append(
            f"max_steps: {spec.max_steps} may be too few for {_num(spec.follow_up_days)} days; "
            "patients that need more are marked failed"
        )
    n = plan.n_patients
    n_chunks = -(-n // spec.chunk_size)
    if n_chunks > MANY_CHUNKS:
        out.append(
            f"chunk_size: {spec.chunk_size} cuts the {n} patients into {n_chunks} store "
            f"chunks, each with a fixed cost (a file per array written, read back and "
            f"checksummed; about {SECONDS_PER_CHUNK} s on a 2-core CPU, so about "
            f"{n_chunks * SECONDS_PER_CHUNK / 60:.0f} min); omit chunk_size (automatic: "
            f"{_auto_chunk(plan.sizes)}) or use chunk_size >= {-(-n // MANY_CHUNKS)}"
        )
    if spec.n_trajectories > n:
        out.append(
            f"n_trajectories: {spec.n_trajectories} exceeds the {n} patients; all are stored"
        )
    last_scan = float(plan.scan_days[-1])
    for i, reg in enumerate(plan.regimens):
        if reg is not None and last_scan <= reg.start_day < spec.follow_up_days:
            out.append(
                f"arms[{i}].start_day: day {_num(reg.start_day)} is after the last scan (day "
                f"{_num(last_scan)}); the arm's responses equal an untreated arm's"
            )
    return [*out, *plausibility_warnings(plan)]


def _unwrap(tp: Any) -> Any:
    """Strip Optional / list / dict / tuple wrappers down to a pydantic model (or None)."""
    while True:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else None
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return tp


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that holds the key at ``loc`` (for 'allowed keys' messages)."""
    cls: Any = SweepSpec
    i = 0
    while i < len(loc) - 1:
        key = loc[i]
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(str(key))
        if field is None:
            return None
        ann = field.annotation
        origin = typing.get_origin(_strip_optional(ann))
        if origin in (list, dict):
            i += 1  # skip the index / dict key
        cls = _unwrap(ann)
        i += 1
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<spec>"


def _explain_one(e: Any) -> str:
    """One clear line for one error, naming the key, its value and what is allowed."""
    loc = tuple(x for x in e["loc"] if x not in ("function-after",))
    where = _format_loc(loc)
    if e["type"] == "extra_forbidden":
        owner = _model_at(loc)
        allowed = sorted(owner.model_fields) if owner else []
        return f"{where}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    if e["type"] == "missing":
        return f"{where}: required key is missing"
    msg = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    if isinstance(got, dict):
        return f"{where}: {msg}"
    return f"{where}: {msg} (got {got!r})"


def _join(lines: list[str]) -> str:
    """Every problem of the spec at once, one line each."""
    lines = list(dict.fromkeys(lines))
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems in the spec:\n" + "\n".join(f"  {x}" for x in lines)


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the value at ``loc``: an invalid arm becomes a placeholder control arm, any
    other invalid value is deleted (a list value as a whole) so that its default applies."""
    if len(loc) >= 2 and loc[0] == "arms" and isinstance(loc[1], int):
        arms = data.get("arms")
        if isinstance(arms, list) and 0 <= loc[1] < len(arms):
            arms[loc[1]] = {"name": f"\x00invalid arm {loc[1]}"}
        return
    node = data
    for i, key in enumerate(loc):
        if not isinstance(node, dict) or key not in node:
            return
        if i == len(loc) - 1 or not isinstance(node[key], dict):
            del node[key]
            return
        node = node[key]


def _salvage(data: dict[str, Any], err: ValidationError) -> SweepSpec | None:
    """The spec without its structurally invalid values (for checking the rest)."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(5):
        for e in err.errors():
            loc = tuple(x for x in e["loc"] if x not in ("function-after",))
            # a model-level error (e.g. an arm's cross-field check) drops the whole entry
            _drop(data, loc if e["type"] != "missing" else loc[:-1])
        if not data.get("arms"):
            data["arms"] = [{"name": "\x00placeholder"}]
        try:
            return SweepSpec.model_validate(data)
        except ValidationError as again:
            err = again
    return None


def validate_spec(data: dict[str, Any] | SweepSpec) -> SweepSpec:
    """Validate a spec given as a mapping (parsed TOML) or re-check a :class:`SweepSpec`.

    Every problem is reported at once: structural ones (types, unknown keys) and those that
    need the model (parameter bounds, drugs, sizes against this machine's memory).

    Raises:
        ValueError: one line per problem, naming the offending key, its value and the
            allowed values.
    """
    if isinstance(data, SweepSpec):
        data = data.model_dump(mode="json", exclude_none=True)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        lines = [_explain_one(e) for e in err.errors()]
        rest = _salvage(data, err) if isinstance(data, dict) else None
        if rest is not None:
            lines += [x for x in _all_errors(rest) if "\x00" not in x]
        raise ValueError(_join(lines)) from None
    errors = _all_errors(spec)
    if errors:
        raise ValueError(_join(errors))
    if "chunk_size" not in spec.model_fields_set:  # automatic (kept when re-validated)
        spec = spec.model_copy(update={"chunk_size": auto_chunk_size(spec)})
    return spec


def _all_errors(spec: SweepSpec) -> list[str]:
    """The cross checks, then (when they pass) the sizes against this machine's memory."""
    errors = cross_check(spec) or count_errors(spec)  # counts first: the plan builds the times
    if not errors:
        errors = size_errors(spec, SweepPlan.from_spec(spec).sizes, memory_limit_bytes())
    return errors


def auto_chunk_size(spec: SweepSpec | SweepPlan) -> int:
    """The store chunk size of a spec that does not set ``chunk_size``
    (``_sizing.auto_chunk_size``: 4,096 patients, or about 1/128 of larger cohorts)."""
    return _auto_chunk(SweepPlan.of(spec).sizes)
