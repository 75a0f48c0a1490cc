"""Joining a Ray cluster (or starting a local one) and checking, before the first task, that every node reaches
the audio and the output location.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affectproxy.errors import AffectProxyError, MissingDependencyError


class ClusterError(AffectProxyError):
    """The cluster cannot run the study (a node misses the audio or the output location, no cluster found)."""


def import_ray() -> Any:
    """``import ray``, or a one-line MissingDependencyError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            'engine="ray" needs Ray: pip install "affectproxy[ray]" (or pip install "ray[data]>=2.60").'
        ) from exc
    return ray


def local_only() -> None:
    """Make a Ray started by this process listen on 127.0.0.1 only, without token authentication (nothing
    outside this machine can reach it). Ray otherwise replaces 127.0.0.1 by the machine's address; the switch is
    read when Ray is imported, so it is also set on Ray's constants when Ray is already imported."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]


def connect(address: str | None) -> bool:
    """Connect to the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``), or start a
    local one when ``address`` is None and none is running in this process. Returns True when this call started
    (and so must stop) Ray.

    Raises:
        ClusterError: no cluster answers at ``address``.
    """
    if address is None:
        local_only()
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                     _node_ip_address="127.0.0.1")
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        raise ClusterError(
            f"No Ray cluster answers at {address!r}: {exc}. Start one (ray start --head, ray up cluster.yaml) or "
            "check the address (ray status on the head node prints it)."
        ) from exc
    return True


def check_nodes(audio: Sequence[str], output: Path) -> None:
    """Run a probe on every alive node: can it read every audio file, and write into ``output`` so that this
    machine sees the file?

    Raises:
        ClusterError: one line per node that cannot, naming the node, the first missing file and the fix.
    """
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from affectproxy.cluster.workers import probe

    local = sorted({p for p in audio if p and "://" not in p})
    probe_dir = output / ".probes"
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    remote = ray.remote(num_cpus=0)(probe)
    refs = {}
    for node in nodes:
        token = f"{node['NodeID'][:12]}-{uuid.uuid4().hex[:8]}"
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        refs[token] = (node, remote.options(scheduling_strategy=strategy).remote(local, str(probe_dir), token))
    problems = []
    for token, (node, ref) in refs.items():
        got = ray.get(ref)
        where = f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:12]})"
        if got["missing"]:
            n = len(got["missing"])
            problems.append(f"{where} cannot read {n} of {len(local)} audio files (first: {got['missing'][0]}): "
                            "mount the same storage at the same path on every node")
        if got["write_error"]:
            problems.append(f"{where} cannot write the output location {output}: {got['write_error']}")
        elif not (probe_dir / token).exists():
            problems.append(f"{where} writes {output} on its own disk, not where the driver reads it: put the "
                            "output on storage every node shares")
        try:
            (probe_dir / token).unlink(missing_ok=True)
        except OSError:
            pass
    if problems:
        raise ClusterError("The cluster cannot run this study: " + "; ".join(problems) + ".")


__all__ = ["ClusterError", "check_nodes", "connect", "import_ray", "local_only"]
