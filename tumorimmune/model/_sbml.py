"""SBML import through sbmltoodejax (optional dependency: ``pip install tumorimmune[sbml]``)."""

from __future__ import annotations

import importlib.util
import keyword
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import AbstractModel, parameter

#: Names of model attributes that an SBML id must not shadow.
_RESERVED = frozenset(dir(AbstractModel)) | frozenset(AbstractModel.__annotations__)


class AbstractSBMLModel(AbstractModel):
    """Abstract base of the (final) classes made by :func:`from_sbml`; their fields are the
    SBML constant parameters, their ``state_names`` the species."""

    #: SBML id of each state and parameter, by model name (after renaming).
    sbml_ids: ClassVar[dict[str, str]] = {}
    _rate: ClassVar[Any] = None
    _assign: ClassVar[Any] = None
    _w0: ClassVar[tuple[float, ...]] = ()

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " n_states"], args: object = None
    ) -> Float[Array, " n_states"]:
        c = jnp.stack(
            [jnp.asarray(getattr(self, k), dtype=y.dtype) for k in self.parameter_names()]
        )
        w = jnp.asarray(self._w0, dtype=y.dtype)
        if len(self._w0):
            w = self._assign(y, w, c, t)
        return jnp.asarray(self._rate(y, t, w, c), dtype=y.dtype)


def _python_name(sid: str, taken: set[str]) -> str:
    name = re.sub(r"\W", "_", sid)
    if not name.isidentifier() or keyword.iskeyword(name):
        name = f"p_{name}"
    while name in taken or name in _RESERVED or name.startswith("_"):
        name = f"{name}_"
    return name


