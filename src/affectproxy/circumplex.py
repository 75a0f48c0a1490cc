"""Projections of category probabilities onto Russell's circumplex (arousal, valence).

A :class:`CircumplexTable` maps labels to (arousal, valence) coordinates in [-1, 1]; the projection of a
probability vector ``p`` is ``A = sum_k p_k * a_k`` and ``V = sum_k p_k * v_k`` over the labels the table knows.

Choices, stated once:

* Labels the table does not know (``unknown`` in emotion2vec's set; ``other`` for the word-norm table) are
  dropped. By default the remaining probabilities are **not** renormalised, which reproduces the seed paper's
  formula (probability mass on dropped labels pulls towards (0, 0)); pass ``renormalize=True`` to rescale the
  kept probabilities to sum to one first.
* In ``dietrich2026`` neutral is pinned to (0, 0), as in the paper; in ``warriner2013`` neutral keeps its
  word-norm coordinates (slightly low arousal, slightly positive valence).

Tables:

``dietrich2026``
    The weights of Dietrich (2026), arXiv:2605.22732, as reported in a secondary source (verify against the
    paper before relying on them).
``warriner2013``
    Derived from the affective word norms of Warriner, Kuperman & Brysbaert (2013), *Behavior Research
    Methods* 45, 1191-1207: the mean arousal and valence ratings (1..9) of the label words, normalised as
    (x - 5) / 4. Only these derived numbers ship; the norms themselves are CC BY-NC-ND.

Examples:
    >>> from affectproxy.circumplex import project
    >>> project({"angry": 1.0})
    (0.75, -0.75)
    >>> project({"happy": 0.5, "unknown": 0.5})
    (0.325, 0.45)
    >>> project({"happy": 0.5, "unknown": 0.5}, renormalize=True)
    (0.65, 0.9)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np


def _weights(value: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    out = {}
    for label, pair in value.items():
        a, v = (float(x) for x in pair)
        if not (-1 <= a <= 1 and -1 <= v <= 1):
            raise ValueError(f"Circumplex weight for {label!r} must lie in [-1, 1]^2, got ({a}, {v}).")
        out[str(label)] = (a, v)
    if not out:
        raise ValueError("A circumplex table needs at least one label.")
    return out


@attrs.frozen
class CircumplexTable:
    """A named label -> (arousal, valence) table.

    Args:
        name: a short identifier (goes into evaluator fingerprints).
        weights: label -> (arousal, valence), each in [-1, 1].
        citation: where the numbers come from.
    """

    name: str
    weights: dict[str, tuple[float, float]] = attrs.field(converter=_weights)
    citation: str = ""

    def project(self, probabilities: Mapping[str, float], *, renormalize: bool = False) -> tuple[float, float]:
        """Project one label -> probability mapping to (arousal, valence)."""
        labels = list(probabilities)
        a, v = self.project_array(np.array([[probabilities[k] for k in labels]]), labels, renormalize=renormalize)
        return float(a[0]), float(v[0])

    def project_array(
        self, probabilities: np.ndarray, labels: Sequence[str], *, renormalize: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised projection: ``probabilities`` is (n, len(labels)); returns arousal and valence arrays."""
        p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        if p.shape[1] != len(labels):
            raise ValueError(f"probabilities have {p.shape[1]} columns but {len(labels)} labels were given.")
        known = np.array([lab in self.weights for lab in labels])
        w = np.array([self.weights.get(lab, (0.0, 0.0)) for lab in labels])
        p = np.where(known, p, 0.0)
        if renormalize:
            total = p.sum(axis=1, keepdims=True)
            p = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
        out = p @ w
        return out[:, 0], out[:, 1]

    def fingerprint(self) -> dict[str, object]:
        """What identifies the table in an evaluator's fingerprint."""
        return {"name": self.name, "weights": {k: list(v) for k, v in sorted(self.weights.items())}}


DIETRICH2026 = CircumplexTable(
    "dietrich2026",
    {
        "angry": (0.75, -0.75),
        "disgusted": (0.60, -0.80),
        "fearful": (0.80, -0.65),
        "happy": (0.65, 0.90),
        "neutral": (0.0, 0.0),
        "other": (0.10, 0.0),
        "sad": (-0.30, -0.85),
        "surprised": (0.70, 0.20),
    },
    citation="Dietrich (2026), Beyond Acoustic Emotion Recognition, arXiv:2605.22732 (weights as reported).",
)

WARRINER2013 = CircumplexTable(
    "warriner2013",
    {
        "angry": (0.300, -0.618),
        "disgusted": (-0.028, -0.580),
        "fearful": (0.113, -0.585),
        "happy": (0.262, 0.868),
        "neutral": (-0.387, 0.125),
        "sad": (-0.377, -0.725),
        "surprised": (0.238, 0.393),
        "bored": (-0.338, -0.512),
    },
    citation="Warriner, Kuperman & Brysbaert (2013), Behavior Research Methods 45:1191-1207; (x-5)/4.",
)

TABLES: dict[str, CircumplexTable] = {t.name: t for t in (DIETRICH2026, WARRINER2013)}
DEFAULT_TABLE = "dietrich2026"


def get_table(table: str | CircumplexTable | Mapping[str, tuple[float, float]]) -> CircumplexTable:
    """Resolve a table name, a table, or a plain label -> (arousal, valence) mapping (named ``custom``)."""
    if isinstance(table, CircumplexTable):
        return table
    if isinstance(table, str):
        try:
            return TABLES[table]
        except KeyError:
            raise KeyError(f"Unknown circumplex table {table!r}. Known: {', '.join(sorted(TABLES))}.") from None
    return CircumplexTable("custom", table)


def project(
    probabilities: Mapping[str, float],
    table: str | CircumplexTable | Mapping[str, tuple[float, float]] = DEFAULT_TABLE,
    *,
    renormalize: bool = False,
) -> tuple[float, float]:
    """Project label probabilities to (arousal, valence) with a named or given table."""
    return get_table(table).project(probabilities, renormalize=renormalize)


__all__ = ["DEFAULT_TABLE", "TABLES", "CircumplexTable", "get_table", "project"]
