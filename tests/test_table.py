from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import affectproxy as ap
from affectproxy.errors import ScoreFileError
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
    with pytest.warns(RuntimeWarning, match="1 of 3 segments failed for 'table'"):
        res = ap.evaluate(_segs(), [{"type": "table", "path": path}], progress=False)
    assert [e.segment_id for e in res.estimates] == ["a", "c"]
    (fail,) = res.failures
    assert fail.segment_id == "b" and "partial.csv" in fail.message and "no row for segment 'b'" in fail.message


def test_bad_files_are_one_score_file_error_when_built(tmp_path: Path) -> None:
    with pytest.raises(ScoreFileError, match=r"does not exist\. Fix the path option") as info:
        ap.get_evaluator("table", path=tmp_path / "nope.csv")
    assert not isinstance(info.value, ap.SegmentFileError)  # a score file is not a segment table
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ScoreFileError, match=r"unknown format '\.xlsx'"):
        ap.get_evaluator("table", path=tmp_path / "x.xlsx")
    (tmp_path / "nokey.csv").write_text("seg,pathos\na,1\n")
    with pytest.raises(ScoreFileError, match=r"no column 'segment_id'; its columns are seg, pathos\. Name the id"):
        ap.get_evaluator("table", path=tmp_path / "nokey.csv")
    (tmp_path / "dup.csv").write_text("segment_id,pathos\na,1\na,2\n")
    with pytest.raises(ScoreFileError, match=r"more than once: \['a'\]"):
        ap.get_evaluator("table", path=tmp_path / "dup.csv")
    (tmp_path / "ok.csv").write_text("segment_id,Pathos\na,1\n")
    with pytest.raises(ScoreFileError, match="no column 'pathos' named in columns; Did you mean 'Pathos'"):
        ap.get_evaluator("table", path=tmp_path / "ok.csv", columns=["pathos"])


def test_wrong_key_column_is_one_error_before_the_run_not_a_failure_per_segment(tmp_path: Path) -> None:
    path = tmp_path / "timed.csv"
    path.write_text("start,end,arousal\n0,2,0.1\n2,3.5,0.2\n3.5,5,0.3\n")
    store = tmp_path / "s.sqlite"
    with pytest.raises(ScoreFileError, match=r"key = 'segment_id'\) has no column 'segment_id'; its columns are "
                       r"start, end, arousal\. .*or match rows by time with key = \"time\"\."):
        ap.evaluate(_segs(), [{"type": "table", "path": path, "name": "human"}], store=store, progress=False)
    assert not store.exists() or ap.open_results(store).failures == []
    (tmp_path / "ids.csv").write_text("segment_id,arousal\na,1\n")
    with pytest.raises(ScoreFileError, match=r"no column 'start', 'end'.*or match rows by id with key = "
                       r"\"segment_id\""):
        ap.get_evaluator("table", path=tmp_path / "ids.csv", key="time")
