"""How close this process is to the kernel's limit on memory mappings (Linux).

Every XLA CPU executable keeps a few to a few hundred memory mappings (LLVM's code and data
sections) for as long as one of JAX's caches holds it (``tests/solvers/test_fused.py`` alone
leaves about 10,000). A long-lived process that compiles many distinct programs (a notebook
running sweeps of many shapes) passes the kernel's ``vm.max_map_count`` (65,530 by default),
and XLA's next compilation then dies with a segmentation fault (seen with jaxlib 0.10.2;
``docs/scaling.md``, "Compilation cache"). :func:`warn_if_near_map_limit` says so before it
happens.
"""

from __future__ import annotations

import warnings

#: Fraction of ``vm.max_map_count`` above which :func:`warn_if_near_map_limit` warns.
WARN_FRACTION = 0.5


def memory_maps() -> tuple[int, int] | None:
    """This process's number of memory mappings and the kernel's limit ``vm.max_map_count``.

    Returns:
        ``(mappings, limit)``, or ``None`` where ``/proc`` does not say (not Linux).
    """
    try:
        with open("/proc/self/maps", "rb") as f:
            n = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            return n, int(f.read())
    except (OSError, ValueError):
        return None


def warn_if_near_map_limit(*, stacklevel: int = 2) -> bool:
    """Warn (``RuntimeWarning``, shown by default) when this process holds more than
    :data:`WARN_FRACTION` of the kernel's memory-mapping limit.

    Args:
        stacklevel: as for :func:`warnings.warn`, counted from the caller of this function
            (the default 2 names the caller's caller: ``run_sweep``'s user).

    Returns:
        Whether it warned.
    """
    maps = memory_maps()
    if maps is None or maps[0] <= WARN_FRACTION * maps[1]:
        return False
    n, limit = maps
    warnings.warn(
        f"this process holds {n:,} of the kernel's {limit:,} memory mappings "
        "(vm.max_map_count), most of them JAX's compiled programs; past the limit XLA's next "
        "compilation crashes the process (segmentation fault). Call jax.clear_caches() "
        "between unrelated runs, or raise the limit (sysctl -w vm.max_map_count=262144); "
        "docs/scaling.md, 'Compilation cache'",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )
    return True
