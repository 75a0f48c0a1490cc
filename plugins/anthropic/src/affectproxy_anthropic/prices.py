"""List prices of Anthropic models (USD per 1M tokens), dated and sourced; any other model costs "unknown".

Only models named in the installed ``anthropic`` SDK's model list (``anthropic.types.ModelParam``) and priced on
Anthropic's model pages are listed. A model id matches its own entry or a dated snapshot (``<id>-YYYYMMDD``).
Cache reads are billed at the full input rate here (the model page lists no cache rate), so cached calls are
over- rather than under-estimated.
"""

from __future__ import annotations

import re

import attrs

from affectproxy.llm.types import Price, PriceTable

_SNAPSHOT = re.compile(r"^-\d{8}$")


@attrs.frozen
class SnapshotPriceTable(PriceTable):
    """A :class:`PriceTable` whose ids match only themselves and their dated snapshots (``<id>-YYYYMMDD``)."""

    def get(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        for name, price in self.prices.items():
            if model.startswith(name) and _SNAPSHOT.match(model[len(name):]):
                return price
        return None


#: Anthropic list prices; Message Batches at half price (``batch_factor=0.5``).
PRICES = SnapshotPriceTable(
    prices={
        "claude-sonnet-4-6": Price(input={"text": 3.00}, output=15.00),
    },
    date="2026-11-29",
    source="https://platform.claude.com/docs/en/models/sonnet-4-6/overview (Input pricing: $3 / MTok, Output "
    "pricing: $15 / MTok)",
)

__all__ = ["PRICES", "SnapshotPriceTable"]
