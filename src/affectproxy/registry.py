"""The evaluator registry: plugins found through the entry-point group ``affectproxy``, loaded lazily.

Entry points are loaded one by one, so a plugin that fails to import is listed as broken (with its error) and
the others still load; ``import affectproxy`` never loads plugins. ``AFFECTPROXY_PLUGINS`` (comma-separated
entry-point or distribution names, or empty for none) pins which external plugins load, for reproducible runs.
Built-in core evaluators (``table``) always load.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pluggy

from affectproxy import hookspecs
from affectproxy.errors import MissingDependencyError, PluginError, UnknownEvaluatorError
from affectproxy.evaluator import CheckResult, Evaluator, EvaluatorSpec

ENTRY_POINT_GROUP = "affectproxy"
PLUGINS_ENV = "AFFECTPROXY_PLUGINS"


@attrs.frozen
class EvaluatorInfo:
    """One row of :func:`list_evaluators`.

    Attributes:
        name: the registry name ('' for a plugin that failed to load).
        summary: one line on what it does.
        plugin: which plugin registered it (distribution and entry point).
        installed: True when every package in ``requires`` can be imported.
        missing: import names that cannot be found.
        extra: how to install what is missing.
        can_run: installed and its ``check()`` passed.
        reason: why it cannot run here, with the fix.
    """

    name: str
    summary: str
    plugin: str
    installed: bool
    missing: tuple[str, ...]
    extra: str
    can_run: bool
    reason: str


@attrs.frozen
class BrokenPlugin:
    """A plugin that could not be loaded, and why."""

    plugin: str
    error: str


def _pinned() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


class Registry:
    """Holds the plugin manager and the evaluator specs; loads on first use."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loaded = False
        self._extra: list[tuple[object, str]] = []
        self._specs: dict[str, EvaluatorSpec] = {}
        self._owners: dict[str, str] = {}
        self._broken: list[BrokenPlugin] = []

    # -- loading ---------------------------------------------------------------------------------------------
    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            pm = pluggy.PluginManager("affectproxy")
            pm.add_hookspecs(hookspecs)
            from affectproxy import _builtins

            labels: dict[str, str] = {}
            pm.register(_builtins, name="affectproxy")
            labels["affectproxy"] = "affectproxy (built-in)"
            broken: list[BrokenPlugin] = []
            pinned = _pinned()
            for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                dist = ep.dist.name if ep.dist is not None else "?"
                if pinned is not None and ep.name not in pinned and dist not in pinned:
                    continue
                label = f"{dist} (entry point {ep.name!r} = {ep.value})"
                try:
                    module = ep.load()
                    pm.register(module, name=f"ep:{ep.name}")
                except Exception as exc:
                    broken.append(BrokenPlugin(label, f"{type(exc).__name__}: {exc}"))
                    continue
                labels[f"ep:{ep.name}"] = label
            for obj, name in self._extra:
                pm.register(obj, name=name)
                labels[name] = name
            specs: dict[str, EvaluatorSpec] = {}
            owners: dict[str, str] = {}
            for impl in reversed(pm.hook.affectproxy_evaluators.get_hookimpls()):
                label = labels.get(impl.plugin_name, impl.plugin_name)
                try:
                    found: list[Any] = list(impl.function() or ())  # type: ignore[call-overload]
                except Exception as exc:
                    broken.append(BrokenPlugin(label, f"affectproxy_evaluators() raised {type(exc).__name__}: {exc}"))
                    continue
                for spec in found:
                    if not isinstance(spec, EvaluatorSpec):
                        broken.append(BrokenPlugin(label, f"yielded {spec!r}, not an affectproxy.EvaluatorSpec"))
                        continue
                    if spec.name in specs:
                        raise PluginError(
                            f"Two plugins register the evaluator {spec.name!r}: {owners[spec.name]} and {label}. "
                            f"Uninstall one, or pin the plugins to load with {PLUGINS_ENV}=name1,name2."
                        )
                    specs[spec.name] = spec
                    owners[spec.name] = label
            self._specs, self._owners, self._broken = specs, owners, broken
            self._loaded = True

    def reload(self) -> None:
        """Forget what was loaded; the next use loads the plugins again (e.g. after changing the env)."""
        with self._lock:
            self._loaded = False

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or any object with hook implementations) by hand."""
        with self._lock:
            self._extra.append((plugin, name))
            self._loaded = False

    def unregister(self, name: str) -> None:
        """Undo :meth:`register`."""
        with self._lock:
            self._extra = [(p, n) for p, n in self._extra if n != name]
            self._loaded = False

    @contextmanager
    def registered(self, plugin: object, name: str) -> Iterator[None]:
        """Register a plugin for the duration of a ``with`` block (handy in tests)."""
        self.register(plugin, name)
        try:
            yield
        finally:
            self.unregister(name)

    # -- queries ---------------------------------------------------------------------------------------------
    @property
    def specs(self) -> dict[str, EvaluatorSpec]:
        self._load()
        return dict(self._specs)

    @property
    def broken(self) -> list[BrokenPlugin]:
        self._load()
        return list(self._broken)

    def spec(self, name: str) -> EvaluatorSpec:
        specs = self.specs
        try:
            return specs[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(specs), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        broken = "".join(f" Broken plugin: {b.plugin}: {b.error}." for b in self._broken)
        raise UnknownEvaluatorError(
            f"Unknown evaluator {name!r}.{hint} Installed: {', '.join(sorted(specs)) or 'none'}.{broken}"
        )

    def missing(self, spec: EvaluatorSpec) -> tuple[str, ...]:
        return tuple(r for r in spec.requires if not _importable(r))

    @staticmethod
    def _fix(spec: EvaluatorSpec, missing: tuple[str, ...]) -> str:
        return spec.extra or f"pip install {' '.join(missing)}"

    def info(self, name: str) -> EvaluatorInfo:
        spec = self.spec(name)
        missing = self.missing(spec)
        if missing:
            return EvaluatorInfo(
                spec.name, spec.summary, self._owners[name], False, missing, spec.extra, False,
                f"missing {', '.join(missing)}: {self._fix(spec, missing)}",
            )
        try:
            check = spec.check()
        except Exception as exc:
            check = CheckResult(False, f"check() raised {type(exc).__name__}: {exc}")
        return EvaluatorInfo(
            spec.name, spec.summary, self._owners[name], True, (), spec.extra, bool(check.ok), check.reason
        )

    def create(self, name: str, /, **options: Any) -> Evaluator:
        spec = self.spec(name)
        missing = self.missing(spec)
        if missing:
            raise MissingDependencyError(f"Evaluator {name!r} needs {', '.join(missing)}: {self._fix(spec, missing)}")
        return spec.factory(**options)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


registry = Registry()


def list_evaluators() -> list[EvaluatorInfo]:
    """Every registered evaluator (sorted by name), whether it can run here and why not; broken plugins last.

    Imports no plugin's heavy dependencies: availability is checked with ``importlib.util.find_spec``.

    Returns:
        A list of :class:`EvaluatorInfo` (name, summary, plugin, installed, missing, extra, can_run, reason);
        a broken plugin appears with an empty name, ``installed=False`` and its error as the reason.

    Examples:
        >>> import affectproxy as ap
        >>> "table" in [e.name for e in ap.list_evaluators()]
        True
    """
    rows = [registry.info(name) for name in sorted(registry.specs)]
    rows += [EvaluatorInfo("", "", b.plugin, False, (), "", False, f"plugin failed to load: {b.error}")
             for b in registry.broken]
    return rows


def get_evaluator(name: str, /, **options: Any) -> Evaluator:
    """Build the evaluator registered as ``name`` with ``options`` (construction loads no weights).

    Args:
        name: the registry name, e.g. ``"emotion2vec"``.
        **options: passed to the plugin's factory; ``name=`` sets the instance label.

    Raises:
        UnknownEvaluatorError: no such evaluator (the message lists the installed ones).
        MissingDependencyError: a package it needs is missing (the message says what to pip install).
        PluginError: two plugins claim one name.

    Examples:
        >>> import affectproxy as ap
        >>> ap.get_evaluator("tabel")
        Traceback (most recent call last):
        ...
        affectproxy.errors.UnknownEvaluatorError: Unknown evaluator 'tabel'. Did you mean 'table'? ...
    """
    return registry.create(name, **options)


__all__ = ["BrokenPlugin", "EvaluatorInfo", "Registry", "get_evaluator", "list_evaluators", "registry"]
