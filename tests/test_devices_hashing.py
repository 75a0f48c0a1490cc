from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import affectproxy as ap
from affectproxy.devices import autocast_dtype, resolve_device
from affectproxy.hashing import file_sha256


def test_file_hash_is_content_hash_and_follows_changes(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"a" * 5_000_000)
    assert file_sha256(path) == hashlib.sha256(b"a" * 5_000_000).hexdigest()
    path.write_bytes(b"b" * 10)
    os.utime(path, ns=(1, 1))  # a new mtime and size: the memo must not return the old hash
    assert file_sha256(path) == hashlib.sha256(b"b" * 10).hexdigest()


def test_device_and_dtype_options() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ap.AffectProxyError, match="not a torch device"):
        resolve_device("tpu7", evaluator="x")
    if not torch.cuda.is_available():
        with pytest.raises(ap.AffectProxyError, match=r"'x'.*has no CUDA.*whl/cu128"):
            resolve_device("cuda", evaluator="x")
    assert [autocast_dtype(d) for d in (None, "fp32", "bf16", "torch.float16")] == [None, None, "bfloat16", "float16"]
    with pytest.raises(ValueError, match="dtype must be one of"):
        autocast_dtype("int8")
