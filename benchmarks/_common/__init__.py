"""Helpers shared by the benchmarks: ``harness`` (timing, memory, :func:`harness.save_result`),
``cohorts`` (the engine benchmarks' cohorts) and ``trials`` (the three-arm sweep trial)."""
