"""The LLM layer: one way for every LLM-based evaluator to call a model (see :mod:`affectproxy.llm.types`)."""

from __future__ import annotations

from affectproxy.llm.types import (
    REQUEST_OPTIONS,
    FollowUp,
    LLMAnswer,
    LLMEvaluator,
    LLMRequest,
    Part,
    Price,
    PriceTable,
    Provider,
    ProviderResponse,
    ProviderSpec,
    RequestContext,
    Usage,
)

__all__ = [
    "REQUEST_OPTIONS",
    "FollowUp",
    "LLMAnswer",
    "LLMEvaluator",
    "LLMRequest",
    "Part",
    "Price",
    "PriceTable",
    "Provider",
    "ProviderResponse",
    "ProviderSpec",
    "RequestContext",
    "Usage",
]
