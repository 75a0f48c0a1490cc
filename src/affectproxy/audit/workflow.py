"""``ap.audit``: run evaluators over a labelled corpus and write the audit's tables, figures and report."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from affectproxy.audit.answers import answers_frame
from affectproxy.audit.judge import LLMJudge
from affectproxy.audit.mapping import EMOTION2VEC_TO_EMODB, NO_MATCH, Judge, SynonymMapper
from affectproxy.audit.metrics import (
    brier_scores,
    calibration,
    confusion,
    match_rates,
    paired_tests,
    recall_table,
)
from affectproxy.audit.report import write_outputs
from affectproxy.corpus import Corpus, load_corpus
from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import Evaluator
from affectproxy.results import Results
from affectproxy.store import Store

STORE_NAME = "audit.sqlite"

#: Options an audit adds to an evaluator given by name (or as a mapping without them): the Gemini evaluator
#: answers open-ended with its shipped audit prompt.
AUDIT_DEFAULTS: dict[str, dict[str, Any]] = {"gemini": {"prompt": "audit"}}

#: Evaluators (by registry name) that take a ``with_text`` option; the audit sets it from its own ``with_text``.
TEXT_OPTION: frozenset[str] = frozenset({"gemini"})

EMODB_FINETUNING_NOTE = (
    "EMO-DB is part of emotion2vec+'s fine-tuning data: emotion2vec was trained on these very files, so its "
    "scores here overstate how it does on speech it has not heard (EMO-DB is not a clean test set for it)."
)


@attrs.frozen
class AuditResult:
    """What :func:`audit` returns.

    Attributes:
        corpus: the corpus (with its skipped files).
        results: the evaluators' :class:`~affectproxy.results.Results` (kept in ``<out>/audit.sqlite``).
        answers: one row per file and evaluator (see :func:`~affectproxy.audit.answers.answers_frame`).
        match_rates: evaluator, by, group, n, matches, rate, ci_low, ci_high (Wilson intervals).
        side_by_side: accuracy, UAR and per-label recall, one column per evaluator.
        confusion: evaluator -> label x mapped-answer counts (with a "no match" column).
        brier: evaluator, n, mean_confidence, accuracy, brier.
        calibration: evaluator, bin_low, bin_high, n, mean_confidence, accuracy.
        paired: each pair of evaluators on the files both answered, with the exact McNemar test.
        notes: what the report warns about.
        report: the path of report.html.
    """

    corpus: Corpus
    results: Results
    answers: pd.DataFrame = attrs.field(eq=False)
    match_rates: pd.DataFrame = attrs.field(eq=False)
    side_by_side: pd.DataFrame = attrs.field(eq=False)
    confusion: dict[str, pd.DataFrame] = attrs.field(eq=False)
    brier: pd.DataFrame = attrs.field(eq=False)
    calibration: pd.DataFrame = attrs.field(eq=False)
    paired: pd.DataFrame = attrs.field(eq=False)
    notes: tuple[str, ...]
    report: Path


def parse_evaluator_option(text: str) -> str | dict[str, Any]:
    """Parse the CLI's ``--evaluator`` value: ``NAME`` or ``NAME:key=value,key=value`` (values read as JSON when
    they parse, e.g. numbers and true/false, else as strings).

    Raises:
        AffectProxyError: an option without ``=``.

    Examples:
        >>> parse_evaluator_option("gemini")
        'gemini'
        >>> parse_evaluator_option("emotion2vec:model=iic/emotion2vec_plus_base,batch_size=4,name=e2v")
        {'type': 'emotion2vec', 'model': 'iic/emotion2vec_plus_base', 'batch_size': 4, 'name': 'e2v'}
    """
    name, sep, rest = text.partition(":")
    if not sep:
        return name.strip()
    spec: dict[str, Any] = {"type": name.strip()}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise AffectProxyError(f"--evaluator {text!r}: option {item!r} needs key=value, e.g. {name}:model=...")
        try:
            spec[key.strip()] = json.loads(value)
        except ValueError:
            spec[key.strip()] = value
    return spec


def parse_llm_options(values: Sequence[str]) -> dict[str, Any]:
    """The CLI's ``--llm PROVIDER:key=value,...`` options as the ``llm`` mapping of :func:`affectproxy.evaluate`.

    Examples:
        >>> parse_llm_options(["gemini:rpm=60,max_in_flight=8"])
        {'gemini': {'rpm': 60, 'max_in_flight': 8}}
    """
    out: dict[str, Any] = {}
    for value in values:
        spec = parse_evaluator_option(value)
        if isinstance(spec, str):
            raise AffectProxyError(f"--llm {value!r}: give PROVIDER:key=value,..., e.g. gemini:rpm=60.")
        provider = spec.pop("type")
        out.setdefault(provider, {}).update(spec)
    return out


def read_synonyms(path: str | Path) -> dict[str, list[str]]:
    """Read a synonym table from a JSON file ``{label: [word, ...]}``.

    Raises:
        AffectProxyError: the file is not such a JSON object.
    """
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AffectProxyError(f"Cannot read the synonym table {str(path)!r}: {exc}.") from exc
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise AffectProxyError(f"Synonym table {str(path)!r} must be a JSON object {{label: [word, ...]}}.")
    return {str(k): [str(w) for w in v] for k, v in table.items()}


def _with_defaults(ev: str | Evaluator | Mapping[str, Any], with_text: bool
                   ) -> str | Evaluator | Mapping[str, Any]:
    """Add :data:`AUDIT_DEFAULTS` (and ``with_text``) to an evaluator given by name or mapping."""
    if isinstance(ev, str):
        ev = {"type": ev}
    if not isinstance(ev, Mapping):
        return ev
    kind = str(ev.get("type"))
    defaults = dict(AUDIT_DEFAULTS.get(kind, {}))
    if kind in TEXT_OPTION:
        defaults["with_text"] = with_text
    spec = {**defaults, **ev}
    return spec if len(spec) > 1 else kind


def _answer_counts(answers: pd.DataFrame) -> pd.DataFrame:
    cols = ["evaluator", "answer", "mapped", "mapped_by", "n"]
    if answers.empty:
        return pd.DataFrame(columns=cols)
    counts = (answers.groupby(["evaluator", "answer", "mapped", "mapped_by"], sort=False).size()
              .reset_index(name="n"))
    return counts.sort_values(["evaluator", "n", "answer"], ascending=[True, False, True], kind="stable")[cols]


def _notes(corpus: Corpus, answers: pd.DataFrame, results: Results, class_map: Mapping[str, str] | None
           ) -> list[str]:
    notes = []
    if corpus.name == "emodb":
        notes.append(EMODB_FINETUNING_NOTE)
    categorical = answers.loc[answers["kind"] == "categorical", "evaluator"].unique().tolist()
    if categorical:
        table = EMOTION2VEC_TO_EMODB if class_map is None else class_map
        reachable = {v for v in table.values() if v != NO_MATCH}
        missing = [label for label in corpus.labels if label not in reachable]
        mapping = ", ".join(f"{k}->{v}" for k, v in table.items())
        notes.append(f"Categorical evaluators ({', '.join(categorical)}): the most probable class is mapped onto the "
                     f"corpus's labels ({mapping})."
                     + (f" No class maps to {', '.join(missing)}: recall there is 0 by construction, and it "
                        "still counts in UAR." if missing else ""))
    silent = [r.name for r in results.evaluators if r.name not in set(answers["evaluator"])]
    if silent:
        notes.append(f"No categorical or open-ended answers from {', '.join(silent)} (dimensional outputs only, or "
                     "every file failed): not in the tables.")
    return notes


def audit(
    corpus: Corpus | str | Path,
    evaluators: Sequence[str | Evaluator | Mapping[str, Any]] | str | Evaluator,
    out_dir: str | Path,
    *,
    kind: str = "emodb",
    labels: Sequence[str] | None = None,
    with_text: bool = False,
    judge: Judge | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    class_map: Mapping[str, str] | None = None,
    answer_field: str = "emotion",
    llm: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> AuditResult:
    """Audit evaluators against a labelled emotion corpus.

    Each file is one segment; every evaluator runs over all of them (resumable: the store is
    ``<out_dir>/audit.sqlite``, so rerunning finishes what is missing and pays nothing twice). Open-ended
    answers (an LLM naming the emotion it hears, ``labels["emotion"]``) and categorical outputs (the most
    probable class) are mapped onto the corpus's labels (:mod:`affectproxy.audit.mapping`), then compared with
    the acted labels.

    Args:
        corpus: a :class:`~affectproxy.corpus.Corpus`, or a folder/CSV to load with ``kind``.
        evaluators: names, instances or ``{"type": name, **options}``; ``"gemini"`` gets ``prompt="audit"``.
        out_dir: the output folder (created): audit.sqlite, report.html, answers.csv, summary CSVs, figures.
        kind: ``"emodb"`` or ``"csv"`` when ``corpus`` is a path.
        labels: the label set of a CSV corpus (default: the labels present).
        with_text: give evaluators the transcripts (a CSV's ``text`` column); by default audio only.
        judge: maps answers the synonym table leaves unmatched: an
            :class:`~affectproxy.audit.judge.LLMJudge` (its requests are cached in the audit's store and use the
            ``llm`` options unless it has its own) or any callable ``(answers, labels) -> labels``; default none:
            they stay "no match".
        synonyms: label -> words that count as naming it (default:
            :data:`~affectproxy.audit.mapping.SYNONYMS`, keyed by EMO-DB's labels; a corpus with other label names
            needs its own table, else only the label names themselves match).
        class_map: categorical class -> label (default: emotion2vec's nine classes onto EMO-DB's seven).
        answer_field: the ``labels`` key holding an open-ended answer.
        llm: LLM layer options per provider (``{"gemini": {"rpm": 60}}``), as for :func:`affectproxy.evaluate`.
        batch_size: segments per evaluator call (default: each evaluator's own).
        progress: show progress bars.

    Returns:
        An :class:`AuditResult`; the same tables are written as CSVs beside report.html.

    Raises:
        CorpusError: the corpus cannot be read, or a label is outside its label set.
        UnknownEvaluatorError, MissingDependencyError: an evaluator cannot be resolved.
        StoreError: ``out_dir`` holds an audit of other files or other transcripts (use a new folder).
    """
    from affectproxy.engine import evaluate

    if not isinstance(corpus, Corpus):
        options: dict[str, Any] = {"labels": labels} if kind == "csv" and labels is not None else {}
        corpus = load_corpus(corpus, kind, **options)
    segments = [s if with_text or not s.text else attrs.evolve(s, text="") for s in corpus.segments]
    if isinstance(evaluators, (str, Mapping)) or not isinstance(evaluators, Sequence):
        evaluators = [evaluators]  # type: ignore[list-item]
    specs = [_with_defaults(ev, with_text) for ev in evaluators]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"llm": llm} if llm is not None else {}
    with Store(out / STORE_NAME) as store:
        results = evaluate(segments, specs, store=store, batch_size=batch_size, progress=progress, **extra)
        if isinstance(judge, LLMJudge) and judge.store is None:
            judge = attrs.evolve(judge, store=store, llm={**(llm or {}), **judge.llm})
        answers = answers_frame(results.estimates, segments, corpus.labels, answer_field=answer_field,
                                class_map=class_map, judge=judge, mapper=SynonymMapper(corpus.labels, synonyms))
    evaluators_seen = list(dict.fromkeys(answers["evaluator"]))
    tables: dict[str, Any] = {
        "match_rates": match_rates(answers, labels=corpus.labels),
        "side_by_side": recall_table(answers, corpus.labels),
        "confusion": {ev: confusion(answers, ev, corpus.labels) for ev in evaluators_seen},
        "brier": brier_scores(answers),
        "calibration": calibration(answers),
        "answer_counts": _answer_counts(answers),
        "paired": paired_tests(answers),
    }
    notes = _notes(corpus, answers, results, class_map)
    report = write_outputs(out, corpus=corpus, answers=answers, tables=tables, failures=results.failures_frame(),
                           notes=notes, title=f"Corpus audit: {corpus.name}")
    return AuditResult(corpus, results, answers, tables["match_rates"], tables["side_by_side"], tables["confusion"],
                       tables["brier"], tables["calibration"], tables["paired"], tuple(notes), report)


__all__ = ["AUDIT_DEFAULTS", "EMODB_FINETUNING_NOTE", "STORE_NAME", "AuditResult", "audit", "parse_evaluator_option",
           "parse_llm_options", "read_synonyms"]
