"""``tumorimmune populations``: the packaged virtual populations (the population library)."""

from __future__ import annotations

import json

import typer

from ._app import app


@app.command("populations")
def populations_cmd(
    as_json: bool = typer.Option(
        False, "--json", help="Print the registry as JSON (targets and fit of each entry)."
    ),
) -> None:
    """List the packaged virtual populations: name, indication, trial, patients, targets, fit.

    A spec uses one with ``[population] file = "NAME"``; each entry names an example spec
    (docs/science.md §7).
    """
    from ..sweeps import POPULATIONS

    if as_json:
        typer.echo(json.dumps([e.summary() for e in POPULATIONS.values()], indent=2))
        return
    for e in POPULATIONS.values():
        fit = e.fit()
        typer.echo(f"{e.name}")
        typer.echo(f"  indication: {e.indication}")
        typer.echo(f"  trial:      {e.trial}")
        typer.echo(f"  citation:   {e.citation}")
        typer.echo(f"  patients:   {e.n_patients()}")
        typer.echo(f"  example:    {e.example}")
        if e.derived_from is not None:
            d = e.metadata().get("info", {}).get("derived", {})
            typer.echo(
                f"  derived:    from {e.derived_from} ({', '.join(d.get('redrawn', []))} "
                f"redrawn, seed {d.get('seed')}); fit and targets below are "
                f"{e.derived_from}'s calibration"
            )
        if fit:
            p = fit.get("chi2_p")
            p_text = f", χ² p = {float(p):.2f}" if p is not None else ""
            typer.echo(f"  fit:        {fit.get('method', '')}{p_text}")
        if e.pdl1 is not None:
            pos = e.pdl1.share_at_least(e.pdl1.cutoffs[0])
            typer.echo(
                f"  PD-L1:      {100 * pos:.1f} % TPS >= {e.pdl1.cutoffs[0]:g} % ({e.pdl1.source})"
            )
        typer.echo("  targets:")
        for t in e.targets():
            unit = " d" if t.get("unit") == "days" else ""
            ok = "within" if t.get("within") else "outside"
            typer.echo(
                f"    {t['name']:<45} target {float(t['target']):.3g}{unit}  "
                f"population {float(t['simulated']):.3g}{unit} ({ok} the target's interval)"
            )
