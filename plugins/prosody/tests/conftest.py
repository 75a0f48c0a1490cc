"""Fixtures: the bundled example speech as segments with their audio filled, read with soundfile."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap


def example_dir() -> Path:
    return Path(str(resources.files("affectproxy").joinpath("data", "example")))


def read_example() -> tuple[list[dict[str, str]], dict[str, float], np.ndarray, int]:
    data = example_dir()
    with open(data / "segments.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(data / "reference.csv", encoding="utf-8") as fh:
        reference = {r["segment_id"]: float(r["arousal"]) for r in csv.DictReader(fh)}
    audio, rate = sf.read(data / "speech.flac", dtype="float32")
    return rows, reference, audio, rate


@pytest.fixture(scope="session")
def example() -> tuple[list[ap.Segment], dict[str, float]]:
    """The example's segments (audio filled, 16 kHz) and the intended arousal per segment id."""
    rows, reference, audio, rate = read_example()
    assert rate == 16000
    rec = ap.Recording("speech", str(example_dir() / "speech.flac"))
    segs = [
        ap.Segment(r["id"], rec, float(r["start"]), float(r["end"]), text=r["text"], speaker=r["speaker"],
                   audio=audio[round(float(r["start"]) * rate):round(float(r["end"]) * rate)])
        for r in rows
    ]
    return segs, reference
