"""Confidence routing: a cheap first evaluator decides the easy segments; only the others go to a costly one.

A :class:`Route` names ``first`` (e.g. ``emotion2vec``), ``then`` (e.g. ``gemini``) and ``when``, a rule on the
first evaluator's estimate of each segment that says which segments are routed to ``then``:

==========================  ============================================================================
``"top_probability < 0.6"``  the largest class probability in ``categories`` (normalised to sum to 1)
``"entropy > 1.5"``          the Shannon entropy of ``categories`` in bits (normalised first)
``"confidence < 0.5"``       the estimate's own ``confidence``
a Python callable            ``when(estimate) -> bool`` (API only); its qualified name and a hash of its
                             source are recorded
==========================  ============================================================================

Operators: ``<``, ``<=``, ``>``, ``>=``. A segment is routed when the rule holds, **and also** when the first
evaluator has no estimate for it (it failed) or the estimate lacks what the rule reads (no categories, no
confidence): the cheap model did not decide it.

The rule is part of ``then``'s fingerprint (so results under another rule or another first evaluator are kept
apart), ``then`` runs only on the routed segments, both keep their own names and scales in the results (nothing is
mixed), and the routed set (per segment: routed or not, and the measured value) is recorded in the store
(:func:`routed_set`).

Examples:
    >>> rule = parse_rule("top_probability < 0.6")
    >>> rule.measure(EmotionEstimate("s1", "e2v", {}, categories={"angry": 0.5, "neutral": 0.5}))
    0.5
    >>> rule.selects(EmotionEstimate("s1", "e2v", {}, categories={"angry": 0.9, "neutral": 0.1}))
    False
"""

from __future__ import annotations

import hashlib
import inspect
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError
from affectproxy.model import EmotionEstimate, Segment

MEASURES = ("top_probability", "entropy", "confidence")
_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                   ">=": operator.ge}
_RULE = re.compile(r"^\s*(\w+)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
#: Partials fingerprint prefix under which the routed set is recorded.
RECORD_PREFIX = "routing:"


class RoutingError(AffectProxyError, ValueError):
    """A routing rule or route is malformed."""


def top_probability(est: EmotionEstimate) -> float | None:
    """The largest class probability (normalised to sum to 1), or None without categories."""
    probs = _normalised(est)
    return None if probs is None else max(probs)


def entropy(est: EmotionEstimate) -> float | None:
    """The Shannon entropy of the class probabilities in bits (normalised first), or None without categories."""
    probs = _normalised(est)
    return None if probs is None else float(-sum(p * math.log2(p) for p in probs if p > 0))


def confidence(est: EmotionEstimate) -> float | None:
    """The estimate's own confidence."""
    return est.confidence


def _normalised(est: EmotionEstimate) -> list[float] | None:
    if not est.categories:
        return None
    values = [max(0.0, float(v)) for v in est.categories.values()]
    total = sum(values)
    return None if total <= 0 else [v / total for v in values]


_MEASURE_FNS: dict[str, Callable[[EmotionEstimate], float | None]] = {
    "top_probability": top_probability, "entropy": entropy, "confidence": confidence,
}


@attrs.frozen
class Rule:
    """Which segments go on to ``then`` (see the module docstring).

    Attributes:
        measure_name: ``top_probability``, ``entropy``, ``confidence``, or ``callable``.
        op: the comparison (``<``, ``<=``, ``>``, ``>=``); "" for a callable.
        threshold: the value compared with; NaN for a callable.
        fn: the callable (``estimate -> bool``), for ``measure_name="callable"``.
    """

    measure_name: str
    op: str = ""
    threshold: float = math.nan
    fn: Callable[[EmotionEstimate], bool] | None = attrs.field(default=None, eq=False, repr=False)

    def measure(self, est: EmotionEstimate) -> float | None:
        """The value the rule reads from an estimate (None when it is missing; a callable reads nothing)."""
        if self.fn is not None:
            return None
        return _MEASURE_FNS[self.measure_name](est)

    def selects(self, est: EmotionEstimate | None) -> bool:
        """Whether the segment is routed to ``then``: the rule holds, or there is no estimate or no measure."""
        if est is None:
            return True
        if self.fn is not None:
            return bool(self.fn(est))
        value = self.measure(est)
        return True if value is None else _OPS[self.op](value, self.threshold)

    def with_threshold(self, threshold: float) -> Rule:
        return attrs.evolve(self, threshold=float(threshold))

    def describe(self) -> str:
        if self.fn is not None:
            return f"{_qualname(self.fn)}(estimate)"
        return f"{self.measure_name} {self.op} {self.threshold:g}"

    def fingerprint(self) -> dict[str, Any]:
        """What goes into ``then``'s fingerprint: the rule, or a callable's qualified name and source hash."""
        if self.fn is not None:
            return {"callable": _qualname(self.fn), "source_sha256": _source_hash(self.fn)}
        return {"measure": self.measure_name, "op": self.op, "threshold": self.threshold}


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def _source_hash(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = repr(code.co_code) + repr(code.co_consts) if code is not None else repr(fn)
    return hashlib.sha256(source.encode()).hexdigest()


def parse_rule(when: str | Callable[[EmotionEstimate], bool] | Rule) -> Rule:
    """A :class:`Rule` from ``"top_probability < 0.6"``-style text, a callable, or a Rule.

    Raises:
        RoutingError: the text names no known measure or operator (the message lists them).
    """
    if isinstance(when, Rule):
        return when
    if callable(when):
        return Rule("callable", fn=when)
    if not isinstance(when, str):
        raise RoutingError(f"routing when = {when!r}: give a rule such as \"top_probability < 0.6\" or a callable.")
    match = _RULE.match(when)
    if not match or match.group(1) not in MEASURES:
        raise RoutingError(
            f"routing when = {when!r} is not a rule: write MEASURE OP NUMBER with MEASURE one of "
            f"{', '.join(MEASURES)} and OP one of <, <=, >, >= (e.g. \"top_probability < 0.6\")."
        )
    return Rule(match.group(1), match.group(2), float(match.group(3)))


@attrs.frozen
class Route:
    """A routing plan step: ``then`` runs only on the segments where ``when`` holds for ``first``'s estimate.

    Attributes:
        first: the first evaluator's instance name.
        then: the routed evaluator's instance name.
        when: the rule (text or callable; see the module docstring).
    """

    first: str
    then: str
    when: Rule = attrs.field(converter=parse_rule)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], source: str = "<routing>") -> Route:
        """Read ``{"first": ..., "then": ..., "when": ...}`` (a study file's ``[routing]`` table).

        Raises:
            RoutingError: a missing or unknown key, or a malformed rule (naming ``source``).
        """
        keys = ("first", "then", "when")
        unknown = [k for k in table if k not in keys]
        missing = [k for k in keys if k not in table]
        if unknown or missing:
            what = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
            raise RoutingError(f"{source}: [routing] {what}; it takes first, then and when, e.g. first = "
                               "\"emotion2vec\", then = \"gemini\", when = \"top_probability < 0.6\".")
        try:
            return cls(str(table["first"]), str(table["then"]), table["when"])
        except RoutingError as exc:
            raise RoutingError(f"{source}: {exc}") from None


