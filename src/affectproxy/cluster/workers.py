"""The actors of a cluster run: each rebuilds its evaluator once (from a :class:`~affectproxy.planning.Recipe`,
checking the fingerprint), then executes tasks with the engine's own execute step and writes each finished task's
results to the evaluator's Parquet dataset before it reports back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import Evaluator
from affectproxy.execution import Execution, Readers
from affectproxy.hashing import fingerprint_hash
from affectproxy.model import Segment
from affectproxy.planning import Recipe, Task, is_llm


def rebuild(recipe: str | None, instance: Evaluator | None, fingerprint: str) -> Evaluator:
    """The evaluator from its recipe (JSON), else the instance shipped by the driver; its fingerprint checked.

    Raises:
        AffectProxyError: the rebuilt evaluator's fingerprint differs from the driver's.
    """
    if recipe is not None:
        return Recipe.from_json(recipe).build()
    if instance is None:
        raise AffectProxyError("A worker got neither a recipe nor an evaluator to run.")
    got = fingerprint_hash(instance.fingerprint())
    if got != fingerprint:
        raise AffectProxyError(
            f"Evaluator {instance.name!r} on this node has fingerprint {got}, not {fingerprint}: install the same "
            "versions and files on every node."
        )
    return instance


class Loaded:
    """One evaluator loaded in a worker: rebuilt once, then executing tasks and writing their results.

    Args:
        recipe: the evaluator's recipe as JSON, or None when ``instance`` is shipped instead.
        instance: the evaluator object (for evaluators built by hand, without a registry name).
        fingerprint: the fingerprint hash the evaluator must have.
        every: every segment of the run (LLM context: neighbours within a recording).
        output: the evaluator's Parquet dataset folder.
        audio_hint: appended to "no audio file" messages.
        hub: the run's :class:`~affectproxy.cluster.llm.LLMHub` actor (None when no evaluator needs it).
        llm: the run's LLM options.
        max_cost: the run's budget in USD (held by the hub; None: no limit).
    """

    def __init__(self, recipe: str | None, instance: Evaluator | None, fingerprint: str, every: Sequence[Segment],
                 output: str, audio_hint: str = "", hub: Any = None, llm: Mapping[str, Any] | None = None,
                 max_cost: float | None = None) -> None:
        self.ev = rebuild(recipe, instance, fingerprint)
        self.fp = fingerprint
        self.output = Path(output)
        self.by_id = {s.id: s for s in every}
        layer = None
        if hub is not None:
            from affectproxy.cluster.llm import ClusterLayer, HubStore

            if is_llm(self.ev):
                layer = ClusterLayer(hub, llm, max_cost)
            if callable(getattr(self.ev, "use_cache", None)):
                from affectproxy.cache import ResponseCache

                self.ev.use_cache(ResponseCache(HubStore(hub)))  # type: ignore[attr-defined, arg-type]
        self.layer = layer
        self.execution = Execution(self.ev, fingerprint, Readers(), list(every), layer, audio_hint)

    def run(self, task: Task) -> dict[str, Any]:
        from affectproxy.cluster.outputs import rows_of, write_rows

        outcome = self.execution(task)
        rows = rows_of(self.fp, self.by_id, outcome.estimates, outcome.failures, outcome.measures, uuid.uuid4().hex)
        files = write_rows(self.output, self.fp, rows) if rows else []
        return {"files": files, "stop": outcome.stop}

    def close(self) -> None:
        self.execution.readers.close()
        if self.layer is not None:
            self.layer.close()


class Worker:
    """A Ray actor (wrapped with ``ray.remote`` by the driver) that holds loaded evaluators: each is rebuilt once
    per actor (its model loads once, on the first task) and then runs many tasks. Actors outlive one evaluator
    (and, in a notebook or a test session, one run), since starting a worker process costs seconds."""

    def __init__(self) -> None:
        self._loaded: dict[str, Loaded] = {}

    def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    def load(self, key: str, *args: Any) -> int:
        """Rebuild an evaluator under ``key`` (arguments of :class:`Loaded`); returns the process id."""
        if key not in self._loaded:
            self._loaded[key] = Loaded(*args)
        return os.getpid()

    def unload(self, key: str) -> None:
        """Forget an evaluator (its model memory is freed)."""
        loaded = self._loaded.pop(key, None)
        if loaded is not None:
            loaded.close()

    def run(self, key: str, task: Task) -> dict[str, Any]:
        """Execute one task and write its results; returns the files written and a stop message ('' if none)."""
        return self._loaded[key].run(task)


def probe(paths: Sequence[str], output: str, token: str) -> dict[str, Any]:
    """On one node: which audio files it cannot read, and whether it can write into ``output`` (it leaves a file
    named ``token`` there, which the driver must then see: the output must be storage every node shares)."""
    import socket

    missing = [p for p in paths if not os.access(p, os.R_OK)]
    wrote = ""
    try:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / token).write_text(socket.gethostname())
    except OSError as exc:
        wrote = f"{type(exc).__name__}: {exc}"
    return {"missing": missing, "write_error": wrote}


__all__ = ["Loaded", "Worker", "probe", "rebuild"]