def from_sbml(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    rename: Mapping[str, str] | None = None,
    tumor: str | None = None,
    effector: str | None = None,
    tumor_cells_per_unit: float = 1.0,
) -> type[AbstractSBMLModel]:
    """A :class:`~tumorimmune.model.Model` class from an SBML file (e.g. a BioModels export).

    The SBML is converted by `sbmltoodejax <https://github.com/flowersteam/sbmltoodejax>`_
    (function definitions and initial assignments are first expanded with libSBML's
    converters, which sbmltoodejax requires). The class's parameters are the SBML's constant
    parameters (defaults: the file's values), its states the species (initial values from the
    file are the defaults of ``simulate``'s ``y0``). sbmltoodejax writes its arrays as float32;
    that cast is removed so that float64 runs keep float64 accuracy.

    Args:
        path: SBML file.
        name: class name (default: the SBML model id).
        rename: new names of species or parameters, ``{sbml_id: name}`` (e.g.
            ``{"T": "Tc"}``). A state named ``"T"`` is taken as tumor cells by every backend
            (extinction below one cell): rename it unless it is the tumor in cells.
        tumor: state holding the tumor burden (after renaming; default ``"T"`` if present).
        effector: state holding the effector cells (default ``"E"`` if present).
        tumor_cells_per_unit: tumor cells per unit of the tumor state (sweeps' readouts).

    Returns:
        A subclass of :class:`AbstractSBMLModel`; instantiate it (``cls()``, keyword overrides) and
        pass it to ``simulate`` or name it in a sweep spec by import path.

    Raises:
        ImportError: sbmltoodejax/python-libsbml are not installed (extra ``sbml``).
        ValueError: unreadable SBML, events (not supported), or a state ``"T"`` that is not the
            declared tumor.
    """
    try:
        import libsbml
        from sbmltoodejax.modulegeneration import GenerateModel
        from sbmltoodejax.parse import ParseSBMLFile
    except ImportError as err:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "from_sbml needs the optional dependencies sbmltoodejax and python-libsbml: "
            "pip install 'tumorimmune[sbml]'"
        ) from err
    path = os.fspath(path)
    doc = libsbml.readSBMLFromFile(path)
    if doc.getModel() is None or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) > 0:
        msg = doc.getError(0).getMessage().strip() if doc.getNumErrors() else "no model"
        raise ValueError(f"cannot read SBML file {path!r}: {msg}")
    if doc.getModel().getNumEvents():
        raise ValueError(f"SBML file {path!r} has events; from_sbml supports ODE models only")
    for option in ("expandFunctionDefinitions", "expandInitialAssignments"):
        props = libsbml.ConversionProperties()
        props.addOption(option, True)
        if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise ValueError(f"SBML file {path!r}: libSBML could not {option}")
    sbml_id = doc.getModel().getId() or "SBMLModel"
    data = ParseSBMLFile(libsbml.writeSBMLToString(doc))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sbml_model.py")
        GenerateModel(data, out)
        with open(out) as fh:
            source = fh.read().replace(", dtype=jnp.float32", "")
        with open(out, "w") as fh:
            fh.write(source)
        spec = importlib.util.spec_from_file_location(f"_tumorimmune_sbml_{sbml_id}", out)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # float64 so that the file's parameter values are read exactly
        with warnings.catch_warnings(), jax.enable_x64(True):
            warnings.simplefilter("ignore", UserWarning)  # generated code: eqx.static_field
            spec.loader.exec_module(module)
            y0 = [float(v) for v in module.y0]
            c_values = [float(v) for v in module.c]
            w0 = tuple(float(v) for v in module.w0)
    rename = dict(rename or {})
    taken: set[str] = set()
    ids: dict[str, str] = {}
    states: list[str] = []
    for sid, _ in sorted(module.y_indexes.items(), key=lambda kv: kv[1]):
        new = rename.get(sid) or _python_name(sid, taken)
        taken.add(new)
        ids[new] = sid
        states.append(new)
    fields: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    for sid, i in sorted(module.c_indexes.items(), key=lambda kv: kv[1]):
        new = rename.get(sid) or _python_name(sid, taken)
        taken.add(new)
        ids[new] = sid
        value = c_values[i]
        lo = min(0.0, value) if math.isfinite(value) else 0.0
        fields[new] = parameter(value, bounds=(lo if value >= 0 else -math.inf, math.inf))
        annotations[new] = Real[ArrayLike, "*#N"]
    tumor_state = tumor if tumor is not None else ("T" if "T" in states else None)
    if tumor_state is not None and tumor_state not in states:
        raise ValueError(f"tumor={tumor!r} is not a state of {sbml_id}; states: {states}")
    if "T" in states and tumor_state != "T":
        raise ValueError(
            f"{sbml_id} has a state 'T' but the tumor is {tumor_state!r}: backends treat 'T' "
            "as tumor cells (extinction below one cell); rename it, e.g. rename={'T': 'Tc'}"
        )
    effector_state = effector if effector is not None else ("E" if "E" in states else None)
    if effector_state is not None and effector_state not in states:
        raise ValueError(f"effector={effector!r} is not a state of {sbml_id}; states: {states}")
    scale = float(tumor_cells_per_unit)
    namespace: dict[str, Any] = {
        "__annotations__": annotations,
        "__module__": __name__,
        "__doc__": f"SBML model {sbml_id!r} imported from {os.path.basename(path)}.",
        **fields,
        "state_names": tuple(states),
        "initial_state": dict(zip(states, y0, strict=True)),
        "tumor_state": tumor_state,
        "effector_state": effector_state,
        "sbml_ids": ids,
        "_rate": module.RateofSpeciesChange(),
        "_assign": module.AssignmentRule() if hasattr(module, "AssignmentRule") else None,
        "_w0": w0,
    }
    if scale != 1.0:
        namespace["tumor_cells"] = lambda self, x: x * scale
        namespace["tumor_size"] = lambda self, cells: cells / scale
    cls_name = name or _python_name(sbml_id, set())
    return type(cls_name, (AbstractSBMLModel,), namespace)  # type: ignore[return-value]
