"""The command line: ``affectproxy evaluators | run | failures | export | compare | report | demo``.

Exit codes (see docs/cli.md): 0 success; 1 an error stopped the command (a one-line message says why and how to
fix it); 2 wrong usage (an unknown option); 3 the run finished but some segments failed (listed with
``affectproxy failures STORE``; run again after fixing to retry only those); 4 the run stopped at its budget
(``max_cost``; what finished is kept, raise it and run again to continue); 130 interrupted (Ctrl-C; every
finished estimate is kept, run again to resume).
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

EXIT_ERROR = 1
EXIT_FAILURES = 3
EXIT_BUDGET = 4
EXIT_INTERRUPTED = 130


def _friendly(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return func(*args, **kwargs)
            except AffectProxyError as exc:
                click.echo(f"Error: {exc}", err=True)
                sys.exit(EXIT_ERROR)
            except KeyboardInterrupt:
                click.echo("\nInterrupted. Every finished estimate is in the store; run the same command again to "
                           "resume.", err=True)
                sys.exit(EXIT_INTERRUPTED)
            finally:
                from affectproxy.engine import RunFailuresWarning

                for w in caught:
                    if issubclass(w.category, RunFailuresWarning):
                        continue  # the run's summary lines say the same
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
@click.option("--skip-unavailable", is_flag=True,
              help="Skip evaluators that cannot run here (weights missing, key unset) with a note, instead of "
                   "stopping before the run.")
@click.option("--replace-changed", is_flag=True,
              help="Segments whose times or text changed in the table are evaluated again (their old estimates "
                   "are deleted).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where to run: this process, or a Ray cluster (pip install \"affectproxy[ray]\"; docs/scaling.md).")
@click.option("--dry-run", is_flag=True,
              help="Print what the LLM calls of what is not yet done would cost (calls, input tokens by modality, "
                   "expected output tokens, USD) and make no paid call (docs/cost.md).")
@click.option("--address", default=None,
              help="The Ray cluster's address for --engine ray (e.g. auto, ray://head:10001); default: start a "
                   "local one.")
@click.option("--batch", is_flag=True,
              help="Run LLM evaluators as provider batch jobs at half price (answers within up to 24 h); a rerun "
                   "picks up a job already submitted; options in the study file's [batch] table (docs/cost.md).")
@_friendly
def run(study_file: Path, store: Path | None, batch_size: int | None, progress: bool, replace_changed: bool,
        skip_unavailable: bool, engine: str = "local", address: str | None = None, dry_run: bool = False,
        batch: bool = False) -> None:
    """Run a study file; resumable: a rerun skips what is done and retries failures.

    Ends with one line per evaluator (new, already done, failed) and exits with 3 when failures remain, 4 when
    the study's budget (max_cost) stopped it.
    """
    from affectproxy.engine import evaluate
    from affectproxy.study import load_study

    study = load_study(study_file)
    if dry_run:
        from affectproxy.llm.estimate import dry_run as _dry_run

        click.echo(_dry_run(study, store=store, batch_size=batch_size))
        return
    segments, evs = study.prepare(skip_unavailable=skip_unavailable)  # every evaluator built and checked first
    target = store or study.store
    chosen: list[Any] = list(evs)
    if engine == "ray":  # workers rebuild evaluators from their entries (registry name + options, ray resources)
        kept = {ev.name for ev in evs}
        chosen = [dict(e) for e in study.evaluators if str(e.get("name", e["type"])) in kept]
    res = evaluate(segments, chosen, store=target, batch_size=batch_size, progress=progress,
                   replace_changed=replace_changed, audio_hint=f" (the study file's [study] audio key, {study_file})",
                   engine=engine, address=address, llm=study.llm or None, max_cost=study.max_cost,
                   batch=(study.batch or True) if batch else False,
                   route=study.routing)
    from affectproxy.store import Store

    with Store(target) as db:
        db.set_meta("study_name", study.name)
    click.echo(f"{len(res.segments)} segments in {target}:")
    for line in res.summary:
        click.echo(f"  {line.line()}")
    failed = sum(s.failed for s in res.summary)
    if failed:
        click.echo(f"{failed} failed segment(s) remain: list them with `affectproxy failures {target}`; fix the "
                   "cause and run again to retry only those.", err=True)
    if study.compare:
        from affectproxy import compare

        options = dict(study.compare)
        if isinstance(options.get("target"), str):
            options["target"] = _target(options["target"])
        click.echo("")
        _print_table(compare.correlate(res, **options))
    from affectproxy.llm.budget import is_budget_stop

    if any(is_budget_stop(s.stopped) for s in res.summary):
        click.echo(f"The run stopped at its budget (max_cost {study.max_cost} USD in {study_file}); every finished "
                   "answer is kept. Raise max_cost and run again to continue.", err=True)
        sys.exit(EXIT_BUDGET)
    if failed:
        sys.exit(EXIT_FAILURES)


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--evaluator", "evaluator", default=None, help="Only this evaluator's failures.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write them as CSV.")
@_friendly
def failures(store: Path, evaluator: str | None, output: Path | None) -> None:
    """List the segments that failed (evaluator, segment, error, attempts, message)."""
    from affectproxy.results import open_results

    frame = open_results(store).failures_frame()
    if evaluator is not None:
        frame = frame[frame["evaluator"] == evaluator]
    if frame.empty:
        click.echo(f"No failures recorded in {store}" + (f" for {evaluator!r}." if evaluator else "."))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 120):
            click.echo(frame.to_string(index=False))
    if output is not None:
        frame.to_csv(output, index=False)
        click.echo(f"Wrote {output}.")


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


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the table as CSV.")
@_friendly
def usage(store: Path, output: Path | None) -> None:
    """What the LLM calls of a study cost: calls, tokens by modality, cost per evaluator and provider/model,
    cache hits."""
    from affectproxy.llm.usage import summarize, totals
    from affectproxy.store import Store

    with Store(store) as db:
        calls = db.calls()
        segments = db.segments()
    if not calls:
        click.echo(f"No LLM calls recorded in {store}.")
        return
    frame = summarize(calls)
    _print_table(frame.drop(columns=["model_versions"]))
    t = totals(calls)
    tokens = ", ".join(f"{m} {n:,}" for m, n in sorted(t["input_tokens"].items())) or "none"
    cost = (f"${t['cost']:.4f}" if t["cost"] is not None else
            f"unknown for {t['cost_unknown']} calls without a price (priced part ${t['known_cost']:.4f})")
    click.echo(f"\n{t['calls']} paid calls, {t['errors']} failed attempts (not billed), {t['cache_hits']} cache hits; "
               f"input tokens: {tokens}; output {t['output_tokens']:,} (+{t['thinking_tokens']:,} thinking); "
               f"cost {cost}.")
    from affectproxy.llm.spend import spend_lines

    for line in spend_lines(calls, segments):  # cache savings and cost per hour of speech
        click.echo(line)
    versions = frame[frame["model_versions"].str.contains(",")]
    for _, row in versions.iterrows():
        click.echo(f"note: {row['provider']}/{row['model']} answered as several model versions: "
                   f"{row['model_versions']}.", err=True)
    if output is not None:
        frame.to_csv(output, index=False)
        click.echo(f"Wrote {output}.")


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
@click.option("--within", is_flag=True,
              help="Also pair dimensions inside one evaluator (e.g. prosody/arousal against prosody/f0_range).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write a CSV.")
@_friendly
def compare_cmd(store: Path, method: Any, target: str | None, inference: str, within: bool,
                output: Path | None) -> None:
    """Print the correlation table of stored results.

    p_adj is corrected over every row of the table (all pairs of series from different evaluators, or with
    --target the pairs with the target); the line after the table names the family and its size.
    `affectproxy report` with the same options gives the same table.
    """
    from affectproxy.compare._align import CorrelationInputError
    from affectproxy.compare.correlate import correlate, family_note, no_pairs_reason
    from affectproxy.results import open_results

    res = open_results(store)
    table = correlate(res, method=method, target=_target(target), inference=inference, within_evaluator=within)
    if table.empty:
        raise CorrelationInputError(no_pairs_reason(res, within_evaluator=within))
    _print_table(table)
    click.echo(family_note(table, target=target, within_evaluator=within))
    if output is not None:
        table.to_csv(output, index=False)
        click.echo(f"Wrote {output}.")


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--method", type=click.Choice(["spearman", "kendall", "pearson"]), default="spearman")
@click.option("--target", default=None, help="Compare everything against EVALUATOR/DIMENSION.")
@click.option("--inference", type=click.Choice(["neff", "surrogate", "naive"]), default="neff",
              help="How p is computed (neff: effective sample size, robust to serial dependence).")
@click.option("--within", is_flag=True,
              help="Also pair dimensions inside one evaluator (e.g. prosody/arousal against prosody/f0_range).")
@click.option("--title", default=None, help="The report's title (default: the study's name).")
@_friendly
def report(store: Path, out_dir: Path, method: Any, target: str | None, inference: str, within: bool,
           title: str | None) -> None:
    """Write an HTML report with figures (one PNG per figure beside the HTML) and the table as correlations.csv.

    Takes the options of `affectproxy compare` and computes the same table (the same p_adj); the report names
    the family that p_adj is corrected over.
    """
    from affectproxy.compare.correlate import correlate, family_note, no_pairs_reason
    from affectproxy.report import write_report
    from affectproxy.results import open_results

    res = open_results(store)
    table = correlate(res, method=method, target=_target(target), inference=inference, within_evaluator=within)
    notes = [no_pairs_reason(res, within_evaluator=within)] if table.empty else []
    notes.append(family_note(table, target=target, within_evaluator=within))
    if title is None:
        from affectproxy.store import Store

        with Store(store) as db:
            title = f"affectproxy report: {db.meta('study_name') or store.stem}"
    path = write_report(res, out_dir, table=table, title=title, notes=notes, target=_target(target), store=store)
    table.to_csv(path.parent / "correlations.csv", index=False)
    for line in notes:
        click.echo(line)
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


@main.command(name="audit")
@click.argument("corpus_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--corpus", "kind", type=click.Choice(["emodb", "csv"]), default="emodb", show_default=True,
              help="emodb: EMO-DB's folder (file-name code); csv: a list with columns file, label, speaker.")
@click.option("-e", "--evaluator", "evaluators", multiple=True, required=True,
              help="Repeatable: NAME or NAME:key=value,key=value (e.g. gemini, emotion2vec:device=cuda).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: audit.sqlite (resumable), report.html, answers.csv, summary CSVs.")
@click.option("--with-text", is_flag=True, help="Give evaluators the transcripts too (default: audio only).")
@click.option("--labels", default=None, help="csv corpora: the label set, comma-separated (default: those present).")
@click.option("--synonyms", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A JSON file {label: [words]} mapping answers to labels (default: the EMO-DB table).")
@click.option("--judge", default=None, help="PROVIDER:MODEL of an LLM that maps answers the synonym table leaves "
              "unmatched (e.g. gemini:gemini-2.5-flash); default: none, they stay 'no match'.")
@click.option("--llm", "llm_options", multiple=True,
              help="Repeatable: PROVIDER:key=value,... LLM layer settings (e.g. gemini:rpm=60,max_in_flight=8).")
@click.option("--progress/--no-progress", default=True)
@_friendly
def audit_cmd(corpus_dir: Path, kind: str, evaluators: tuple[str, ...], out_dir: Path, with_text: bool,
              labels: str | None, synonyms: Path | None, judge: str | None, llm_options: tuple[str, ...],
              progress: bool) -> None:
    """Audit evaluators against a labelled emotion corpus (EMO-DB or a CSV list): match rates, confusion,
    calibration and recall side by side, in an HTML report. Rerun the same command to resume."""
    from affectproxy.audit.judge import parse_judge_option
    from affectproxy.audit.workflow import audit, parse_evaluator_option, parse_llm_options, read_synonyms

    label_set = [x.strip() for x in labels.split(",") if x.strip()] if labels else None
    result = audit(corpus_dir, [parse_evaluator_option(e) for e in evaluators], out_dir, kind=kind,
                   labels=label_set, with_text=with_text, progress=progress,
                   synonyms=read_synonyms(synonyms) if synonyms else None,
                   judge=parse_judge_option(judge) if judge else None,
                   llm=parse_llm_options(llm_options) if llm_options else None)
    corpus = result.corpus
    click.echo(f"{len(corpus.segments)} files ({len(corpus.skipped)} skipped, listed in {out_dir / 'skipped.csv'}); "
               f"{len(result.results.failures)} failed evaluations.")
    _print_table(result.side_by_side.reset_index())
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"Report: {result.report}")


__all__ = ["main"]


if __name__ == "__main__":
    main()
