"""A response cache for costly calls (LLM requests), kept in the study's store.

An evaluator that defines ``use_cache(cache)`` receives a :class:`ResponseCache` from the engine before its first
``evaluate`` call. It should look a request up before paying for it and ``put`` the response as soon as it
arrives: each ``put`` is committed at once, so a crash or a failure later in the batch never loses a paid
response, and a rerun does not pay for it again.

Keys are hashes of what determines the response (model, prompt, input); never put an API key into a key's
parts (they are hashed, but keys do not belong in logs or caches at all).

Examples:
    >>> cache = ResponseCache()
    >>> key = cache.key(model="gemini-2.5-flash", prompt="Rate the arousal.", audio_sha256="ab12")
    >>> cache.get(key) is None
    True
    >>> cache.put(key, b'{"arousal": 0.4}')
    >>> cache.get(key)
    b'{"arousal": 0.4}'
"""

from __future__ import annotations

import hashlib
from typing import Any

from affectproxy.hashing import canonical_json, check_no_secrets
from affectproxy.store import Store


class ResponseCache:
    """Get/put raw responses by key; backed by a :class:`~affectproxy.store.Store` (in memory by default)."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store if store is not None else Store(None)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(**parts: Any) -> str:
        """A stable hash of the named parts (JSON-serialisable); refuses parts that look like secrets."""
        check_no_secrets(parts, "cache key")
        return hashlib.sha256(canonical_json(parts).encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        """The cached response, or None."""
        value = self._store.cache_get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: bytes) -> None:
        """Store a response; committed at once."""
        self._store.cache_put(key, value)


__all__ = ["ResponseCache"]
