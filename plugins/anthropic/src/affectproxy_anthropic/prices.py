"""List prices of Anthropic models (USD per 1M tokens), dated and sourced; any other model costs "unknown".

Only models named in the installed ``anthropic`` SDK's model list (``anthropic.types.ModelParam``) and priced on
Anthropic's model pages are listed. A model id matches its own entry or a dated snapshot
(``<id>-YYYYMMDD``), by the core ``PriceTable`` rule.
Cache reads are billed at the full input rate here (the model page lists no cache rate), so cached calls are
over- rather than under-estimated.
"""

from __future__ import annotations

from affectproxy.llm.types import Price, PriceTable

#: Anthropic list prices; Message Batches at half price (``batch_factor=0.5``).
PRICES = PriceTable(
    prices={
        "claude-sonnet-4-6": Price(input={"text": 3.00}, output=15.00),
    },
    date="2026-11-29",
    source="https://platform.claude.com/docs/en/models/sonnet-4-6/overview (Input pricing: $3 / MTok, Output "
    "pricing: $15 / MTok)",
)

__all__ = ["PRICES"]
