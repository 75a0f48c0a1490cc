"""affectproxy-openai: the ``openai`` LLM provider (OpenAI chat completions and compatible servers).

Importing this package does not import the ``openai`` SDK; it loads on the first call.
"""

from affectproxy_openai.prices import PRICES
from affectproxy_openai.provider import CAN_SEND, OpenAIProvider, strict_compatible

__all__ = ["CAN_SEND", "PRICES", "OpenAIProvider", "strict_compatible"]