class _Neighbours:
    """A request context whose neighbours come from every segment of the run (not only the routed ones); the
    whole-recording audio comes from the engine's context."""

    def __init__(self, near: Mapping[str, tuple[Segment | None, Segment | None]], inner: Any) -> None:
        self._near = near
        self._inner = inner

    def neighbours(self, segment: Segment) -> tuple[Segment | None, Segment | None]:
        return self._near.get(segment.id, (None, None))

    def recording_audio(self, recording_id: str) -> Any:
        return self._inner.recording_audio(recording_id)


def _neighbour_map(every: Sequence[Segment]) -> dict[str, tuple[Segment | None, Segment | None]]:
    by_rec: dict[str, list[Segment]] = {}
    for seg in every:
        by_rec.setdefault(seg.recording.id, []).append(seg)
    near: dict[str, tuple[Segment | None, Segment | None]] = {}
    for segs in by_rec.values():
        segs = sorted(segs, key=lambda s: (s.start, s.end))
        for i, seg in enumerate(segs):
            near[seg.id] = (segs[i - 1] if i else None, segs[i + 1] if i + 1 < len(segs) else None)
    return near


class RoutedEvaluator:
    """``then`` restricted to routed segments: the same name, dimensions and behaviour, with the rule (and the
    first evaluator's name and fingerprint) added to its fingerprint. Attribute lookups go to ``then``. An LLM
    evaluator's requests get the neighbours of each segment from ``every`` segment of the run, routed or not.
    """

    def __init__(self, then: Any, route: Route, first_fingerprint: str, every: Sequence[Segment] = ()) -> None:
        self._then = then
        self.name: str = str(then.name)
        self.route = route
        self.first_fingerprint = first_fingerprint
        self._near = _neighbour_map(every)

    def requests(self, segments: Sequence[Segment], context: Any) -> Any:
        """``then``'s requests, with neighbours from every segment of the run."""
        near = self._near or _neighbour_map(segments)
        return self._then.requests(segments, _Neighbours(near, context))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_then":
            raise AttributeError(name)
        return getattr(self._then, name)

    def fingerprint(self) -> dict[str, Any]:
        return {**self._then.fingerprint(),
                "routing": {"first": self.route.first, "first_fingerprint": self.first_fingerprint,
                            "when": self.route.when.fingerprint()}}

    def __repr__(self) -> str:
        return f"RoutedEvaluator({self._then!r}, when={self.route.when.describe()!r})"


