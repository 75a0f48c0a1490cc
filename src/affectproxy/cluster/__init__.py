"""Run studies on a Ray cluster: ``ap.evaluate(..., engine="ray", address=None)``.

Nothing here is imported by ``import affectproxy``, and Ray is imported only inside functions (install it with
``pip install "affectproxy[ray]"``). The modules:

- :mod:`affectproxy.cluster.engine`: the driver (plan, dispatch to actor pools, save; one writer).
- :mod:`affectproxy.cluster.workers`: the actors that rebuild an evaluator once and execute tasks.
- :mod:`affectproxy.cluster.outputs`: the Parquet dataset per evaluator, written by workers as tasks finish.
- :mod:`affectproxy.cluster.llm`: one rate limiter and cache for the whole cluster (a named actor).
- :mod:`affectproxy.cluster.connect`: joining or starting a cluster; checking every node reaches the files.
- :mod:`affectproxy.cluster.testing`: a slow acoustic evaluator with its own call log and a local LLM provider,
  for tests and benchmarks.
"""

from __future__ import annotations

from typing import Any


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """See :func:`affectproxy.cluster.engine.evaluate_on_ray`."""
    from affectproxy.cluster.engine import evaluate_on_ray

    return evaluate_on_ray(*args, **kwargs)


__all__ = ["evaluate"]
