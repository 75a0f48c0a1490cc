"""Content hashes for fingerprints: model weights, configs, tables.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
    >>> _ = path.write_bytes(b"weights")
    >>> file_sha256(path)[:12]
    '9a129038d9a0'
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

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


__all__ = ["file_sha256"]
