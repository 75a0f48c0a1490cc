"""The LLM layer: one way for every LLM-based evaluator to call a model.

See :mod:`affectproxy.llm.types` (requests, answers, the provider contract), :mod:`affectproxy.llm.layer`
(:class:`LLMLayer`: limits, retries, validation, cache, call log, cost), :mod:`affectproxy.llm.config`
(:class:`LLMConfig`) and :mod:`affectproxy.llm.providers` (lookup through the ``affectproxy_llm_providers`` hook).
"""

from __future__ import annotations

from affectproxy.llm.config import LLMConfig, LLMConfigError, ProviderConfig
from affectproxy.llm.layer import LLMLayer, LLMNote, estimate_tokens
from affectproxy.llm.providers import UnknownProviderError, build_provider, get_provider_spec, provider_specs
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
    "LLMConfig",
    "LLMConfigError",
    "LLMEvaluator",
    "LLMLayer",
    "LLMNote",
    "LLMRequest",
    "Part",
    "Price",
    "PriceTable",
    "Provider",
    "ProviderConfig",
    "ProviderResponse",
    "ProviderSpec",
    "RequestContext",
    "UnknownProviderError",
    "Usage",
    "build_provider",
    "estimate_tokens",
    "get_provider_spec",
    "provider_specs",
]
