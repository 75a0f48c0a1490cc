"""The evaluator registry: plugins found through the entry-point group ``affectproxy``, loaded lazily.

Entry points are loaded one by one, so a plugin that fails to import is listed as broken (with its error) and
the others still load; ``import affectproxy`` never loads plugins. ``AFFECTPROXY_PLUGINS`` (comma-separated
entry-point or distribution names, or empty for none) pins which external plugins load, for reproducible runs.
Built-in core evaluators (``table``) always load. :func:`check_evaluators` is the preflight: before a run, it asks
every built evaluator whether it can run here and returns every problem at once.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import inspect
import os
import threading
import weakref
from collections.abc import Sequence
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
        self._made: dict[int, tuple[weakref.ref[Any], str]] = {}
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
        """Forget what was loaded; the next use loads the plugins again (e.g. after changing ``AFFECTPROXY_PLUGINS``
        or installing a plugin in a running notebook)."""
        with self._lock:
            self._loaded = False

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
        ev = spec.factory(**options)
        self._remember(ev, spec.name)
        return ev

    def _remember(self, ev: object, name: str) -> None:
        """Note which spec built ``ev`` (weakly: the registry never keeps an evaluator alive)."""
        try:
            ref = weakref.ref(ev)
        except TypeError:  # a class with __slots__ and no __weakref__: its spec is then unknown
            return
        with self._lock:
            self._made = {k: v for k, v in self._made.items() if v[0]() is not None}
            self._made[id(ev)] = (ref, name)

    def made_by(self, ev: object) -> str | None:
        """The registry name of the spec that built ``ev`` through :meth:`create`, or None (built by hand)."""
        entry = self._made.get(id(ev))
        return entry[1] if entry is not None and entry[0]() is ev else None


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


@attrs.frozen
class Problem:
    """Why one evaluator cannot run here, found before the run starts.

    Attributes:
        name: the evaluator's instance label (or the study entry, for one that could not be built).
        reason: what is wrong and how to fix it.
    """

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def check_evaluators(evaluators: Sequence[Evaluator], *, llm: Any = None) -> list[Problem]:
    """Preflight: ask every built evaluator whether it can run here, before the first segment.

    Uses the instance's own ``check()`` when it has one (it sees the options the evaluator was built with, e.g.
    ``model=DIR``), else the ``check`` of the spec that built it through :func:`get_evaluator`; an instance built
    by hand without ``check()`` counts as ready. Checks load nothing (no weights, no network), so this is fast.
    A ``check`` that takes an ``llm`` keyword (LLM evaluators) is given the run's LLM settings, so a key or a
    local ``base_url`` given there counts as well as one in the environment.

    Args:
        evaluators: built evaluator instances.
        llm: the run's LLM settings (an :class:`~affectproxy.llm.config.LLMConfig` or its mapping form).

    Returns:
        Every problem at once (empty when all can run), each with the evaluator's name and the reason with its fix.

    Examples:
        >>> import affectproxy as ap, pathlib, tempfile
        >>> from affectproxy.registry import check_evaluators
        >>> class NoKey:
        ...     name = "rater"
        ...     def check(self):
        ...         return ap.CheckResult(False, "RATER_API_KEY is not set; export it and run again")
        >>> [str(p) for p in check_evaluators([NoKey()])]
        ['rater: RATER_API_KEY is not set; export it and run again']
    """
    problems = []
    config = None
    for ev in evaluators:
        name = str(getattr(ev, "name", type(ev).__name__))
        own = getattr(ev, "check", None)
        made_by = registry.made_by(ev)
        if callable(own):
            what, check = f"{name!r}.check()", own
        elif made_by is not None:
            what, check = f"the check() of evaluator type {made_by!r}", registry.spec(made_by).check
        else:
            continue
        try:
            if _takes_llm(check):
                if config is None:
                    from affectproxy.llm.config import LLMConfig

                    config = llm if isinstance(llm, LLMConfig) else LLMConfig.from_mapping(llm)
                result = check(llm=config)
            else:
                result = check()
        except Exception as exc:
            problems.append(Problem(name, f"{what} raised {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(result, CheckResult):
            problems.append(Problem(name, f"{what} returned {type(result).__name__}, not an affectproxy.CheckResult; "
                                          "fix the plugin"))
        elif not result.ok:
            problems.append(Problem(name, result.reason or f"{what} failed without saying why; ask the plugin's "
                                                          "author"))
    return problems


def _takes_llm(check: Any) -> bool:
    try:
        return "llm" in inspect.signature(check).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no keyword
        return False


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


__all__ = [
    "BrokenPlugin", "EvaluatorInfo", "Problem", "Registry", "check_evaluators", "get_evaluator", "list_evaluators",
    "registry",
]
