"""``tumorimmune run`` and ``tumorimmune validate``: sweeps from a TOML specification."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._app import Command, app, cli_wording
from ._guards import failed_arms, user_model_error

if TYPE_CHECKING:
    from rich.console import Console


def default_spec_path() -> Path:
    """Path of the embedded default spec (a copy of examples/pd1_virtual_trial.toml)."""
    from importlib.resources import files

    return Path(str(files("tumorimmune.sweeps") / "default.toml"))


def _fail(err: Exception) -> typer.Exit:
    if isinstance(err, OSError) and err.strerror:
        where = f" {err.filename}" if err.filename else ""
        msg = f"cannot access{where}: {err.strerror}"
    else:
        msg = cli_wording(str(err))
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _warn_errors(lines: list[str]) -> None:
    for line in lines:
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)


#: The unit of the progress bar: one patient solved in one arm.
SOLVES = "patient×arm solves"


def _interrupted(path: Path, *, overwrite: bool) -> typer.Exit:
    """Ctrl-C during a run: one line saying what is saved and how to go on; exit 130."""
    from ..sweeps import finished_chunks

    state = finished_chunks(path)
    if overwrite:
        msg = f"interrupted: {path} is unchanged (a rerun with --overwrite starts over)"
    elif state is None:
        msg = f"interrupted before {path} was created; rerun the same command to start"
    else:
        msg = (
            f"interrupted: {state[0]} of {state[1]} chunks finished and saved in {path}; "
            "rerun the same command to resume"
        )
    typer.secho(msg, fg=typer.colors.YELLOW, err=True)
    return typer.Exit(130)


def _status(console: Console, text: str) -> contextlib.AbstractContextManager[object]:
    """A spinner with ``text`` on a terminal; elsewhere (a log, a pipe) the line once."""
    if console.is_terminal:
        return console.status(text)
    console.print(text)
    return contextlib.nullcontext()


def _warn(lines: list[str]) -> None:
    for line in lines:
        typer.secho(f"warning: {line}", fg=typer.colors.YELLOW, err=True)


@app.command(cls=Command)
def validate(
    spec: Path = typer.Argument(..., metavar="SPEC", help="Sweep specification (TOML)."),
) -> None:
    """Check a sweep specification without running it (sizes included: what `run` would
    refuse, `validate` refuses)."""
    from ..sweeps import load_spec  # reads the file before importing the models (JAX)

    try:
        s = load_spec(spec)
    except (ValueError, OSError) as err:
        raise _fail(err) from err
    from ..sweeps import SweepPlan, spec_warnings

    plan = SweepPlan.from_spec(s)
    grid = " × ".join(f"{k}[{n}]" for k, n in zip(s.axes, plan.grid_shape, strict=True)) or "none"
    _warn(spec_warnings(plan))
    typer.echo(
        f"ok: {s.name!r}: {s.model}, {_plural(plan.n_patients, 'patient')} (grid {grid}, cohort "
        f"{s.sampling.cohort_size}/cell), {_plural(len(s.arms), 'arm')}, "
        f"{s.follow_up_days:g} days, {s.precision}"
    )
    if plan.keep_notice:  # the default [store] keep of a large cohort drops a tier
        typer.echo(plan.keep_notice)
    if s.sensitivity is not None:
        sens = s.sensitivity
        typer.echo(
            f"    sensitivity: {sens.method} of {', '.join(sens.names(plan.columns))}, "
            f"n = {sens.n}: {plan.n_patients} model evaluations per arm"
        )


def _fmt_pct(x: float, lo: float, hi: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.1f} ({100 * lo:.1f}–{100 * hi:.1f})"


def _fmt_days(x: float) -> str:
    return "NR" if math.isnan(x) else f"{x:.0f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_table(ds) -> object:
    """A rich table of the per-arm summary (N, ORR, DCR, median PFS); fits 80 columns (arm
    names wrap inside their column, numbers never break)."""
    import numpy as np
    from rich import box
    from rich.table import Table

    failed = [int(x) for x in ds["n_failed"].values]
    cols = ["arm", "N", *(["failed"] if any(failed) else []), "ORR % (95% CI)", "DCR % (95% CI)"]
    table = Table(
        title=f"{ds.attrs.get('model', '')}: per-arm summary",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="ORR, DCR: % of patients (95% Wilson CI); mPFS: median progression-free "
        "survival, days (NR: not reached)",
    )
    has_os = "median_os_days" in ds.variables  # a sweep with [survival]
    if has_os:
        table.caption = f"{table.caption}; mOS: median overall survival, days"
    for col in [*cols, "mPFS", *(["mOS"] if has_os else [])]:
        if col == "arm":
            table.add_column(col, justify="left", ratio=1, min_width=8, overflow="fold")
        else:
            table.add_column(col, justify="right", no_wrap=True)
    for i, arm in enumerate(ds["arm"].values):

        def g(k: str, i: int = i) -> float:
            return float(ds[k].values[i])

        if failed[i] and not int(g("n")):  # no result at all: not "not reached"
            solved = "status" in ds.variables and bool(np.all(ds["status"].values[i] == 0))
            what = "none evaluable" if solved else f"all {failed[i]} failed"
            rest = [what, "—", "—", *(["—"] if has_os else [])]
        else:
            rest = [
                _fmt_pct(g("orr"), g("orr_lo"), g("orr_hi")),
                _fmt_pct(g("dcr"), g("dcr_lo"), g("dcr_hi")),
                _fmt_days(g("median_pfs_days")),
                *([_fmt_days(g("median_os_days"))] if has_os else []),
            ]
        table.add_row(str(arm), str(int(g("n"))), *([str(failed[i])] if any(failed) else []), *rest)
    return table


def _finished_without_report(store: Path, html: Path) -> bool:
    """A complete store whose report is missing, empty or older than the store."""
    try:
        import zarr

        if zarr.open_group(str(store), mode="r").attrs.get("tumorimmune_status") != "complete":
            return False
    except Exception:
        return False
    if not html.is_file() or html.stat().st_size == 0:
        return True
    text = html.read_bytes()[-4096:].lower()
    return b"</html>" not in text or html.stat().st_mtime < (store / "zarr.json").stat().st_mtime


@app.command(cls=Command)
def run(
    spec: Path | None = typer.Argument(
        None,
        metavar="SPEC",
        help="Sweep specification (TOML). Default: the embedded virtual trial "
        "(examples/pd1_virtual_trial.toml: 10,000 patients, untreated / pembrolizumab / "
        "nivolumab, three years with overall survival).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="DIR",
        help="Output directory (writes DIR/results.zarr, DIR/report.html).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished store."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write DIR/report.html."),
    coordinator: str | None = typer.Option(
        None,
        "--coordinator",
        metavar="HOST:PORT",
        envvar="JAX_COORDINATOR_ADDRESS",
        help="Multi-process run: address of process 0 (the same on every host). "
        "See docs/scaling.md.",
    ),
    num_processes: int | None = typer.Option(
        None, "--num-processes", envvar="JAX_NUM_PROCESSES", min=1, help="Multi-process run: N."
    ),
    process_id: int | None = typer.Option(
        None,
        "--process-id",
        envvar="JAX_PROCESS_ID",
        min=0,
        help="Multi-process run: this process, 0 .. N-1.",
    ),
    distributed: bool = typer.Option(
        False,
        "--distributed",
        help="Join a multi-process run configured by the cluster (SLURM, Open MPI: "
        "jax.distributed detects the rest).",
    ),
) -> None:
    """Run (or resume) a sweep: progress bar, results.zarr, per-arm summary table.

    With --coordinator/--num-processes/--process-id (or --distributed on a cluster) run once
    per host: each process integrates its share of the chunks into the one store (on a shared
    file system); process 0 writes the summaries and the report.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from ..sweeps import load_spec  # the rest after reading the spec (a TOML error is quick)

    console = Console()
    procs = None
    if distributed or coordinator is not None or (num_processes or 1) > 1:
        from ..sweeps import init_distributed

        try:
            procs = init_distributed(coordinator, num_processes, process_id)
        except ValueError as err:
            raise _fail(err) from err
        console.print(f"[dim]process {procs.index} of {procs.count}[/]")
    if spec is None:
        spec = default_spec_path()
        console.print(f"[dim]no SPEC given: running the embedded default {spec.name}[/]")
    try:
        s = load_spec(spec)
    except (ValueError, OSError) as err:
        raise _fail(err) from err
    from ..sweeps import SweepPlan, finished_chunks, run_sweep, spec_warnings

    plan = SweepPlan.from_spec(s)
    shown_warnings = spec_warnings(plan)
    _warn(shown_warnings)
    if out is None:
        path = Path(s.output)  # relative to the working directory
        out_dir = path.parent
    else:
        out_dir = out
        path = out / "results.zarr"
    console.print(
        f"[bold]{s.name}[/]: {_plural(plan.n_patients, 'patient')} × "
        f"{_plural(plan.n_arms, 'arm')}, {s.precision}, → {path}"
    )
    if plan.keep_notice:  # the default [store] keep of a large cohort drops a tier
        console.print(plan.keep_notice, markup=False, style="dim")
    start_done: list[int] = []
    # the bar starts with the first progress report: a refused run prints no empty bar
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TextColumn(SOLVES),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    task = bar.add_task("starting", total=plan.n_patients * plan.n_arms, rate="")
    phases = {
        "compiling": "compiling",  # the first batch's solves include the compilation
        "solving": "solving",
        "finalizing": "summaries",  # trajectories and summaries
    }

    def phase(name: str) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, description=phases.get(name, name))

    def progress(done: int, total: int, seconds: float) -> None:
        if not start_done:
            start_done.append(done)
            resumed = finished_chunks(path) if done and not overwrite else None
            if resumed is not None:
                k, n_chunks = resumed
                console.print(f"resuming {path}: {k} of {n_chunks} chunks already finished")
        if not bar.live.is_started:
            bar.start()
        new = done - start_done[0]
        rate = f"{new / seconds:,.0f}/s" if seconds > 0 and new else ""
        bar.update(task, completed=done, total=total, rate=rate)

    if procs is not None and procs.count > 1 and s.sensitivity is not None:
        raise _fail(ValueError("sensitivity specs run in one process (no --num-processes)"))
    runner = run_sweep
    if s.sensitivity is not None:  # design points instead of a cohort, then the indices
        from ..sensitivity import run_sensitivity as runner
    try:
        if runner is run_sweep:
            ds = run_sweep(s, output=path, overwrite=overwrite, progress=progress, phase=phase)
        else:
            ds = runner(s, output=path, overwrite=overwrite, progress=progress)
    except FileExistsError as err:
        bar.stop()
        html = out_dir / "report.html"
        shown: Exception = err
        if report and _finished_without_report(path, html):
            shown = FileExistsError(
                f"{path} holds a finished sweep but {html} is missing or incomplete (the "
                f"run stopped while writing it); write it with: tumorimmune report {path} "
                f"-o {html}  (or pass --overwrite to recompute everything)"
            )
        raise _fail(shown) from err
    except (ValueError, OSError) as err:  # PermissionError, a locked store, ...
        line = user_model_error(err, plan.model_class)
        raise _fail(ValueError(line) if line else err) from err
    except KeyboardInterrupt:
        bar.stop()
        raise _interrupted(path, overwrite=overwrite) from None
    except Exception as err:  # a user model that raises: one line, not JAX's traceback
        line = user_model_error(err, plan.model_class)
        if line is None:
            raise
        raise _fail(ValueError(line)) from err
    finally:
        bar.stop()
    assert ds is not None
    if procs is not None and procs.index > 0:  # process 0 prints the summary, writes the report
        console.print(f"process {procs.index}: chunks written; results: {path}")
        return
    console.print(summary_table(ds))
    failures, partial = failed_arms(ds)
    _warn([w for w in json.loads(ds.attrs.get("warnings", "[]")) if w not in shown_warnings])
    _warn(partial)
    console.print(
        f"{ds.attrs['patients_per_s']:,.0f} patients/s ({ds.attrs['backend']}, "
        f"{ds.attrs['device']}); results: {path}"
    )
    if s.sensitivity is not None:
        from ..sensitivity import summary_sentences

        for line in summary_sentences(ds):
            console.print(line)
    if report:
        try:
            from ..reports import write_report  # type: ignore[attr-defined]
        except ImportError:
            console.print("[dim]report: tumorimmune.reports.write_report not available; skipped[/]")
            return
        html = out_dir / "report.html"
        try:
            with _status(console, "writing report…"):
                write_report(ds, html, decides=s.report)  # this spec's [report]
        except Exception as err:  # the results are safe on disk; say what failed
            typer.secho(
                f"error: report failed ({type(err).__name__}: {err})", err=True, fg=typer.colors.RED
            )
            raise typer.Exit(1) from err
        console.print(f"report: {html}")
    if failures:  # results and report are written, but an arm has no result
        _warn_errors(failures)
        raise typer.Exit(1)
