"""Fixtures for core tests: real plugin distributions written to disk, real audio files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def write_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """Write an installed distribution (modules + ``.dist-info`` with entry points) into ``root``.

    Adding ``root`` to ``sys.path``/``PYTHONPATH`` makes importlib.metadata find it exactly as it finds a
    pip-installed plugin.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[affectproxy]\n{lines}\n")
    return root


@pytest.fixture
def make_distribution() -> Callable[..., Path]:
    """The :func:`write_distribution` helper, as a fixture."""
    return write_distribution


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run Python code in a fresh interpreter with extra paths and environment."""

    def run(code: str, *, paths: tuple[Path, ...] = (), env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        full = dict(os.environ, **(env or {}))
        full["PYTHONPATH"] = os.pathsep.join([*map(str, paths), full.get("PYTHONPATH", "")])
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              env=full, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    """A 6-second 16 kHz mono WAV: a tone whose level steps up every second."""
    rate = 16000
    t = np.arange(6 * rate) / rate
    level = 0.05 * (1 + np.floor(t))
    path = tmp_path / "speech.wav"
    sf.write(path, (level * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate)
    return path
