"""List prices of OpenAI models (USD per 1M tokens), dated and sourced; any other model costs "unknown".

Only models named in the installed ``openai`` SDK's model list (``openai.types.shared.ChatModel``) and priced on
OpenAI's pricing page are listed. A model id matches its own entry or a dated snapshot of it
(``gpt-5.2-2025-12-11``), never a longer family member (``gpt-5.2-pro`` or ``gpt-5.2-chat-latest`` are priced
differently), so a model served by another OpenAI-compatible server (vLLM, Ollama, Mistral) shows cost unknown.
"""

from __future__ import annotations

from affectproxy.llm.types import Price, PriceTable

#: OpenAI list prices; batch jobs at half price (``batch_factor=0.5``). Cached input is billed at the cached rate.
PRICES = PriceTable(
    prices={
        "gpt-5.2": Price(input={"text": 1.75}, output=14.00, cached_input=0.175),
        "gpt-5.2-pro": Price(input={"text": 21.00}, output=168.00),
        "gpt-5-mini": Price(input={"text": 0.25}, output=2.00, cached_input=0.025),
    },
    date="2026-11-05",
    source="https://developers.openai.com/api/docs/pricing (standard tier, read 2026-11-05 as quoted by "
    "api-evangelist's 'OpenAI API Pricing: What Every Model Costs Per Million Tokens', 2026-11-06)",
)

__all__ = ["PRICES"]
