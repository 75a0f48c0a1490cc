"""The cluster driver: the same plan and save steps as the local engine, with the execute step on Ray actors.

- **plan**: exactly the local engine's (:func:`affectproxy.planning.plan_tasks`: skip the (segment, fingerprint)
  pairs already saved), then sharded by recording: a task never mixes recordings, unless it is a whole group.
- **execute**: one actor pool per evaluator; each actor rebuilds the evaluator once from its
  :class:`~affectproxy.planning.Recipe` (fingerprint checked) and writes each finished task to the evaluator's
  Parquet dataset (:mod:`affectproxy.cluster.outputs`). Group-wise evaluators with ``measure``/``combine``: measures
  on the actors; ``combine`` once the whole group is measured, over all its members (across recordings).
  LLM evaluators: threaded actors under one cluster-wide limiter and budget (:mod:`affectproxy.cluster.llm`).
- **save**: this driver is the one writer: it fills the SQLite store from each task's Parquet files the moment
  the task finishes, and moves paid LLM responses and call-log rows from the hub into the store as they come.

A worker that dies loses only its unfinished tasks: the driver sends them to a fresh actor (twice at most; a task
that kills two workers is recorded as failed). A rerun first imports what an interrupted run wrote to Parquet but
had not saved, then computes only what is missing.
"""

from __future__ import annotations

import math
import tempfile
import uuid
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from affectproxy.cluster.connect import ClusterError, check_nodes, connect, import_ray
from affectproxy.cluster.outputs import decode, evaluator_dir, files_of, read_rows
from affectproxy.cluster.pools import Shape, release, replace, take
from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import Evaluator
from affectproxy.model import Segment
from affectproxy.planning import Recipe, Task, chunks, group_key, is_incremental, is_llm, plan_tasks
from affectproxy.planning import batch_size as _batch_size
from affectproxy.results import Results
from affectproxy.store import Failure, Store

#: Keys of an evaluator's ``ray`` options (``{"type": "emotion2vec", "ray": {"num_gpus": 1, "actors": 4}}``).
RESOURCE_KEYS = ("actors", "num_cpus", "num_gpus", "concurrency", "memory")
#: How often a task is sent again after the worker running it died.
MAX_ATTEMPTS = 2


@attrs.frozen
class Resources:
    """An evaluator's actor pool.

    Attributes:
        actors: actors in the pool (default: one per CPU of the cluster, or per GPU for GPU evaluators; at most
            one per task; 2 for LLM evaluators).
        num_cpus: CPUs each actor reserves (fractional: 0.5 by default, so the pool never starves Ray's own tasks).
        num_gpus: GPUs each actor reserves (0 by default, 1 when the evaluator's ``device`` option is ``cuda...``;
            0.5 puts two actors on one GPU).
        concurrency: tasks in flight per actor (2 for acoustic evaluators, so the next task waits on the actor;
            for LLM evaluators the run's ``max_in_flight`` spread over the actors).
        memory: bytes of memory each actor reserves (None: not reserved).
    """

    actors: int | None = None
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    concurrency: int | None = None
    memory: int | None = None

    @classmethod
    def from_mapping(cls, name: str, options: Mapping[str, Any] | None) -> Resources:
        options = dict(options or {})
        bad = sorted(set(options) - set(RESOURCE_KEYS))
        if bad:
            raise AffectProxyError(
                f"Evaluator {name!r}: unknown ray option {bad[0]!r}; use {', '.join(RESOURCE_KEYS)}."
            )
        return cls(**options)


def _split_ray_options(evaluators: Any) -> tuple[list[Any], dict[int, Mapping[str, Any]]]:
    if isinstance(evaluators, (str, Mapping)) or not isinstance(evaluators, Sequence):
        evaluators = [evaluators]
    plain, extra = [], {}
    for i, ev in enumerate(evaluators):
        if isinstance(ev, Mapping) and "ray" in ev:
            extra[i] = ev["ray"]
            ev = {k: v for k, v in ev.items() if k != "ray"}
        plain.append(ev)
    return plain, extra


def shard(tasks: Sequence[Task], size: int) -> list[Task]:
    """Re-cut the tasks that are not whole groups so that each holds segments of one recording only."""
    out = [t for t in tasks if t.grouped]
    loose = [t for t in tasks if not t.grouped]
    if not loose:
        return out
    kind = loose[0].kind
    by_rec: dict[str, list[Segment]] = {}
    for t in loose:
        for seg in t.segments:
            by_rec.setdefault(seg.recording.id, []).append(seg)
    for segs in by_rec.values():
        out += [Task(loose[0].evaluator, kind, batch) for batch in chunks(segs, size)]
    return out


