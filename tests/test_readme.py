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


def test_readme_gradients_example_runs():
    """The "Gradients" snippet runs; its derivatives match central differences."""
    import jax

    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text.split("## Gradients", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    namespace: dict = {}
    x64 = bool(jax.config.read("jax_enable_x64"))
    try:  # the snippet switches x64 on globally: restore it for the other tests
        exec(compile(code, "README.md", "exec"), namespace)
        f = namespace["tumor_at_90"]
        fd_dose = (f(200.5, 21.0) - f(199.5, 21.0)) / 1.0
        fd_interval = (f(200.0, 21.01) - f(200.0, 20.99)) / 0.02
        np.testing.assert_allclose(float(namespace["d_dose"]), float(fd_dose), rtol=1e-4)
        np.testing.assert_allclose(float(namespace["d_interval"]), float(fd_interval), rtol=1e-4)
        # what the text says a reader can check: untreated it grows, 1 mg changes little,
        # 50 mg and more shrink it > 100-fold, more drug (or a shorter interval) helps
        untreated, low, mid, label = (float(f(d, 21.0)) for d in (0.0, 1.0, 50.0, 200.0))
        T0 = float(namespace["T0"])
        assert untreated > 2 * T0 and low > 0.9 * untreated
        assert mid < T0 / 100 and label < mid
        assert float(namespace["d_dose"]) < 0 < float(namespace["d_interval"])
    finally:
        jax.config.update("jax_enable_x64", x64)
