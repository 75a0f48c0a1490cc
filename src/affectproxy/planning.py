"""The engine's first step, plan: which (segment, evaluator) pairs are pending, and in which tasks.

A :class:`Task` is one unit of work for an executor: a batch of segments for an ``evaluate`` call, a batch for a
group-wise evaluator's per-segment step (``measure``), one group for its per-group step (``combine``), or one
``requests`` call of an LLM evaluator. Tasks carry everything the execute step needs and nothing of the store.

Resume is one rule for every executor: skip the (segment, fingerprint) pairs already saved. For a group-wise
evaluator, a group is pending when any member lacks an estimate; its members' per-segment results already saved
are never recomputed, and the group step runs once every member has one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs

from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import Evaluator
from affectproxy.hashing import canonical_json, fingerprint_hash
from affectproxy.model import Segment

TaskKind = Literal["batch", "measure", "combine", "llm"]

#: Segments per ``evaluate`` call when the evaluator declares no ``batch_size``.
DEFAULT_BATCH_SIZE = 8


@attrs.frozen
class Recipe:
    """How to build an evaluator again elsewhere (a worker process, a cluster node).

    A worker needs the registry name, the options and the fingerprint hash; :meth:`build` rebuilds the evaluator
    with :func:`affectproxy.get_evaluator` and checks that its fingerprint is the same, so results computed there
    are interchangeable with results computed here. Options must therefore be JSON-serialisable (strings,
    numbers, lists, dicts; paths as strings): that is the rule for plugin authors.

    Attributes:
        type: the registry name.
        options: the factory's keyword options (``name=`` included when given).
        fingerprint: the fingerprint hash the rebuilt evaluator must have.
    """

    type: str
    options: Mapping[str, Any] = attrs.field(factory=dict)
    fingerprint: str = ""

    def to_json(self) -> str:
        """The recipe as JSON (what travels to a worker)."""
        return canonical_json({"type": self.type, "options": dict(self.options), "fingerprint": self.fingerprint})

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        import json

        data = json.loads(text)
        return cls(data["type"], data["options"], data["fingerprint"])

    def build(self) -> Evaluator:
        """Rebuild the evaluator through the registry and check its fingerprint.

        Raises:
            AffectProxyError: the rebuilt evaluator's fingerprint differs (other weights or package versions on
                this machine).
        """
        from affectproxy.registry import get_evaluator

        ev = get_evaluator(self.type, **dict(self.options))
        if self.fingerprint:
            got = fingerprint_hash(ev.fingerprint())
            if got != self.fingerprint:
                raise AffectProxyError(
                    f"Evaluator {ev.name!r} rebuilt here has fingerprint {got}, not {self.fingerprint}: its weights, "
                    "prompt or package versions differ from the driver's. Install the same versions and files on "
                    "every node."
                )
        return ev


def _segments(value: Sequence[Segment]) -> tuple[Segment, ...]:
    return tuple(value)


@attrs.frozen
class Task:
    """One unit of work for an executor.

    Attributes:
        evaluator: the evaluator's instance name.
        kind: ``"batch"`` (an ``evaluate`` call), ``"measure"`` (per-segment step of a group-wise evaluator),
            ``"combine"`` (its per-group step), or ``"llm"`` (a ``requests`` call of an LLM evaluator).
        segments: the segments, in order.
        grouped: True when the segments are a whole group (never split or rerun one by one).
        measures: for ``combine``: segment id -> the per-segment result, for every segment in ``segments``.
    """

    evaluator: str
    kind: TaskKind
    segments: tuple[Segment, ...] = attrs.field(converter=_segments)
    grouped: bool = False
    measures: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def segment_ids(self) -> list[str]:
        return [s.id for s in self.segments]


def group_key(ev: Evaluator) -> Any:
    """The evaluator's grouping function (segment -> key), or None when it does not group.

    Raises:
        AffectProxyError: ``group_by`` is neither ``"speaker"`` nor ``"recording"``.
    """
    group_by = getattr(ev, "group_by", None)
    if group_by is None:
        return None
    if group_by == "speaker":
        return lambda s: s.speaker_or_recording
    if group_by == "recording":
        return lambda s: s.recording.id
    raise AffectProxyError(f"Evaluator {ev.name!r} declares group_by={group_by!r}; use 'speaker' or 'recording'.")


def is_llm(ev: Evaluator) -> bool:
    """Whether the evaluator works through LLM requests (it has ``requests`` and ``read``)."""
    return callable(getattr(ev, "requests", None)) and callable(getattr(ev, "read", None))


def is_incremental(ev: Evaluator) -> bool:
    """Whether a group-wise evaluator splits its work into a per-segment ``measure`` and a per-group ``combine``."""
    return callable(getattr(ev, "measure", None)) and callable(getattr(ev, "combine", None))


def batch_size(ev: Evaluator, override: int | None) -> int:
    """Segments per call: the run's override, else the evaluator's ``batch_size``, else 1 for LLM evaluators and
    :data:`DEFAULT_BATCH_SIZE` for others."""
    size = override or getattr(ev, "batch_size", None) or (1 if is_llm(ev) else DEFAULT_BATCH_SIZE)
    if not isinstance(size, int) or size < 1:
        raise AffectProxyError(f"Evaluator {ev.name!r}: batch_size must be a positive integer, got {size!r}.")
    return size


def chunks(items: Sequence[Segment], size: int) -> Iterator[list[Segment]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def groups(every: Sequence[Segment], key: Any, pending: set[str]) -> dict[Any, list[Segment]]:
    """Whole groups (from every segment of the run, in run order) that contain at least one pending segment."""
    keys = {key(s) for s in every if s.id in pending}
    out: dict[Any, list[Segment]] = {}
    for seg in every:
        k = key(seg)
        if k in keys:
            out.setdefault(k, []).append(seg)
    return out


def plan_tasks(ev: Evaluator, every: Sequence[Segment], done: set[str], measured: set[str], size: int
               ) -> tuple[list[Task], dict[Any, list[Segment]]]:
    """The first tasks for one evaluator, and the pending groups of a group-wise one (key -> members).

    Args:
        ev: the evaluator.
        every: every segment of the run, in order.
        done: segment ids with an estimate under the evaluator's fingerprint.
        measured: segment ids with a saved per-segment result (incremental group-wise evaluators).
        size: segments per call.

    Returns:
        The tasks to start with, and for incremental group-wise evaluators the pending groups, whose ``combine``
        tasks the engine adds once every member is measured (or failed).
    """
    todo = [s for s in every if s.id not in done]
    key = group_key(ev)
    if key is None:
        kind: TaskKind = "llm" if is_llm(ev) else "batch"
        return [Task(ev.name, kind, batch) for batch in chunks(todo, size)], {}
    pending = groups(every, key, {s.id for s in todo})
    if is_llm(ev):
        # speech mode: one requests() call per pending recording, with only its pending segments
        return [Task(ev.name, "llm", [s for s in members if s.id not in done], grouped=True)
                for members in pending.values()], {}
    if not is_incremental(ev):
        return [Task(ev.name, "batch", members, grouped=True) for members in pending.values()], {}
    unmeasured = [s for members in pending.values() for s in members if s.id not in measured]
    return [Task(ev.name, "measure", batch) for batch in chunks(unmeasured, size)], pending


__all__ = ["DEFAULT_BATCH_SIZE", "Recipe", "Task", "batch_size", "group_key", "is_incremental", "is_llm",
           "plan_tasks"]
