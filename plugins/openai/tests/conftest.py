"""Fixtures: a clean environment (no real keys, no proxies) and a local chat-completions server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from affectproxy_openai.testing import OpenAITestServer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "HTTP_PROXY",
                 "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake_key() -> str:
    """A key built at run time (never a literal in a fixture file)."""
    return "sk-test" + secrets.token_hex(12)


@pytest.fixture
def server(fake_key: str) -> Iterator[OpenAITestServer]:
    with OpenAITestServer(key=fake_key) as srv:
        yield srv
