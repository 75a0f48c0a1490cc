"""Corpus audits: how often does each evaluator name the acted emotion of a labelled corpus (EMO-DB, any CSV)?

``ap.audit(corpus, evaluators, out_dir)`` runs the evaluators over every file, maps open-ended answers and
categorical classes onto the corpus's labels (:mod:`affectproxy.audit.mapping`), and writes match rates with
Wilson intervals, confusion matrices, calibration and a side-by-side recall table (:mod:`affectproxy.audit.metrics`)
with an HTML report (:mod:`affectproxy.audit.report`). See ``docs/audit.md``.

This package is callable: ``affectproxy.audit(...)`` is :func:`audit` even when ``affectproxy.audit`` was imported
as a module first.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from affectproxy.audit.answers import ANSWER_COLUMNS, answers_frame
from affectproxy.audit.mapping import EMOTION2VEC_TO_EMODB, NO_MATCH, SYNONYMS, Judge, MappedAnswer, SynonymMapper
from affectproxy.audit.metrics import (
    brier_scores,
    calibration,
    confusion,
    match_rates,
    paired_tests,
    recall_table,
    wilson_interval,
)
from affectproxy.audit.workflow import AUDIT_DEFAULTS, AuditResult, audit


class _CallableModule(types.ModuleType):
    """``import affectproxy.audit`` makes ``affectproxy.audit`` this package; calling it runs :func:`audit`."""

    def __call__(self, *args: Any, **kwargs: Any) -> AuditResult:
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ANSWER_COLUMNS",
    "AUDIT_DEFAULTS",
    "EMOTION2VEC_TO_EMODB",
    "NO_MATCH",
    "SYNONYMS",
    "AuditResult",
    "Judge",
    "MappedAnswer",
    "SynonymMapper",
    "answers_frame",
    "audit",
    "brier_scores",
    "calibration",
    "confusion",
    "match_rates",
    "paired_tests",
    "recall_table",
    "wilson_interval",
]
