"""One local Ray cluster for the whole test session: 2 CPUs, on 127.0.0.1, no token authentication (it listens on
this machine only). Every worker process registers the ``clustertest`` LLM provider at start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    from affectproxy.cluster.connect import local_only

    local_only()
    import ray

    from affectproxy.cluster.pools import release
    from affectproxy.cluster.testing import register_plugins

    register_plugins()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False,
             runtime_env={"worker_process_setup_hook": "affectproxy.cluster.testing.register_plugins"})
    try:
        yield ray
    finally:
        release()
        ray.shutdown()


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """20 recordings x 3 segments of voiced tones; speakers span recordings."""
    from affectproxy.cluster.testing import synthetic_study

    return synthetic_study(tmp_path_factory.mktemp("synthetic"), recordings=20, per_recording=3)
