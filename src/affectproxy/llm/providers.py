"""LLM providers registered by plugins through the ``affectproxy_llm_providers`` hook.

The same plugins as the evaluator registry (entry-point group ``affectproxy``, pinned by ``AFFECTPROXY_PLUGINS``),
plus plugin objects registered by hand with :func:`register` / :func:`registered`, are asked for
:class:`ProviderSpec` records.
Loading is lazy and imports no SDK: a spec's factory imports its SDK when a provider is built.

Examples:
    >>> import affectproxy as ap
    >>> class Plugin:
    ...     @ap.hookimpl
    ...     def affectproxy_llm_providers(self):
    ...         yield ProviderSpec(name="echo", factory=lambda **options: None)
    >>> with registered(Plugin(), "echo-plugin"):
    ...     "echo" in provider_specs()
    True
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pluggy

from affectproxy import hookspecs
from affectproxy.errors import AffectProxyError, MissingDependencyError, PluginError
from affectproxy.hashing import canonical_json
from affectproxy.llm.types import Provider, ProviderSpec
from affectproxy.registry import ENTRY_POINT_GROUP, PLUGINS_ENV, _pinned


class UnknownProviderError(AffectProxyError, LookupError):
    """No LLM provider of that name is installed."""


class ProviderOptionError(AffectProxyError, ValueError):
    """An option a provider does not take."""


def check_options(provider: str, cls: type, options: Mapping[str, Any]) -> None:
    """Refuse an option that the provider class ``cls`` does not take, naming the closest valid one (a provider
    factory calls this before building).

    Raises:
        ProviderOptionError: e.g. "Unknown openai provider option 'base_ulr'. Did you mean 'base_url'? Valid: ...".
    """
    import inspect

    valid = [p for p in inspect.signature(cls).parameters if p != "name"]
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProviderOptionError(f"Unknown {provider} provider option {key!r}.{hint} Valid: {', '.join(valid)}.")


_LOCK = threading.RLock()
_STATE: dict[str, Any] = {"key": None, "specs": {}, "broken": []}
_EXTRA: list[tuple[object, str]] = []


def register(plugin: object, name: str) -> None:
    """Register a plugin object (a module or any object with an ``affectproxy_llm_providers`` hook) by hand."""
    with _LOCK:
        _EXTRA.append((plugin, name))


def unregister(name: str) -> None:
    """Undo :func:`register`."""
    with _LOCK:
        _EXTRA[:] = [(p, n) for p, n in _EXTRA if n != name]


@contextmanager
def registered(plugin: object, name: str) -> Iterator[None]:
    """Register a provider plugin for the duration of a ``with`` block (handy in tests)."""
    register(plugin, name)
    try:
        yield
    finally:
        unregister(name)


def reload() -> None:
    """Forget the loaded specs (e.g. after installing a plugin in a running notebook)."""
    with _LOCK:
        _STATE["key"] = None


def _state_key() -> tuple[Any, ...]:
    pinned = _pinned()
    extra = tuple((id(obj), name) for obj, name in _EXTRA)
    return (None if pinned is None else tuple(sorted(pinned)), extra)


def _load() -> dict[str, ProviderSpec]:
    with _LOCK:
        key = _state_key()
        if _STATE["key"] == key:
            return dict(_STATE["specs"])
        pm = pluggy.PluginManager("affectproxy")
        pm.add_hookspecs(hookspecs)
        labels: dict[str, str] = {}
        broken: list[str] = []
        pinned = _pinned()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            if pinned is not None and ep.name not in pinned and dist not in pinned:
                continue
            try:
                module = ep.load()
                pm.register(module, name=f"ep:{ep.name}")
            except Exception as exc:  # listed by the evaluator registry as a broken plugin
                broken.append(f"{dist}: {type(exc).__name__}: {exc}")
                continue
            labels[f"ep:{ep.name}"] = f"{dist} (entry point {ep.name!r})"
        for obj, name in _EXTRA:
            pm.register(obj, name=name)
            labels[name] = name
        specs: dict[str, ProviderSpec] = {}
        owners: dict[str, str] = {}
        for impl in reversed(pm.hook.affectproxy_llm_providers.get_hookimpls()):
            label = labels.get(impl.plugin_name, impl.plugin_name)
            try:
                found = list(impl.function() or ())  # type: ignore[call-overload]
            except Exception as exc:
                broken.append(f"{label}: affectproxy_llm_providers() raised {type(exc).__name__}: {exc}")
                continue
            for spec in found:
                if not isinstance(spec, ProviderSpec):
                    broken.append(f"{label}: yielded {spec!r}, not an affectproxy.llm.ProviderSpec")
                    continue
                if spec.name in specs:
                    raise PluginError(
                        f"Two plugins register the LLM provider {spec.name!r}: {owners[spec.name]} and {label}. "
                        f"Uninstall one, or pin the plugins to load with {PLUGINS_ENV}=name1,name2."
                    )
                specs[spec.name] = spec
                owners[spec.name] = label
        _STATE.update(key=key, specs=specs, broken=broken)
        return dict(specs)


def provider_specs() -> dict[str, ProviderSpec]:
    """Every registered provider spec by name."""
    return _load()


def get_provider_spec(name: str) -> ProviderSpec:
    """The spec of provider ``name``.

    Raises:
        UnknownProviderError: none of that name (the message lists the installed ones and the closest name).
    """
    specs = _load()
    if name in specs:
        return specs[name]
    close = difflib.get_close_matches(name, list(specs), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    broken = "".join(f" Broken: {b}." for b in _STATE["broken"])
    raise UnknownProviderError(
        f"Unknown LLM provider {name!r}.{hint} Installed: {', '.join(sorted(specs)) or 'none'} "
        f"(install a plugin such as affectproxy-gemini).{broken}"
    )


def _missing(spec: ProviderSpec) -> list[str]:
    out = []
    for req in spec.requires:
        try:
            if importlib.util.find_spec(req) is None:
                out.append(req)
        except (ImportError, ValueError):
            out.append(req)
    return out


def build_provider(name: str, **options: Any) -> Provider:
    """A new provider instance built by the spec's factory with ``options`` (no caching).

    Raises:
        UnknownProviderError, MissingDependencyError.
    """
    spec = get_provider_spec(name)
    missing = _missing(spec)
    if missing:
        fix = spec.extra or f"pip install {' '.join(missing)}"
        raise MissingDependencyError(f"LLM provider {name!r} needs {', '.join(missing)}: {fix}")
    return spec.factory(**options)


def options_key(options: dict[str, Any]) -> str:
    """A hashable key for provider options (values by canonical JSON; never stored anywhere)."""
    return canonical_json(options)


__all__ = [
    "ProviderOptionError",
    "UnknownProviderError",
    "build_provider",
    "check_options",
    "get_provider_spec",
    "provider_specs",
    "register",
    "registered",
    "reload",
    "unregister",
]
