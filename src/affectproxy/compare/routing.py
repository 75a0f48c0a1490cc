"""How much LLM can the acoustic model replace? The routing curve on a pilot where both ran on every segment.

For each threshold of a routing rule on the first evaluator's estimate (see :mod:`affectproxy.routing`), the
segments the rule selects take ``then``'s reading and the others keep ``first``'s: the *composite* reading. Both are
first put on a shared 0..1 scale through their declared dimension ranges (``first``'s arousal 0..1 and ``then``'s
arousal 0..1, or TRUST's pathos -2..2 against Gemini's valence -1..1), so no scales are silently mixed. The curve
gives, per threshold, the fraction routed (what the LLM would cost, relative to sending everything) against the
agreement of the composite with a reference (human ratings, or the LLM itself): the rank correlation (Spearman,
or Pearson) and the mean absolute difference on the shared scale.

Example::

    curve = routing_curve(pilot, first="emotion2vec/arousal", then="gemini/arousal", reference="human/arousal",
                          when="top_probability")
    routing_plot(curve).savefig("routing.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from affectproxy.routing import MEASURES, RoutingError, Rule

#: The routing direction per measure: low top probability / confidence and high entropy mean "unsure".
DIRECTION = {"top_probability": "<", "confidence": "<", "entropy": ">"}
COLUMNS = ("threshold", "rule", "routed", "n_routed", "n", "agreement", "mad")


def _split(name: str, role: str) -> tuple[str, str]:
    ev, sep, dim = str(name).partition("/")
    if not sep or not ev or not dim:
        raise RoutingError(f"routing_curve {role}={name!r}: name one series as \"EVALUATOR/DIMENSION\", e.g. "
                           "\"gemini/arousal\".")
    return ev, dim


def _series(tidy: pd.DataFrame, name: str, role: str) -> pd.Series:
    ev, dim = _split(name, role)
    part = tidy[(tidy["evaluator"] == ev) & (tidy["dimension"] == dim)]
    if part.empty:
        have = sorted({f"{e}/{d}" for e, d in zip(tidy["evaluator"], tidy["dimension"], strict=True)})
        raise RoutingError(f"routing_curve {role}={name!r}: no such series in the results; have "
                           f"{', '.join(have[:12])}.")
    return part.groupby("segment_id")["value"].mean()


def _scaled(values: pd.Series, name: str, ranges: Mapping[str, tuple[float, float]], role: str) -> pd.Series:
    if name not in ranges:
        raise RoutingError(f"routing_curve {role}={name!r} has no finite declared range, so it cannot be put on the "
                           f"shared scale; pass ranges={{{name!r}: (low, high)}}.")
    low, high = ranges[name]
    return (values - low) / (high - low)


def _agreement(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    if method == "spearman":
        x = pd.Series(x).rank().to_numpy()
        y = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(x, y)[0, 1])


def routing_curve(
    results: Any,
    *,
    first: str,
    then: str,
    reference: str,
    when: str = "top_probability",
    thresholds: Sequence[float] | None = None,
    method: str = "spearman",
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """The routing curve (see the module docstring).

    Args:
        results: :class:`~affectproxy.Results` of a pilot where ``first`` and ``then`` both ran on every segment.
        first: the cheap series, ``"EVALUATOR/DIMENSION"``; the rule reads this evaluator's estimates.
        then: the costly series, ``"EVALUATOR/DIMENSION"``.
        reference: the series to agree with (human ratings, or ``then`` itself).
        when: the measure the rule reads: ``top_probability`` and ``confidence`` route segments *below* the
            threshold, ``entropy`` routes those *above* it.
        thresholds: the thresholds to try; default every distinct measured value (each step routes one more
            segment) plus one routing none and one routing all.
        method: ``"spearman"`` (default) or ``"pearson"`` for the agreement column.
        ranges: ``"evaluator/dimension" -> (low, high)`` overriding the declared ranges.

    Returns:
        One row per threshold, sorted by the fraction routed: ``threshold``, ``rule`` (its text), ``routed``
        (fraction of segments sent to ``then``), ``n_routed``, ``n``, ``agreement`` (the composite against the
        reference) and ``mad`` (mean absolute difference on the shared 0..1 scale). Segments lacking any of the
        three series are left out; a segment whose first estimate lacks the measure is always routed.
    """
    from affectproxy.compare.agreement import declared_ranges

    if when not in MEASURES:
        raise RoutingError(f"routing_curve when={when!r}: use one of {', '.join(MEASURES)}.")
    if method not in ("spearman", "pearson"):
        raise RoutingError(f"routing_curve method={method!r}: use 'spearman' or 'pearson'.")
    tidy = results.to_pandas()
    known = {**declared_ranges(results), **dict(ranges or {})}
    a = _scaled(_series(tidy, first, "first"), first, known, "first")
    b = _scaled(_series(tidy, then, "then"), then, known, "then")
    ref = _series(tidy, reference, "reference")
    ref_scaled = _scaled(ref, reference, known, "reference") if reference in known else None
    ids = [i for i in a.index if i in b.index and i in ref.index]
    if len(ids) < 3:
        raise RoutingError(f"routing_curve: only {len(ids)} segment(s) have {first}, {then} and {reference}; a "
                           "pilot needs both evaluators (and the reference) on the same segments.")
    first_ev = _split(first, "first")[0]
    ests = {e.segment_id: e for e in results.estimates if e.evaluator == first_ev}
    op = DIRECTION[when]
    probe = Rule(when, op, 0.0)
    measured = {i: (probe.measure(ests[i]) if i in ests else None) for i in ids}
    values = sorted({v for v in measured.values() if v is not None})
    if thresholds is None:
        eps = 1e-9
        if op == "<":
            thresholds = [values[0] - eps if values else 0.0] + [v + eps for v in values]
        else:
            thresholds = [values[-1] + eps if values else 0.0] + [v - eps for v in values]
    xa, xb = a.loc[ids].to_numpy(float), b.loc[ids].to_numpy(float)
    yr = ref.loc[ids].to_numpy(float)
    ys = ref_scaled.loc[ids].to_numpy(float) if ref_scaled is not None else None
    rows = []
    for t in thresholds:
        rule = Rule(when, op, float(t))
        routed = np.array([rule.selects(ests.get(i)) for i in ids])
        composite = np.where(routed, xb, xa)
        mad = float(np.mean(np.abs(composite - ys))) if ys is not None else float("nan")
        rows.append({"threshold": float(t), "rule": rule.describe(), "routed": float(routed.mean()),
                     "n_routed": int(routed.sum()), "n": len(ids), "agreement": _agreement(composite, yr, method),
                     "mad": mad})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(["routed", "threshold"], kind="stable").reset_index(drop=True)


def routing_plot(curve: pd.DataFrame, *, title: str = "How much LLM can the first model replace?") -> Any:
    """The curve as a figure: fraction routed (cost) on x, agreement with the reference on y.

    Returns:
        A :class:`matplotlib.figure.Figure` (built without pyplot; save it with ``fig.savefig``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.subplots()
    ax.plot(curve["routed"], curve["agreement"], marker="o", markersize=3)
    ax.set_xlabel("fraction of segments routed to the LLM (cost)")
    ax.set_ylabel("agreement of the composite with the reference")
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["COLUMNS", "DIRECTION", "routing_curve", "routing_plot"]