def select(segments: Sequence[Segment], estimates: Mapping[str, EmotionEstimate], rule: Rule
           ) -> dict[str, dict[str, Any]]:
    """Per segment id: ``{"routed": bool, "measure": value or None}`` for the first evaluator's estimates."""
    out = {}
    for seg in segments:
        est = estimates.get(seg.id)
        value = None if est is None else rule.measure(est)
        out[seg.id] = {"routed": rule.selects(est), "measure": value, "first_estimate": est is not None}
    return out


def routed_set(store: Any, then_fingerprint: str) -> dict[str, dict[str, Any]]:
    """The recorded routing decisions for a routed evaluator (its fingerprint hash): segment id -> record."""
    from affectproxy.store import Store

    db = store if isinstance(store, Store) else Store(store)
    try:
        return db.partials(RECORD_PREFIX + then_fingerprint)
    finally:
        if db is not store:
            db.close()


def evaluate_routed(segments: Sequence[Segment], evaluators: Any, route: Route | Mapping[str, Any], *,
                    store: Any = None, **options: Any) -> Any:
    """Run ``evaluators`` with a routing step: every evaluator but ``route.then`` runs on every segment; then
    ``then`` runs only on the segments the rule selects from ``route.first``'s estimates.

    Args:
        segments, store, options: as for :func:`affectproxy.evaluate` (``options`` are passed on).
        evaluators: as for ``evaluate``; must include ``route.first`` and ``route.then`` (by instance name).
        route: a :class:`Route` or a mapping with first, then and when.

    Returns:
        :class:`~affectproxy.Results` over every segment and evaluator (``then`` has estimates only for the
        routed segments); ``results.routing`` holds the decisions (segment id -> record) and
        ``results.summary`` one line per evaluator.

    Raises:
        RoutingError: ``first`` or ``then`` is not among the evaluators, or they are the same.
    """
    from affectproxy.engine import evaluate, resolve
    from affectproxy.hashing import fingerprint_hash
    from affectproxy.results import Results
    from affectproxy.store import Store

    if not isinstance(route, Route):
        route = Route.from_mapping(route)
    built = [ev for ev, _ in resolve(evaluators)]
    names = [ev.name for ev in built]
    for role in ("first", "then"):
        if getattr(route, role) not in names:
            raise RoutingError(f"routing {role} = {getattr(route, role)!r} is not one of the run's evaluators "
                               f"({', '.join(names)}); use an evaluator's name.")
    if route.first == route.then:
        raise RoutingError(f"routing first and then are both {route.first!r}; give two evaluators.")
    segments = list(segments)
    db = store if isinstance(store, Store) else Store(store)
    try:
        others = [ev for ev in built if ev.name != route.then]
        then = next(ev for ev in built if ev.name == route.then)
        res1 = evaluate(segments, others, store=db, **options)
        first = next(ev for ev in others if ev.name == route.first)
        first_fp = fingerprint_hash(first.fingerprint())
        estimates = {e.segment_id: e for e in db.estimates(first_fp)}
        decisions = select(segments, estimates, route.when)
        routed_ev = RoutedEvaluator(then, route, first_fp, segments)
        then_fp = fingerprint_hash(routed_ev.fingerprint())
        db.put_partials(RECORD_PREFIX + then_fp, decisions)
        chosen = [s for s in segments if decisions[s.id]["routed"]]
        summary = list(res1.summary)
        fps = [fingerprint_hash(ev.fingerprint()) for ev in others]
        if chosen:
            res2 = evaluate(chosen, [routed_ev], store=db, **options)
            summary += list(res2.summary)
        else:
            db.put_evaluator(routed_ev.name, routed_ev.fingerprint(), routed_ev.dimensions)
        res = Results.from_store(db, segments=segments, fingerprints=[*fps, then_fp])
        res.summary = summary
        res.routing = decisions  # type: ignore[attr-defined]
        return res
    finally:
        if db is not store:
            db.close()


__all__ = [
    "MEASURES",
    "RECORD_PREFIX",
    "Route",
    "RoutedEvaluator",
    "RoutingError",
    "Rule",
    "confidence",
    "entropy",
    "evaluate_routed",
    "parse_rule",
    "routed_set",
    "select",
    "top_probability",
]
