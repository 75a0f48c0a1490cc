"""The command line: ``affectproxy evaluators | run | export | compare | report | demo``.

Library errors (:class:`AffectProxyError`) become a one-line message and exit code 1.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from affectproxy.errors import AffectProxyError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return func(*args, **kwargs)
            except AffectProxyError as exc:
                click.echo(f"Error: {exc}", err=True)
                sys.exit(1)
            except KeyboardInterrupt:
                click.echo("\nInterrupted. Every finished estimate is in the store; run the same command again to "
                           "resume.", err=True)
                sys.exit(130)
            finally:
                for w in caught:
                    if issubclass(w.category, (UserWarning, RuntimeWarning)) and "affectproxy" in w.filename:
                        click.echo(f"note: {w.message}", err=True)

    return wrapper  # type: ignore[return-value]


def _print_table(frame: Any) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        click.echo(frame.to_string(index=False))


@click.group()
@click.version_option(package_name="affectproxy")
def main() -> None:
    """Do acoustic emotion models agree with meaning-aware judgements of speech? Run evaluators over speech
    segments and compare them."""


@main.command()
@_friendly
def evaluators() -> None:
    """List installed evaluators, whether each can run here, and what it needs."""
    from affectproxy.registry import list_evaluators

    rows = list_evaluators()
    width = max([len(r.name) for r in rows] + [4])
    for r in rows:
        if not r.name:
            click.echo(f"{'BROKEN':<{width}}  {r.plugin}: {r.reason}")
            continue
        status = "ready" if r.can_run else ("missing: " + r.reason if not r.installed else "cannot run: " + r.reason)
        pad = " " * (width + 2)
        click.echo(f"{r.name:<{width}}  {r.summary}")
        click.echo(click.wrap_text(f"-> {status}", width=110, initial_indent=pad, subsequent_indent=pad + "   "))


@main.command()
@click.argument("study_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), help="Override the study's store.")
@click.option("--batch-size", type=int, default=None, help="Segments per evaluator call.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@_friendly
def run(study_file: Path, store: Path | None, batch_size: int | None, progress: bool) -> None:
    """Run a study file; resumable: a rerun skips what is done and retries failures."""
    from affectproxy.engine import evaluate
    from affectproxy.study import load_study

    study = load_study(study_file)
    segments = study.load_segments()
    res = evaluate(segments, list(study.evaluators), store=store or study.store, batch_size=batch_size,
                   progress=progress)
    click.echo(f"{len(res.segments)} segments, {len(res.evaluators)} evaluators, {len(res.estimates)} estimates "
               f"stored in {store or study.store}.")
    for f in res.failures:
        click.echo(f"failed: {f.message}", err=True)
    if res.failures:
        click.echo(f"{len(res.failures)} failures recorded; fix them and run again to retry only those.", err=True)
    if study.compare:
        from affectproxy import compare

        options = dict(study.compare)
        if isinstance(options.get("target"), str):
            options["target"] = _target(options["target"])
        click.echo("")
        _print_table(compare.correlate(res, **options))


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A .csv or .parquet file.")
@click.option("--wide", is_flag=True, help="One row per segment, one column per evaluator.dimension.")
@_friendly
def export(store: Path, output: Path, wide: bool) -> None:
    """Export stored results as a tidy (or wide) table."""
    from affectproxy.results import open_results

    res = open_results(store)
    frame = res.wide().reset_index() if wide else res.to_pandas()
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    click.echo(f"Wrote {len(frame)} rows to {output}.")


def _target(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    ev, sep, dim = value.partition("/")
    if not sep:
        raise click.BadParameter("use EVALUATOR/DIMENSION, e.g. trust/pathos", param_hint="--target")
    return ev, dim


@main.command(name="compare")
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(["spearman", "kendall", "pearson"]), default="spearman")
@click.option("--target", default=None, help="Compare everything against EVALUATOR/DIMENSION.")
@click.option("--inference", type=click.Choice(["neff", "surrogate", "naive"]), default="neff",
              help="How p is computed (neff: effective sample size, robust to serial dependence).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write a CSV.")
@_friendly
def compare_cmd(store: Path, method: Any, target: str | None, inference: str, output: Path | None) -> None:
    """Print the correlation table of stored results."""
    from affectproxy import compare
    from affectproxy.results import open_results

    table = compare.correlate(open_results(store), method=method, target=_target(target), inference=inference)
    _print_table(table)
    if output is not None:
        table.to_csv(output, index=False)
        click.echo(f"Wrote {output}.")


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--method", type=click.Choice(["spearman", "kendall", "pearson"]), default="spearman")
@click.option("--target", default=None, help="Compare everything against EVALUATOR/DIMENSION.")
@_friendly
def report(store: Path, out_dir: Path, method: Any, target: str | None) -> None:
    """Write an HTML report with figures (one PNG per figure beside the HTML)."""
    from affectproxy import compare
    from affectproxy.report import write_report
    from affectproxy.results import open_results

    res = open_results(store)
    table = compare.correlate(res, method=method, target=_target(target))
    path = write_report(res, out_dir, table=table, title=f"affectproxy report: {store.name}")
    click.echo(f"Report: {path}")


@main.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("affectproxy-demo"), show_default=True)
@click.option("--progress/--no-progress", default=True)
@_friendly
def demo(out_dir: Path, progress: bool) -> None:
    """Run the whole flow on the bundled example speech, offline, and write a report."""
    from affectproxy.demo import run_demo

    outcome = run_demo(out_dir, progress=progress, echo=click.echo)
    cols = ["x_evaluator", "x_dimension", "y_evaluator", "y_dimension", "n", "n_eff", "r", "ci_low", "ci_high",
            "p", "p_adj"]
    table = outcome.table
    click.echo("")
    _print_table(table[[c for c in cols if c in table.columns]])
    click.echo(f"\nReport: {outcome.report}")


__all__ = ["main"]


if __name__ == "__main__":
    main()
