"""Corpus loaders: EMO-DB's file-name code and folder layout, labelled CSV lists, bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from affectproxy.corpus import (
    EMODB_LABELS,
    CorpusError,
    load_corpus,
    load_emodb,
    load_labelled_csv,
    parse_emodb_name,
)

from .conftest import PLAN, write_tone


def test_emodb_segments_span_whole_files(emodb_dir: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 2 file\(s\)"):
        corpus = load_emodb(emodb_dir)
    assert corpus.labels == EMODB_LABELS
    assert [s.id for s in corpus.segments] == sorted(PLAN)  # sorted by file name; notes.txt is not audio
    seg = next(s for s in corpus.segments if s.id == "08a07Ea")
    assert (seg.start, seg.speaker, seg.language, seg.text) == (0.0, "08", "de", "")
    assert seg.end == pytest.approx(sf.info(emodb_dir / "wav" / "08a07Ea.wav").duration)
    assert seg.end == pytest.approx(0.5 + 0.05 * list(PLAN).index("08a07Ea"))
    assert seg.metadata == {"label": "disgust", "speaker": "08", "text_code": "a07", "emotion_letter": "E",
                            "version": "a", "sex": "f", "file": "08a07Ea.wav"}
    assert seg.recording.path == str(emodb_dir / "wav" / "08a07Ea.wav")
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert set(reasons) == {"readme.wav", "99a01Fa.wav"}
    assert "does not follow EMO-DB's code" in reasons["readme.wav"]
    assert "speaker 99 is not one of EMO-DB's ten" in reasons["99a01Fa.wav"]
    frame = corpus.to_pandas()
    assert frame.loc[frame["segment_id"] == "03a01Wa", ["label", "sex"]].values.tolist() == [["anger", "m"]]


def test_emodb_letters_and_sexes() -> None:
    letters = {k: parse_emodb_name(f"03a01{k}a")["emotion_letter"] for k in "WLEAFTN"}
    assert letters == {k: k for k in "WLEAFTN"}
    sexes = {spk: parse_emodb_name(f"{spk}a01Wa")["sex"] for spk in
             ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]}
    assert sexes == {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f",
                     "15": "m", "16": "f"}
    with pytest.raises(ValueError, match="text code a03"):
        parse_emodb_name("03a03Wa")


def test_emodb_letter_outside_the_set_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write_tone(tmp_path / "03a01Wa.wav", 0.5)
    write_tone(tmp_path / "03a01Xa.wav", 0.5)
    with pytest.raises(CorpusError, match=r"03a01Xa\.wav: emotion letter 'X' is outside EMO-DB's label set"):
        load_emodb(tmp_path)


def test_emodb_files_directly_in_the_folder_and_unreadable_audio(tmp_path: Path) -> None:
    write_tone(tmp_path / "03a01Wa.wav", 0.5)
    (tmp_path / "03a02Wa.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.warns(UserWarning, match="03a02Wa.wav: cannot read the audio"):
        corpus = load_emodb(tmp_path, texts={"a01": "Der Satz."})
    assert [s.id for s in corpus.segments] == ["03a01Wa"]
    assert corpus.segments[0].text == "Der Satz."
    with pytest.raises(CorpusError, match="does not exist"):
        load_emodb(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="No audio files"):
        load_emodb(empty)


def _csv_corpus(root: Path, rows: list[dict[str, str]]) -> Path:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row["file"] != "audio/missing.wav":
            write_tone(root / row["file"], 0.4)
    pd.DataFrame(rows).to_csv(root / "corpus.csv", index=False)
    return root / "corpus.csv"


def test_labelled_csv(tmp_path: Path) -> None:
    rows = [{"file": "audio/a.wav", "label": "calm", "speaker": "s1", "sex": "f", "text": "hello", "session": "1"},
            {"file": "audio/b.wav", "label": "angry", "speaker": "s2", "sex": "m", "text": "", "session": "2"},
            {"file": "audio/missing.wav", "label": "angry", "speaker": "s2", "sex": "m", "text": "", "session": "2"}]
    csv = _csv_corpus(tmp_path, rows)
    with pytest.warns(UserWarning, match="missing.wav: no such file"):
        corpus = load_labelled_csv(csv, labels=["angry", "calm", "sad"])
    assert corpus.labels == ("angry", "calm", "sad")
    assert [s.id for s in corpus.segments] == ["audio/a.wav", "audio/b.wav"]
    a = corpus.segments[0]
    assert (a.text, a.speaker, a.end) == ("hello", "s1", pytest.approx(0.4))
    assert a.metadata == {"sex": "f", "session": "1", "label": "calm", "file": "audio/a.wav"}
    assert [Path(s.path).name for s in corpus.skipped] == ["missing.wav"]
    with pytest.warns(UserWarning):
        default = load_corpus(tmp_path, "csv")  # a folder means its corpus.csv; labels: those present
    assert default.labels == ("angry", "calm")


def test_labelled_csv_bad_input(tmp_path: Path) -> None:
    csv = _csv_corpus(tmp_path, [{"file": "audio/a.wav", "label": "calm", "speaker": "s1"},
                                 {"file": "audio/b.wav", "label": "furious", "speaker": "s1"}])
    with pytest.raises(CorpusError, match=r"audio/b\.wav \(in corpus\.csv\): label 'furious' is outside"):
        load_labelled_csv(csv, labels=["calm", "angry"])
    pd.DataFrame({"file": ["audio/a.wav"], "label": ["calm"]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(CorpusError, match="lacks the column"):
        load_labelled_csv(tmp_path / "short.csv")
    pd.DataFrame({"file": ["audio/a.wav"] * 2, "label": ["calm"] * 2, "speaker": ["s"] * 2}).to_csv(
        tmp_path / "dup.csv", index=False)
    with pytest.raises(CorpusError, match="twice"):
        load_labelled_csv(tmp_path / "dup.csv")
    with pytest.raises(Exception, match="Unknown corpus kind"):
        load_corpus(tmp_path, "ravdess")
