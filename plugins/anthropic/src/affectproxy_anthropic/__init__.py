"""affectproxy-anthropic: the ``anthropic`` LLM provider (Claude through the messages API).

Importing this package does not import the ``anthropic`` SDK; it loads on the first call.
"""

from affectproxy_anthropic.prices import PRICES
from affectproxy_anthropic.provider import CAN_SEND, AnthropicProvider

__all__ = ["CAN_SEND", "PRICES", "AnthropicProvider"]
