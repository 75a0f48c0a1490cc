from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap
from affectproxy.devices import autocast, autocast_dtype, feed, resolve_device
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
    assert [autocast_dtype(d) for d in (None, "fp32", "bf16", "torch.float16")] == [None, None, "bfloat16", "float16"]
    with pytest.raises(ValueError, match="dtype must be one of"):
        autocast_dtype("int8")


def test_cuda_that_torch_cannot_see_is_one_clear_error() -> None:
    """Runs on every machine (no early return on GPU machines): the child hides the GPUs from torch."""
    import torch

    code = ("from affectproxy.devices import resolve_device\n"
            "try:\n    resolve_device('cuda', evaluator='x')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}).stdout
    assert out.startswith("AffectProxyError Evaluator 'x': device='cuda'") and "\n" not in out.strip()
    if torch.version.cuda is None:
        assert "has no CUDA" in out and "whl/cu128" in out
    else:
        assert "sees no GPU" in out and "CUDA_VISIBLE_DEVICES" in out


def test_autocast_and_feed_on_the_cpu() -> None:
    import torch

    a = torch.ones(4, 4)
    with autocast("cpu", None):
        assert (a @ a).dtype == torch.float32
    with autocast("cpu", "bfloat16"):
        assert (a @ a).dtype == torch.bfloat16
    batches = [(np.arange(6, dtype=np.float32).reshape(2, 3), np.array([3, 1])), (np.zeros((1, 2), np.float32),
                                                                                  np.array([2]))]
    got = list(feed(iter(batches), "cpu"))
    assert len(got) == 2
    for (x, n), (tx, tn) in zip(batches, got, strict=True):
        assert np.array_equal(tx.numpy(), x) and np.array_equal(tn.numpy(), n) and tn.dtype == torch.int64
    assert list(feed(iter([]), "cpu")) == []


@pytest.mark.gpu
def test_feed_overlaps_copies_on_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 16000 * 4)).astype(np.float32), np.arange(8)) for _ in range(6)]
    sums = []
    for x, idx in feed(iter(batches), "cuda"):
        assert x.is_cuda and idx.is_cuda
        sums.append((x * 2).sum(1))  # compute on the current stream while the next copy runs on the side stream
    torch.cuda.synchronize()
    for s, (x, _) in zip(sums, batches, strict=True):
        np.testing.assert_allclose(s.cpu().numpy(), (x * 2).sum(1), rtol=1e-4)
