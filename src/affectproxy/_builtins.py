"""Evaluators that ship with the core, registered through the same hook as any plugin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from affectproxy.evaluator import Evaluator, EvaluatorSpec
from affectproxy.hookspecs import hookimpl


def _table(**options: Any) -> Evaluator:
    from affectproxy.table import TableEvaluator

    return TableEvaluator(**options)


@hookimpl
def affectproxy_evaluators() -> Iterator[EvaluatorSpec]:
    yield EvaluatorSpec(
        name="table",
        factory=_table,
        summary="scores computed elsewhere (TRUST exports, human ratings), from a CSV/Parquet file",
    )
