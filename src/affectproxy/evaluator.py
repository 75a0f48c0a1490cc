"""The evaluator contract (a duck-typed Protocol) and the spec records plugins register.

A backend implements only :class:`Evaluator`; reading and resampling audio, batching, caching, retries, progress
and storage belong to the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from affectproxy.model import Dimension, EmotionEstimate, Segment


@runtime_checkable
class Evaluator(Protocol):
    """What the core needs of an evaluator.

    Attributes:
        name: the instance label (default: the registry name; settable with a ``name=`` option).
        dimensions: the scales it reports.
        sample_rate: the rate (Hz) of the float32 mono audio it wants in ``Segment.audio``; None for no audio.
        min_duration: the shortest segment (seconds) it accepts; shorter ones are recorded as failures
            without calling it.

    Optional attributes the core honours when present:
        group_by: ``"speaker"`` or ``"recording"``: the core then hands whole groups in one call (e.g. for
            within-speaker standardisation).
        batch_size: how many segments per ``evaluate`` call (default 8).
        needs_text: True when an empty transcript cannot be evaluated.
        use_cache(cache): called with a :class:`affectproxy.cache.ResponseCache` backed by the run's store
            before the first ``evaluate``; costly backends (LLMs) cache each paid response there at once.
        check(): returns a :class:`CheckResult` saying whether *this instance*, with the options it was built
            with, can run here (e.g. ``model=DIR`` exists and holds weights, the API key is set). It must load
            nothing (no weights, no network) and be fast: the preflight
            (:func:`affectproxy.registry.check_evaluators`) calls it for every evaluator before the first segment,
            and a run stops before it starts, listing every problem at once. Without it the preflight falls back
            to the spec's ``check()``, which knows only the defaults. An LLM evaluator's ``check(llm=None)`` may
            take the run's :class:`~affectproxy.llm.config.LLMConfig` as ``llm``, to accept a key or local
            ``base_url`` given there (``config.provider(name).api_key``) as well as one in the environment.
    """

    name: str

    @property
    def dimensions(self) -> tuple[Dimension, ...]: ...

    @property
    def sample_rate(self) -> int | None: ...

    @property
    def min_duration(self) -> float: ...

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-serialisable dict of everything that changes the output (model id, weights hash, options,
        prompt hash, output version). The core hashes it; equal hashes mean interchangeable results."""
        ...

    def evaluate(self, segments: Sequence[Segment]) -> list[EmotionEstimate]:
        """One estimate per segment, in the given order."""
        ...


@attrs.frozen
class CheckResult:
    """Whether an evaluator can run here, and if not why (and how to fix it)."""

    ok: bool
    reason: str = ""


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _no_check() -> CheckResult:
    return CheckResult(True)


@attrs.frozen
class EvaluatorSpec:
    """A plugin's registration of one evaluator.

    Args:
        name: the registry name (letters, digits, ``_``, ``-``).
        factory: called with the user's options to build an evaluator; imports nothing heavy until called.
        summary: one line for ``affectproxy evaluators``.
        requires: import names needed at run time, checked with ``importlib.util.find_spec`` (never imported).
        extra: what to ``pip install`` when something in ``requires`` is missing.
        check: optional callable returning a :class:`CheckResult` (weights present, key set, ...) for the
            default options; ``affectproxy evaluators`` shows it. An evaluator whose options change the answer
            (a ``model=DIR``) also defines ``check()`` on the instance (see :class:`Evaluator`).
    """

    name: str
    factory: Callable[..., Evaluator]
    summary: str = ""
    requires: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    extra: str = ""
    check: Callable[[], CheckResult] = _no_check


GroupBy = Literal["speaker", "recording"]

__all__ = ["CheckResult", "Evaluator", "EvaluatorSpec", "GroupBy"]
