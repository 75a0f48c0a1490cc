from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import affectproxy as ap
from affectproxy.testing import check_evaluator


def _segs() -> list[ap.Segment]:
    rec = ap.Recording("speech")
    return [ap.Segment("a", rec, 0.0, 2.0), ap.Segment("b", rec, 2.0, 3.5), ap.Segment("c", rec, 3.5, 5.0)]


def test_by_id_with_blank_cells_and_renamed_columns(tmp_path: Path) -> None:
    path = tmp_path / "trust.csv"
    path.write_text("id,Pathos_median,comment\na,-2,\nb,,x\nc,1,y\n")
    ev = ap.get_evaluator("table", path=path, columns={"Pathos_median": "pathos"}, name="trust")
    assert [d.name for d in ev.dimensions] == ["pathos"] and ev.dimensions[0].high == 2.0
    out = ev.evaluate(_segs())
    assert [e.values for e in out] == [{"pathos": -2.0}, {}, {"pathos": 1.0}]


def test_by_time_from_parquet_and_check_evaluator(tmp_path: Path) -> None:
    path = tmp_path / "ratings.parquet"
    pd.DataFrame({"start": [0.0, 2.004, 3.5], "end": [2.0, 3.5, 5.0], "arousal": [0.1, 0.2, 0.3],
                  "valence": [0.0, -0.5, 0.5]}).to_parquet(path)
    ev = ap.get_evaluator("table", path=path, key="time", name="human")
    assert [e.values["arousal"] for e in ev.evaluate(_segs())] == [0.1, 0.2, 0.3]
    fp = ev.fingerprint()
    assert fp["file"] == "ratings.parquet" and len(fp["sha256"]) == 64 and str(tmp_path) not in str(fp)
    check_evaluator(ev, _segs())


def test_missing_row_fails_that_segment_only(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("segment_id,pathos\na,1\nc,0\n")
    res = ap.evaluate(_segs(), [{"type": "table", "path": path}], progress=False)
    assert [e.segment_id for e in res.estimates] == ["a", "c"]
    (fail,) = res.failures
    assert fail.segment_id == "b" and "partial.csv" in fail.message and "no row for segment 'b'" in fail.message


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ap.SegmentFileError, match="does not exist"):
        ap.get_evaluator("table", path=tmp_path / "nope.csv").evaluate(_segs())
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ap.SegmentFileError, match=r"unknown format '\.xlsx'"):
        ap.get_evaluator("table", path=tmp_path / "x.xlsx").evaluate(_segs())
    (tmp_path / "nokey.csv").write_text("seg,pathos\na,1\n")
    with pytest.raises(ap.SegmentFileError, match="no column 'segment_id'"):
        ap.get_evaluator("table", path=tmp_path / "nokey.csv").evaluate(_segs())
    (tmp_path / "dup.csv").write_text("segment_id,pathos\na,1\na,2\n")
    with pytest.raises(ap.SegmentFileError, match=r"more than once: \['a'\]"):
        ap.get_evaluator("table", path=tmp_path / "dup.csv").evaluate(_segs())
