"""Helpers every provider plugin shares: Retry-After parsing and scrubbing keys out of error messages."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

_KEYLIKE = re.compile(r"\b(sk|key|sess)-[A-Za-z0-9_\-*]{6,}")


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (milliseconds) or ``Retry-After`` (seconds or an HTTP date).

    Examples:
        >>> retry_after({"retry-after-ms": "1500"}), retry_after({"retry-after": "3"}), retry_after({})
        (1.5, 3.0, None)
        >>> retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:10 GMT"}, now=4.0)
        6.0
    """
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now)
        if seconds >= 0 and seconds != float("inf"):
            return seconds
    return None


def scrub(message: str, secret: str | None) -> str:
    """Remove a key (and anything key-shaped, as APIs echo masked keys) from a message; keep it to one line.

    Examples:
        >>> scrub("Incorrect API key provided: sk-abc123***xyz9.\\nSee docs", None)
        'Incorrect API key provided: [redacted]. See docs'
    """
    if secret:
        message = message.replace(secret, "[redacted]")
    message = _KEYLIKE.sub("[redacted]", message)
    return " ".join(message.split())[:500]


__all__ = ["retry_after", "scrub"]
