"""The bundled example ships inside the package and is consistent: audio, segments, reference, generator script."""

from __future__ import annotations

import csv
import importlib.util
import tomllib
from importlib import resources
from pathlib import Path

import scipy.stats
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def _data() -> Path:
    return Path(str(resources.files("affectproxy") / "data" / "example"))


def _rows(name: str) -> list[dict[str, str]]:
    with open(_data() / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_files_are_found_through_importlib_resources_and_are_small():
    folder = resources.files("affectproxy") / "data" / "example"
    for name in ("speech.flac", "segments.csv", "reference.csv", "README.md"):
        assert (folder / name).is_file(), name
    assert sum((_data() / n).stat().st_size for n in ("speech.flac", "segments.csv", "reference.csv")) < 3_000_000


def test_audio_is_16_khz_mono_flac():
    info = sf.info(_data() / "speech.flac")
    assert (info.format, info.samplerate, info.channels) == ("FLAC", 16000, 1)
    assert 45 < info.duration < 90


def test_segments_lie_within_the_audio_in_order_with_transcripts():
    duration = sf.info(_data() / "speech.flac").duration
    rows = _rows("segments.csv")
    assert list(rows[0]) == ["id", "start", "end", "text", "speaker"]
    assert 12 <= len(rows) <= 16
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    previous_end = 0.0
    for r in rows:
        start, end = float(r["start"]), float(r["end"])
        assert previous_end <= start < end <= duration, r
        assert 2.5 <= end - start <= 6.0, r
        assert r["text"].strip() and r["speaker"]
        previous_end = end


def test_reference_matches_the_segments_and_is_not_monotone_in_time():
    ids = [r["id"] for r in _rows("segments.csv")]
    ref = _rows("reference.csv")
    assert list(ref[0]) == ["segment_id", "arousal"]
    assert [r["segment_id"] for r in ref] == ids
    levels = [float(r["arousal"]) for r in ref]
    assert sorted(set(levels)) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert all(levels.count(v) == 3 for v in set(levels))
    assert abs(scipy.stats.spearmanr(range(len(levels)), levels).statistic) < 0.5


def test_generator_script_describes_the_shipped_files():
    spec = importlib.util.spec_from_file_location("generate_example", ROOT / "examples" / "generate_example.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.DEFAULT_OUT.resolve() == (ROOT / "src" / "affectproxy" / "data" / "example").resolve()
    assert [r["text"] for r in _rows("segments.csv")] == [text for _, text in gen.SCRIPT]
    assert [float(r["arousal"]) for r in _rows("reference.csv")] == [level for level, _ in gen.SCRIPT]
    assert gen.prosody(-1.0)["amplitude"] < gen.prosody(0.0)["amplitude"] < gen.prosody(1.0)["amplitude"]


def test_study_file_points_at_the_bundled_data():
    study = tomllib.loads((ROOT / "examples" / "study.toml").read_text(encoding="utf-8"))
    for key in ("segments", "audio"):
        package, _, rel = study["study"][key].removeprefix("package:").partition("/")
        assert (Path(str(resources.files(package))) / rel).is_file()
    types = {ev["type"] for ev in study["evaluators"]}
    assert {"prosody", "table"} <= types
