"""The tests run with the package's annotations checked at run time (pyproject's addopts)."""

import jaxtyping
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from tumorimmune.response import diameter_mm, kaplan_meier, wilson_ci


def test_annotations_are_checked_at_run_time(request):
    hooked = request.config.getoption("--jaxtyping-packages", default=None)
    if not hooked or jaxtyping.config.jaxtyping_disable:
        pytest.skip("run without jaxtyping's import hook (or JAXTYPING_DISABLE=1)")
    with pytest.raises(TypeCheckError, match="confidence"):
        wilson_ci([1], [2], confidence="high")  # pyright: ignore[reportArgumentType]  (on purpose)
    with pytest.raises(TypeCheckError, match="times"):
        kaplan_meier(np.ones((2, 2)), [True, False])  # a 2-D times array: wrong shape


def test_what_the_annotations_promise():
    # lists, ints and arrays are accepted; a number gives a NumPy scalar, an array an array
    assert isinstance(diameter_mm(1e9), np.float64) and isinstance(diameter_mm(10**9), float)
    assert diameter_mm([1e9, 8e9]).shape == (2,)
    lo, hi = wilson_ci([81, 15], np.array([[100], [200]]))
    assert lo.shape == hi.shape == (2, 2)