def _default_output(db: Store) -> Path:
    if db.path is None:
        return Path(tempfile.mkdtemp(prefix="affectproxy-ray-"))
    return db.path.with_name(db.path.stem + ".parquet")


def import_unsaved(db: Store, folder: Path, fp: str) -> set[str]:
    """Save into the store what workers wrote to Parquet but no driver saved (a run stopped in between, a worker
    that died before reporting); returns the ids of the estimates added."""
    files = files_of(folder, fp)
    if not files:
        return set()
    estimates, _failures, measures = decode(read_rows(files, fp))
    done = db.done(fp)
    new = [e for e in estimates if e.segment_id not in done]
    measured = set(db.partials(fp))
    missing = {k: v for k, v in measures.items() if k not in measured}
    if missing:
        db.put_partials(fp, missing)
    if new:
        db.commit(fp, new, [])
    return {e.segment_id for e in new}


@attrs.define
class _Pool:
    """One evaluator's actors, their load, and the driver loop that feeds them and saves what they finish."""

    ev: Evaluator
    fp: str
    db: Store
    folder: Path
    shape: Shape
    depth: int
    load_args: tuple[Any, ...]
    size: int
    hub: Any
    bar: Any
    todo: set[str]
    key: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    actors: list[Any] = attrs.field(factory=list)
    load: list[int] = attrs.field(factory=list)
    saved: set[str] = attrs.field(factory=set)
    stopped: str = ""

    @property
    def new(self) -> int:
        """Estimates this run saved for segments that had none."""
        return len(self.saved)

    def start(self) -> None:
        self.actors = take(self.shape, self.size)
        self.load = [0] * self.size
        self._load_into(self.actors)

    def _load_into(self, actors: list[Any]) -> None:
        ray = import_ray()
        try:
            ray.get([a.load.remote(self.key, *self.load_args) for a in actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise ClusterError(f"Evaluator {self.ev.name!r} could not be built on a worker: {_cause(exc)}") from None

    def close(self) -> None:
        for a in self.actors:
            try:
                a.unload.remote(self.key)
            except Exception:  # a dead actor: nothing to free
                pass
        self.actors = []

    def run(self, tasks: list[Task], groups: dict[Any, list[Segment]]) -> None:
        ray = import_ray()
        queue: deque[tuple[Task, int]] = deque((t, 1) for t in tasks)
        waiting: dict[Any, set[str]] = {}
        key = group_key(self.ev)
        if groups:
            measured = set(self.db.partials(self.fp, [s.id for m in groups.values() for s in m]))
            for k, members in groups.items():
                waiting[k] = {s.id for s in members if s.id not in measured}
                if not waiting[k]:
                    queue.append((self._combine(members), 1))
        in_flight: dict[Any, tuple[Task, int, Any]] = {}

        def finished(task: Task, ids: set[str]) -> None:
            if task.kind != "measure":
                return
            for seg in task.segments:
                if seg.id not in ids:
                    continue
                k = key(seg)
                if k not in waiting:
                    continue
                waiting[k].discard(seg.id)
                if not waiting[k]:
                    del waiting[k]
                    queue.append((self._combine(groups[k]), 1))

        while queue or in_flight:
            while queue and not self.stopped:
                slot = min(range(len(self.actors)), key=self.load.__getitem__)
                if self.load[slot] >= self.depth:
                    break
                task, attempt = queue.popleft()
                actor = self.actors[slot]
                in_flight[actor.run.remote(self.key, task)] = (task, attempt, actor)
                self.load[slot] += 1
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.25)
            self.drain()
            for ref in ready:
                task, attempt, actor = in_flight.pop(ref)
                current = next((i for i, a in enumerate(self.actors) if a == actor), None)
                if current is not None:
                    self.load[current] -= 1
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the execute step itself broke: fail the task's segments
                    self._fail(task, f"{type(exc.cause).__name__}: {exc.cause}")
                except ray.exceptions.RayError as exc:  # the worker died (killed, out of memory, node lost)
                    if current is not None:
                        self._replace(current)
                    rest = self._lost(task)
                    finished(task, {s.id for s in task.segments} - {s.id for s in rest.segments})
                    if not rest.segments:
                        continue
                    if attempt < MAX_ATTEMPTS:
                        queue.appendleft((rest, attempt + 1))
                        continue
                    self._fail(rest, f"the worker running it died {attempt} times ({type(exc).__name__}); "
                                     "check the segment's audio and the node's memory")
                    task = rest
                else:
                    self._save(task, result["files"])
                    if result["stop"] and not self.stopped:
                        self.stopped = result["stop"]
                finished(task, {s.id for s in task.segments})
        self.drain()

    def _lost(self, task: Task) -> Task:
        """What of a task whose worker died is still to do: its results written before the death are saved
        (imported from the dataset), never recomputed."""
        imported = import_unsaved(self.db, self.folder, self.fp)
        self.saved |= imported & self.todo
        if task.kind == "combine" or task.grouped:
            return task
        ids = [s.id for s in task.segments]
        have = set(self.db.partials(self.fp, ids)) if task.kind == "measure" else self.db.done(self.fp)
        rest = [s for s in task.segments if s.id not in have]
        self.bar.update(sum(s.id in self.todo for s in task.segments if s.id in have))
        return attrs.evolve(task, segments=rest)

    def drain(self) -> None:
        if self.hub is None:
            return
        from affectproxy.cluster.llm import save_drained

        ray = import_ray()
        save_drained(self.db, ray.get(self.hub.drain.remote()))

    def _replace(self, slot: int) -> None:
        self.actors[slot] = replace(self.shape, self.actors[slot])
        self.load[slot] = 0
        self._load_into([self.actors[slot]])

    def _combine(self, members: list[Segment]) -> Task:
        measures = self.db.partials(self.fp, [s.id for s in members])
        return Task(self.ev.name, "combine", [s for s in members if s.id in measures], grouped=True,
                    measures=measures)

    def _fail(self, task: Task, why: str) -> None:
        from affectproxy.execution import where

        fails = [Failure(s.id, self.ev.name, self.fp, "WorkerError", f"{self.ev.name} on {where(s)}: {why}")
                 for s in task.segments]
        self.db.commit(self.fp, [], fails)
        if task.kind != "combine":
            self.bar.update(sum(s.id in self.todo for s in task.segments))

    def _save(self, task: Task, files: list[str]) -> None:
        estimates, failures, measures = decode(read_rows(files))
        if measures:
            self.db.put_partials(self.fp, measures)
        if estimates or failures:
            self.db.commit(self.fp, estimates, failures)
        self.saved |= {e.segment_id for e in estimates} & self.todo
        if task.kind != "combine":
            self.bar.update(sum(s.id in self.todo for s in task.segments))


def _cause(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _pool_shape(ev: Evaluator, res: Resources, n_tasks: int, llm: Mapping[str, Any] | None
                ) -> tuple[int, Shape, int]:
    """How many actors, what each reserves and runs at once, and how many tasks each has in flight (queued on
    the actor, so it never waits for the driver)."""
    ray = import_ray()
    total = ray.cluster_resources()
    if is_llm(ev):
        from affectproxy.llm.config import LLMConfig

        actors = res.actors or 2
        in_flight = LLMConfig.from_mapping(llm or {}).max_in_flight
        per = res.concurrency or max(1, math.ceil(in_flight / actors))
        return actors, Shape(res.num_cpus, res.num_gpus, res.memory, per), per
    if res.actors:
        actors = res.actors
    elif res.num_gpus:
        actors = max(1, int(total.get("GPU", 0) / res.num_gpus))
    else:
        actors = max(1, int(total.get("CPU", 1)))
    return max(1, min(actors, n_tasks)), Shape(res.num_cpus, res.num_gpus, res.memory, 1), res.concurrency or 2


def _wants_cuda(ev: Evaluator, recipe: Recipe | None) -> bool:
    """Whether the evaluator was asked to run on a CUDA device (its ``device`` option or attribute): its actors then
    reserve one GPU each unless the ray options say otherwise (Ray hides GPUs from actors that reserve none)."""
    device = (recipe.options.get("device") if recipe is not None else None) or getattr(ev, "device", None)
    return str(device or "").startswith("cuda")


def _recipe_json(recipe: Recipe | None, fp: str) -> str | None:
    """The recipe a worker rebuilds the evaluator from, or None when the evaluator must travel as an object (built
    by hand, or with options that are not JSON such as a Path: plugin authors should accept strings)."""
    if recipe is None:
        return None
    try:
        return attrs.evolve(recipe, fingerprint=fp).to_json()
    except (TypeError, ValueError):
        return None


def evaluate_on_ray(
    segments: Sequence[Segment],
    evaluators: Any,
    *,
    store: str | Path | Store | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    llm: Mapping[str, Any] | None = None,
    replace_changed: bool = False,
    audio_hint: str = "",
    address: str | None = None,
    output: str | Path | None = None,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    rate_window: float = 60.0,
    max_cost: float | None = None,
) -> Results:
    """Run evaluators over segments on a Ray cluster; the same results, store and resume rule as the local engine.

    Args:
        segments, evaluators, store, batch_size, progress, llm, replace_changed, audio_hint: as for
            :func:`affectproxy.evaluate`. An evaluator mapping may carry a ``ray`` table of :class:`Resources`
            (``{"type": "emotion2vec", "ray": {"num_gpus": 1}}``).
        address: the cluster (``"auto"``, ``"ray://head:10001"``); None joins the Ray already started in this
            process, else starts a local one.
        output: the folder of the Parquet datasets (default: next to the store, ``<store stem>.parquet``); must be
            storage every node shares.
        resources: evaluator name -> :class:`Resources` options (overrides a mapping's ``ray`` table).
        rate_window: the LLM rate window in seconds (60: requests and tokens per minute).
        max_cost: the budget in USD for the run's paid LLM calls, over the whole cluster (None: no limit).

    Returns:
        :class:`~affectproxy.results.Results` read from the store, with ``summary``.

    Raises:
        ClusterError: no cluster at ``address``; a node cannot read the audio or write the output; an evaluator
            cannot be rebuilt on a worker (other versions installed there).
        MissingDependencyError: Ray is not installed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    from affectproxy.engine import RunSummary, check_unique_ids, preflight, resolve, warn_failures

    ray = import_ray()
    segments = list(segments)
    check_unique_ids(segments)
    plain, ray_options = _split_ray_options(evaluators)
    built = resolve(plain)
    preflight([ev for ev, _ in built], llm)  # before the cluster starts
    started = connect(address)
    db = store if isinstance(store, Store) else Store(store)
    out_dir = Path(output) if output is not None else _default_output(db)
    hub = None
    summaries: list[RunSummary] = []
    fingerprints: list[str] = []
    try:
        db.put_segments(segments, replace=replace_changed)
        if any(ev.sample_rate is not None for ev, _ in built):
            check_nodes([s.recording.path for s in segments if s.recording.path], out_dir)
        else:
            check_nodes([], out_dir)
        if any(is_llm(ev) or callable(getattr(ev, "use_cache", None)) for ev, _ in built):
            from affectproxy.cluster.llm import LLMHub

            hub = ray.remote(LLMHub).options(num_cpus=0, max_concurrency=1000,
                                             name=f"affectproxy-llm-hub-{uuid.uuid4().hex[:12]}").remote(
                llm, db.cache_items(), rate_window, max_cost)
        every = ray.put(segments)
        for i, (ev, recipe) in enumerate(built):
            fp = db.put_evaluator(ev.name, ev.fingerprint(), ev.dimensions)
            fingerprints.append(fp)
            given = (resources or {}).get(ev.name, ray_options.get(i))
            res = Resources.from_mapping(ev.name, given)
            if "num_gpus" not in (given or {}) and _wants_cuda(ev, recipe):
                res = attrs.evolve(res, num_gpus=1.0)
            folder = evaluator_dir(out_dir, ev.name)
            import_unsaved(db, folder, fp)
            done = db.done(fp)
            todo = {s.id for s in segments if s.id not in done}
            measured = set(db.partials(fp)) if is_incremental(ev) else set()
            size = _batch_size(ev, batch_size)
            tasks, groups = plan_tasks(ev, segments, done, measured, size)
            tasks = shard(tasks, size)
            actors, shape, depth = _pool_shape(ev, res, max(1, len(tasks) + len(groups)), llm)
            recipe_json = _recipe_json(recipe, fp)
            load_args = (recipe_json, ev if recipe_json is None else None, fp, every, str(folder), audio_hint, hub, llm,
                         max_cost)
            with tqdm(total=len(segments), initial=len(segments) - len(todo), desc=ev.name, unit="seg",
                      disable=not progress, leave=True) as bar:
                pool = _Pool(ev, fp, db, folder, shape, depth, load_args, actors, hub, bar, todo)
                if tasks or groups:
                    pool.start()
                    try:
                        pool.run(tasks, groups)
                    finally:
                        pool.close()
            after = db.done(fp)
            failures = [f for f in db.failures(fp) if f.segment_id in todo and f.segment_id not in after]
            summaries.append(RunSummary(ev.name, len(segments), pool.new, len(segments) - len(todo), len(failures),
                                        failures[0].message if failures else "", pool.stopped))
        results = Results.from_store(db, segments=segments, fingerprints=fingerprints)
        results.summary = summaries
    finally:
        if hub is not None:
            ray.kill(hub)
        release(gpu_only=True)
        if not isinstance(store, Store):
            db.close()
        if started:
            ray.shutdown()
    warn_failures(summaries, stacklevel=4)
    return results


__all__ = ["MAX_ATTEMPTS", "Resources", "evaluate_on_ray", "import_unsaved", "shard"]
