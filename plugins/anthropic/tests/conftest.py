"""Fixtures: a clean environment (no real keys, no proxies) and a local messages-API server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from affectproxy_anthropic.testing import AnthropicTestServer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "HTTP_PROXY",
                 "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake_key() -> str:
    """A key built at run time (never a literal in a fixture file)."""
    return "sk-test" + secrets.token_hex(12)


@pytest.fixture
def server(fake_key: str) -> Iterator[AnthropicTestServer]:
    with AnthropicTestServer(key=fake_key) as srv:
        yield srv
