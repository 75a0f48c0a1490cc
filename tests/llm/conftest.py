"""Fixtures for the LLM layer tests: the scripted provider plugin (tests/llm/scripted.py), registered by hand."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from affectproxy.llm import providers


def _load() -> Any:
    name = "llm_scripted"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "scripted.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


scripted = _load()


@pytest.fixture
def vendor() -> Iterator[Any]:
    """A fresh scripted provider plugin, registered for the test."""
    v = scripted.Vendor()
    with providers.registered(v, "scripted-vendor"):
        yield v
