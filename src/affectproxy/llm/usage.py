"""What LLM calls cost: the call log summarised per evaluator and (provider, model).

The store's call log (``Store.calls()``) has one row per attempt: paid responses (``ok``, ``invalid``,
``blocked``), failed attempts (``error``: nothing billed) and cache hits (``cached = 1``: nothing paid now).
A paid row without a cost (no price known for the model) makes the cost of its group "unknown"; its tokens still
count.

Examples:
    >>> rows = [dict(evaluator="gemini", provider="gemini", model="m", model_version="m-001", cached=0,
    ...              status="ok", input_tokens={"audio": 320, "text": 100}, output_tokens=50, thinking_tokens=0,
    ...              cached_tokens=0, cost=0.000475, latency=0.4),
    ...         dict(evaluator="gemini", provider="gemini", model="m", model_version="", cached=1, status="ok",
    ...              input_tokens={}, output_tokens=None, thinking_tokens=None, cached_tokens=None, cost=0.0,
    ...              latency=0.0)]
    >>> frame = summarize(rows)
    >>> frame[["calls", "cache_hits", "in_audio", "in_text", "output_tokens"]].to_dict("records")
    [{'calls': 1, 'cache_hits': 1, 'in_audio': 320, 'in_text': 100, 'output_tokens': 50}]
    >>> totals(rows)["cost"]
    0.000475
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PAID = ("ok", "invalid", "blocked")
KEYS = ("evaluator", "provider", "model")


def _group_rows(calls: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in calls:
        key = tuple(str(row.get(k) or "") for k in KEYS)
        g = groups.setdefault(key, {  # type: ignore[arg-type]
            "calls": 0, "ok": 0, "invalid": 0, "blocked": 0, "errors": 0, "cache_hits": 0, "input": {},
            "output_tokens": 0, "thinking_tokens": 0, "cached_tokens": 0, "cost": 0.0, "cost_unknown": 0,
            "latency": 0.0, "versions": [],
        })
        if row.get("cached"):
            g["cache_hits"] += 1
            continue
        status = row.get("status") or "error"
        if status not in PAID:
            g["errors"] += 1
            continue
        g["calls"] += 1
        g[status] += 1
        for modality, n in (row.get("input_tokens") or {}).items():
            g["input"][modality] = g["input"].get(modality, 0) + int(n)
        for name in ("output_tokens", "thinking_tokens", "cached_tokens"):
            g[name] += int(row.get(name) or 0)
        if row.get("cost") is None:
            g["cost_unknown"] += 1
        else:
            g["cost"] += float(row["cost"])
        g["latency"] += float(row.get("latency") or 0.0)
        version = row.get("model_version") or ""
        if version and version not in g["versions"]:
            g["versions"].append(version)
    return groups  # type: ignore[return-value]


def summarize(calls: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (evaluator, provider, model).

    Columns: evaluator, provider, model, calls (paid responses), ok, invalid, blocked, errors (failed attempts,
    not billed), cache_hits, ``in_<modality>`` input tokens (one column per modality seen), output_tokens,
    thinking_tokens, cached_tokens, cost (USD; NaN when any paid call had no known price), cost_unknown (paid
    calls without a price), mean_latency (s), model_versions (comma-separated).
    """
    import pandas as pd

    groups = _group_rows(calls)
    modalities = sorted({m for g in groups.values() for m in g["input"]})
    rows = []
    for (evaluator, provider, model), g in groups.items():
        row: dict[str, Any] = {"evaluator": evaluator, "provider": provider, "model": model}
        for name in ("calls", "ok", "invalid", "blocked", "errors", "cache_hits"):
            row[name] = g[name]
        for m in modalities:
            row[f"in_{m}"] = g["input"].get(m, 0)
        for name in ("output_tokens", "thinking_tokens", "cached_tokens"):
            row[name] = g[name]
        row["cost"] = float("nan") if g["cost_unknown"] else g["cost"]
        row["cost_unknown"] = g["cost_unknown"]
        row["mean_latency"] = g["latency"] / g["calls"] if g["calls"] else float("nan")
        row["model_versions"] = ",".join(g["versions"])
        rows.append(row)
    columns = [*KEYS, "calls", "ok", "invalid", "blocked", "errors", "cache_hits", *(f"in_{m}" for m in modalities),
               "output_tokens", "thinking_tokens", "cached_tokens", "cost", "cost_unknown", "mean_latency",
               "model_versions"]
    return pd.DataFrame(rows, columns=columns)


def totals(calls: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over every call: calls, cache_hits, errors, input tokens by modality, output_tokens,
    thinking_tokens, cost (None when some paid call had no known price) and known_cost (the priced part)."""
    groups = _group_rows(calls)
    out: dict[str, Any] = {"calls": 0, "cache_hits": 0, "errors": 0, "input_tokens": {}, "output_tokens": 0,
                           "thinking_tokens": 0, "known_cost": 0.0, "cost_unknown": 0}
    for g in groups.values():
        for name in ("calls", "cache_hits", "errors", "output_tokens", "thinking_tokens", "cost_unknown"):
            out[name] += g[name]
        out["known_cost"] += g["cost"]
        for m, n in g["input"].items():
            out["input_tokens"][m] = out["input_tokens"].get(m, 0) + n
    out["cost"] = None if out["cost_unknown"] else out["known_cost"]
    return out


__all__ = ["summarize", "totals"]
