"""Type aliases of the annotations (array types for jaxtyping's ``Float[...]``, ``Int[...]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np

#: A NumPy array or a NumPy scalar (``np.float64``, ``np.bool_``, ...): what NumPy functions
#: return, since ufuncs and reductions give scalars for 0-d results.
NPArray: TypeAlias = np.ndarray | np.generic

#: Python lists or tuples (possibly nested once) of numbers, which every function that reads
#: its input with ``np.asarray`` accepts as well. jaxtyping checks the dtype and shape of
#: arrays and scalars only, so such a parameter is written ``Real[ArrayLike, "n"] | Numbers``.
Numbers: TypeAlias = Sequence[float] | Sequence[Sequence[float]]

#: The array-likes jaxtyping can check: NumPy arrays and scalars and Python numbers (NumPy's
#: ``ArrayLike`` admits nested sequences too, on which jaxtyping's dtype check raises; write
#: ``Real[NPArrayLike, "n"] | Numbers`` where lists are accepted).
NPArrayLike: TypeAlias = np.ndarray | np.generic | float
