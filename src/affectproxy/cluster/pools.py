"""Warm actor pools: worker actors kept for the Ray session, by resource shape.

Starting a worker process costs seconds (Python, Ray, affectproxy and the plugins are imported), more than most
tasks. So the driver keeps its CPU actors between evaluators and between runs of the same session (a notebook, a
test session) and loads each evaluator into them; GPU actors are released at the end of each run so an idle
study never holds a GPU. :func:`release` stops them all.
"""

from __future__ import annotations

from typing import Any

import attrs

from affectproxy.cluster.connect import import_ray


@attrs.frozen
class Shape:
    """What one actor reserves, and how many tasks it runs at once."""

    num_cpus: float = 0.5
    num_gpus: float = 0.0
    memory: int | None = None
    concurrency: int = 1


_POOLS: dict[Shape, list[Any]] = {}
_SESSION: dict[str, Any] = {"id": None}


def _session() -> None:
    ray = import_ray()
    current = ray.get_runtime_context().get_job_id()
    if _SESSION["id"] != current:
        _POOLS.clear()
        _SESSION["id"] = current


def _new(shape: Shape) -> Any:
    ray = import_ray()
    from affectproxy.cluster.workers import Worker

    options: dict[str, Any] = {"num_cpus": shape.num_cpus, "num_gpus": shape.num_gpus,
                               "max_concurrency": shape.concurrency}
    if shape.memory:
        options["memory"] = shape.memory
    return ray.remote(Worker).options(**options).remote()


def take(shape: Shape, n: int) -> list[Any]:
    """``n`` actors of ``shape`` (the warm ones first). Warm actors of other shapes are idle (evaluators run one
    after the other): they are stopped when the cluster has no room for the new ones beside them.

    Raises:
        ClusterError: the whole cluster is too small for ``n`` such actors.
    """
    ray = import_ray()
    from affectproxy.cluster.connect import ClusterError

    _session()
    pool = _POOLS.setdefault(shape, [])
    more = n - len(pool)
    if more > 0:
        total = ray.cluster_resources()
        for what, each in (("CPU", shape.num_cpus), ("GPU", shape.num_gpus)):
            if each and n * each > total.get(what, 0) + 1e-9:
                raise ClusterError(
                    f"{n} actors with {what.lower()}s={each} need {n * each:g} {what}s; the cluster has "
                    f"{total.get(what, 0):g}. Ask for fewer actors or less per actor (the evaluator's ray options), "
                    "or add nodes."
                )
        free = ray.available_resources()
        if any(more * each > free.get(what, 0) + 1e-9 for what, each in (("CPU", shape.num_cpus),
                                                                         ("GPU", shape.num_gpus)) if each):
            for other in [k for k in _POOLS if k != shape]:
                for actor in _POOLS.pop(other):
                    _kill(actor)
    while len(pool) < n:
        pool.append(_new(shape))
    return pool[:n]


def _kill(actor: Any) -> None:
    ray = import_ray()
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone
        pass


def replace(shape: Shape, actor: Any) -> Any:
    """A fresh actor in place of one that died (or is stuck)."""
    _session()
    pool = _POOLS.setdefault(shape, [])
    fresh = _new(shape)
    for i, a in enumerate(pool):
        if a == actor:
            pool[i] = fresh
            break
    else:
        pool.append(fresh)
    _kill(actor)
    return fresh


def release(gpu_only: bool = False) -> None:
    """Stop the warm actors (only those that reserve GPUs when ``gpu_only``)."""
    ray = import_ray()
    if not ray.is_initialized():
        _POOLS.clear()
        return
    for shape in list(_POOLS):
        if gpu_only and not shape.num_gpus:
            continue
        for actor in _POOLS.pop(shape):
            _kill(actor)


__all__ = ["Shape", "release", "replace", "take"]
