"""``affectproxy demo``: the whole flow on the bundled example, offline, on CPU.

Runs every evaluator that can run here on the example speech (the prosody baseline and the intended-arousal
reference through the ``table`` evaluator; acoustic models when their weights are installed), lists the others
with the reason and the fix (LLM raters are always skipped: they are paid and online), compares everything, and
writes an HTML report with figures.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from affectproxy.planning import is_llm
from affectproxy.registry import get_evaluator, list_evaluators
from affectproxy.results import Results

EXAMPLE = "affectproxy/data/example"
#: Everything is compared against the arousal each segment was synthesised with.
TARGET = ("intended", "arousal")
#: The example's reference: the arousal level each segment was synthesised with.
REFERENCE = {"type": "table", "name": "intended", "columns": ["arousal"]}


def example_dir() -> Path:
    """Folder of the bundled example (audio, segments, reference), inside the installed package."""
    return Path(str(resources.files("affectproxy").joinpath("data", "example")))


@attrs.frozen
class DemoOutcome:
    """What the demo did: results, the correlation table, the report path, and what it skipped and why."""

    results: Results
    table: Any
    report: Path
    skipped: tuple[tuple[str, str], ...]


def run_demo(out_dir: str | Path = "affectproxy-demo", *, progress: bool = True,
             echo: Callable[[str], None] | None = None) -> DemoOutcome:
    """Run the demo into ``out_dir`` (created); returns what it did. Rerunning reuses the store."""
    from affectproxy import compare
    from affectproxy.engine import evaluate
    from affectproxy.report import write_report
    from affectproxy.segment_files import load_segments

    say = echo or (lambda _msg: None)
    data = example_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    segments = load_segments(data / "segments.csv", audio=data / "speech.flac")
    say(f"Example: {len(segments)} segments, {segments[-1].end:.0f} s of synthetic German speech ({data}).")
    chosen: list[Any] = [dict(REFERENCE, path=str(data / "reference.csv"))]
    skipped: list[tuple[str, str]] = []
    for info in list_evaluators():
        if not info.name or info.name == "table":
            continue
        if not info.can_run:
            skipped.append((info.name or info.plugin, info.reason))
        elif is_llm(get_evaluator(info.name)):  # building only stores options: no key, weights or network needed
            skipped.append((info.name, "calls a paid online LLM API; the demo stays offline (run it from a study "
                                       "file: docs/llm-evaluators.md)"))
        else:
            chosen.append(info.name)
    for name, why in skipped:
        say(f"skipped {name}: {why}")
    results = evaluate(segments, chosen, store=out / "demo.sqlite", progress=progress)
    for f in results.failures:
        say(f"failed: {f.message}")
    table = compare.correlate(results, method="spearman", target=TARGET)
    notes = [f"Skipped {name}: {why}" for name, why in skipped]
    report = write_report(results, out, table=table, title="affectproxy demo: the bundled example", notes=notes)
    return DemoOutcome(results, table, report, tuple(skipped))


__all__ = ["DemoOutcome", "example_dir", "run_demo"]
