"""README's library example runs and says what it claims (first trough ≈ 12.7 µg/mL)."""

import re
from pathlib import Path

import numpy as np


def test_readme_library_example_runs(capsys):
    text = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    ds = namespace["ds"]
    assert ds["T"].dims == ("patient", "time") and ds.sizes["patient"] == 5
    np.testing.assert_allclose(ds["C"].sel(time=21).values, 12.7, atol=0.05)
    # more PD-L1, more blockade, smaller tumor at one year
    assert np.all(np.diff(ds["T"].sel(time=364).values) < 0)
