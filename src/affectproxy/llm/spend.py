"""Spend reports from the store's call log: per evaluator and per provider/model, cache savings, cost per hour of
rated speech. Used by ``affectproxy usage STORE`` and by the HTML report (:func:`spend_html`).

- **cost**: USD of every paid attempt (repairs included; failed attempts are not billed), None when a model had
  no known price.
- **saved**: what the answers served from the response cache would have cost: each cache hit is priced at what
  the paid answer with the same cache key cost.
- **speech hours**: the duration of the distinct segments the paid answers were about; ``cost_per_hour`` is cost
  divided by it (what one hour of speech costs with this rater).

Example::

    with Store("study.sqlite") as db:
        print(spend_table(db.calls(), db.segments()))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

BY_EVALUATOR = ("evaluator",)
BY_MODEL = ("provider", "model")


def _hours(ids: Iterable[str], durations: Mapping[str, float]) -> float:
    return sum(durations.get(i, 0.0) for i in set(ids)) / 3600.0


def spend_table(calls: Sequence[Mapping[str, Any]], segments: Iterable[Any] = (), *,
                by: Sequence[str] = BY_EVALUATOR) -> Any:
    """Spend grouped ``by`` evaluator (default) or by ``("provider", "model")``.

    Args:
        calls: the call log (``Store.calls()``).
        segments: the store's segments (for speech hours); without them hours and cost per hour are 0 / None.
        by: the grouping columns.

    Returns:
        A DataFrame with the group columns, ``paid_calls``, ``cache_hits``, ``input_tokens``, ``output_tokens``
        (thinking included), ``cost`` (None when any paid call had no price), ``saved`` (by the cache),
        ``speech_hours`` and ``cost_per_hour``.
    """
    import pandas as pd

    durations = {s.id: float(s.end - s.start) for s in segments}
    price_of: dict[str, float | None] = {}
    for c in calls:
        if not c.get("cached") and c.get("status") == "ok" and c.get("cache_key") not in price_of:
            price_of[c["cache_key"]] = c.get("cost")
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for c in calls:
        groups.setdefault(tuple(c.get(k) for k in by), []).append(c)
    rows = []
    for key, rows_ in groups.items():
        paid = [c for c in rows_ if not c.get("cached") and c.get("status") != "error"]
        hits = [c for c in rows_ if c.get("cached")]
        costs = [c.get("cost") for c in paid]
        cost = None if any(x is None for x in costs) else float(sum(x for x in costs if x is not None))
        saved_each = [price_of.get(str(c.get("cache_key"))) for c in hits]
        saved = float(sum(x for x in saved_each if x is not None))
        hours = _hours((i for c in paid if c.get("status") == "ok" for i in c.get("segment_ids") or ()), durations)
        row = dict(zip(by, key, strict=True))
        row.update(
            paid_calls=len(paid), cache_hits=len(hits),
            input_tokens=sum(sum((c.get("input_tokens") or {}).values()) for c in paid),
            output_tokens=sum(int(c.get("output_tokens") or 0) + int(c.get("thinking_tokens") or 0) for c in paid),
            cost=cost, saved=saved, speech_hours=hours,
            cost_per_hour=(cost / hours) if cost is not None and hours > 0 else None,
        )
        rows.append(row)
    columns = [*by, "paid_calls", "cache_hits", "input_tokens", "output_tokens", "cost", "saved", "speech_hours",
               "cost_per_hour"]
    return pd.DataFrame(rows, columns=columns)


def spend_lines(calls: Sequence[Mapping[str, Any]], segments: Iterable[Any] = ()) -> list[str]:
    """The spend summary as text lines (one per evaluator, one per provider/model, the total)."""
    segments = list(segments)
    lines = []
    for title, by in (("per evaluator", BY_EVALUATOR), ("per provider/model", BY_MODEL)):
        frame = spend_table(calls, segments, by=by)
        lines.append(f"spend {title}:")
        for _, row in frame.iterrows():
            name = "/".join(str(row[k]) for k in by)
            cost = "unknown" if row["cost"] is None or row["cost"] != row["cost"] else f"${row['cost']:.4f}"
            per = row["cost_per_hour"]
            hours = float(row["speech_hours"])
            span = f"{hours:.2f} h" if hours >= 1 else f"{hours * 60:.1f} min"
            hour = f", ${per:.2f} per hour of speech (over {span})" if per is not None and per == per else ""
            lines.append(f"  {name}: {cost} for {int(row['paid_calls'])} paid call(s){hour}; "
                         f"{int(row['cache_hits'])} cache hit(s) saved ${row['saved']:.4f}")
    return lines


def spend_html(store: Any) -> str:
    """A small HTML section for the report: spend per evaluator and per provider/model, cache savings and cost
    per hour of speech; "" when the store has no LLM calls.

    Args:
        store: a :class:`~affectproxy.store.Store`, or a :class:`~affectproxy.results.Results` holding one
            (``.store``), or a path to a store file.
    """
    from affectproxy.store import Store

    db = getattr(store, "store", store)
    opened = not isinstance(db, Store)
    if opened:
        db = Store(db)
    try:
        calls = db.calls()
        if not calls:
            return ""
        segments = db.segments()
    finally:
        if opened:
            db.close()
    parts = ["<section class=\"spend\"><h2>What the LLM raters cost</h2>",
             "<p>Paid calls from the store's call log (failed attempts are not billed); <em>saved</em> is what the "
             "answers served from the response cache would have cost; cost per hour is per hour of rated speech."
             "</p>"]
    for title, by in (("Per evaluator", BY_EVALUATOR), ("Per provider and model", BY_MODEL)):
        frame = spend_table(calls, segments, by=by)
        parts.append(f"<h3>{title}</h3>")
        parts.append(frame.to_html(index=False, na_rep="unknown", float_format=lambda x: f"{x:.4f}",
                                   escape=True))
    parts.append("</section>")
    return "\n".join(parts)


__all__ = ["BY_EVALUATOR", "BY_MODEL", "spend_html", "spend_lines", "spend_table"]
