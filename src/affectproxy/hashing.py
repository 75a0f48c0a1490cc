"""Hashes for provenance: files (model weights, tables), canonical JSON, fingerprints; and the check that keeps
secrets out of everything that is hashed or stored.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
    >>> _ = path.write_bytes(b"weights")
    >>> file_sha256(path)[:12]
    '9a129038d9a0'
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectproxy.errors import StoreError

_CACHE: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, streamed in 4 MiB blocks and memoised per (resolved path, size, mtime).

    A multi-GB checkpoint is hashed once per process, not once per evaluator instance or fingerprint call.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    with _LOCK:
        _CACHE[key] = digest.hexdigest()
        return _CACHE[key]


_SECRET_NAMES = {"apikey", "api_key", "token", "access_token", "secret", "password", "authorization", "bearer"}
_SECRET_ENDINGS = ("api_key", "apikey", "_token", "_secret", "_password")


def _secret_name(name: str) -> bool:
    low = name.lower().replace("-", "_")
    return low in _SECRET_NAMES or low.endswith(_SECRET_ENDINGS)


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return repr(value)


def fingerprint_hash(fingerprint: Mapping[str, Any]) -> str:
    """The 16-hex-digit hash of an evaluator's fingerprint dict; refuses dicts carrying secrets."""
    check_no_secrets(fingerprint)
    return hashlib.sha256(canonical_json(fingerprint).encode()).hexdigest()[:16]


def check_no_secrets(value: Any, where: str = "fingerprint") -> None:
    """Raise StoreError if a key-like field (api_key, token, secret, ...) holds a non-empty string."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if _secret_name(str(k)) and isinstance(v, str) and v:
                raise StoreError(
                    f"Refusing to store {where}: field {k!r} looks like a secret. Evaluators must keep keys out "
                    "of fingerprint() and raw outputs (read them from the environment at call time)."
                )
            check_no_secrets(v, where)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_no_secrets(v, where)


__all__ = ["canonical_json", "check_no_secrets", "file_sha256", "fingerprint_hash"]
