"""Models by name: the built-in registry and ``"package.module:ClassName"`` import paths."""

from __future__ import annotations

import importlib

from ._base import Model


def _builtin() -> dict[str, type[Model]]:
    from ._depillis import DePillis2005
    from ._kuznetsov import Kuznetsov1994
    from ._nikolopoulou import Nikolopoulou2018
    from ._pd1 import TumorImmunePD1
    from ._tgi import ClaretTGI

    return {
        c.__name__.lower(): c
        for c in (Kuznetsov1994, TumorImmunePD1, DePillis2005, Nikolopoulou2018, ClaretTGI)
    }


def model_names() -> list[str]:
    """Names of the built-in models (accepted by :func:`get_model`)."""
    return [c.__name__ for c in _builtin().values()]


def get_model(name: str) -> type[Model]:
    """Model class by (case-insensitive) built-in name, or by import path.

    Args:
        name: a built-in name (``"Kuznetsov1994"``, ``"TumorImmunePD1"``, ``"DePillis2005"``,
            ``"Nikolopoulou2018"``, ``"ClaretTGI"``) or ``"package.module:ClassName"``, the
            path of a :class:`~tumorimmune.model.Model` subclass importable from ``sys.path``.

    Raises:
        ValueError: unknown name, a module or attribute that cannot be imported, or an
            object that is not a ``Model`` subclass.
    """
    name = str(name)
    if ":" in name:
        return _import_model(name)
    key = name.lower().replace("_", "").replace("-", "")
    models = _builtin()
    try:
        return models[key]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(model_names())}, or an import "
            "path 'package.module:ClassName'"
        ) from None


def _import_model(path: str) -> type[Model]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ValueError(f"model import path must be 'package.module:ClassName'; got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"model {path!r}: cannot import module {module_name!r} ({err})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"model {path!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Model)):
        raise ValueError(
            f"model {path!r} is not a tumorimmune Model subclass (got {type(obj).__name__}); "
            "subclass tumorimmune.model.Model"
        )
    if obj.__name__.startswith("Abstract"):
        raise ValueError(f"model {path!r} is an abstract base class; name a concrete model")
    return obj
