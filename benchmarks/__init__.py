"""Benchmarks of tumorimmune (not tests; timings depend on the machine and its load).

One folder per benchmark, ``benchmarks/<name>/run.py``, run from the repository root as a
module::

    python -m benchmarks.<name>.run --help
    python -m benchmarks.<name>.run [options] --save VARIANT   # results/DATE_MACHINE_VARIANT.json

Shared helpers live in ``benchmarks/_common``; GPU checks (shell scripts for a lent device) in
``benchmarks/gpu``. ``python -m benchmarks.summarize`` regenerates ``benchmarks/RESULTS.md``
from the result files. Benchmarks use tumorimmune's public API
(``tests/test_benchmarks_layout.py`` checks the layout and the imports).
"""
