"""load_segments on real files of every format, and every way a segment table can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy import InvalidSegmentError, Recording, SegmentFileError
from affectproxy.audio import AudioReader
from affectproxy.segment_files import parse_time

WHISPERX = {
    "segments": [
        {
            "start": 0.031, "end": 3.652, "text": " Meine Damen und Herren, wir stehen heute vor einer Entscheidung.",
            "speaker": "SPEAKER_00",
            "words": [
                {"word": "Meine", "start": 0.031, "end": 0.291, "score": 0.912, "speaker": "SPEAKER_00"},
                {"word": "Damen", "start": 0.331, "end": 0.652, "score": 0.874, "speaker": "SPEAKER_00"},
                {"word": "und", "start": 0.692, "end": 0.812, "score": 0.998, "speaker": "SPEAKER_00"},
                {"word": "Herren,", "start": 0.852, "end": 1.273, "score": 0.861, "speaker": "SPEAKER_00"},
            ],
        },
        {
            "start": 4.114, "end": 6.5, "text": " Das ist ein Skandal!", "speaker": "SPEAKER_01",
            "words": [
                {"word": "Das", "start": 4.114, "end": 4.335, "score": 0.95, "speaker": "SPEAKER_01"},
                {"word": "ist", "start": 4.375, "end": 4.496, "score": 0.99, "speaker": "SPEAKER_01"},
                {"word": "ein", "start": 4.536, "end": 4.657, "score": 0.97, "speaker": "SPEAKER_01"},
                {"word": "Skandal!", "start": 4.697, "end": 5.259, "score": 0.88, "speaker": "SPEAKER_01"},
            ],
        },
        {"start": 7.0, "end": 8.25, "text": " 2024.", "words": [{"word": "2024."}]},
    ],
    "word_segments": [{"word": "Meine", "start": 0.031, "end": 0.291, "score": 0.912}],
    "language": "de",
}

SRT = """\ufeff1
00:00:01,000 --> 00:00:04,250
Meine Damen und Herren,
<i>wir stehen heute</i> vor einer Entscheidung.

2
00:00:04,900 --> 00:00:07,120 X1:40 X2:600 Y1:20 Y2:50
Das ist ein Skandal!

3
01:02:03,004 --> 01:02:05,500
{\\an8}Tom &amp; Jerry
"""

VTT = """WEBVTT - Bundestag, 112. Sitzung
Kind: captions
Language: de-DE

STYLE
::cue { color: yellow }

NOTE Diese Untertitel wurden automatisch erzeugt
und von Hand korrigiert.

intro
00:01.000 --> 00:04.250 align:start position:10%
<v Dr. Anna Schmidt>Meine Damen und Herren,
wir stehen heute vor einer Entscheidung.</v>

00:04.900 --> 00:07.120
<v.loud Zwischenruf>Unerhört!</v> <v Dr. Anna Schmidt>Lassen Sie mich ausreden.

00:00:08.000 --> 00:00:09.500
<c.yellow>Beifall</c> bei der <00:00:08.500>SPD &lt;und&gt; den Grünen
"""

TEXTGRID_LONG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 9.5
tiers? <exists>
size = 3
item []:
    item [1]:
        class = "IntervalTier"
        name = "utterances"
        xmin = 0
        xmax = 9.5
        intervals: size = 5
        intervals [1]:
            xmin = 0
            xmax = 1.02
            text = ""
        intervals [2]:
            xmin = 1.02
            xmax = 4.25
            text = "Meine Damen und Herren, ""bitte"" Ruhe."
        intervals [3]:
            xmin = 4.25
            xmax = 4.9
            text = "   "
        intervals [4]:
            xmin = 4.9
            xmax = 7.12
            text = "Das ist ein Skandal!"
        intervals [5]:
            xmin = 7.12
            xmax = 9.5
            text = ""
    item [2]:
        class = "TextTier"
        name = "events"
        xmin = 0
        xmax = 9.5
        points: size = 1
        points [1]:
            number = 5.5
            mark = "Beifall"
    item [3]:
        class = "IntervalTier"
        name = "speaker"
        xmin = 0
        xmax = 9.5
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 4.5
            text = "A"
        intervals [2]:
            xmin = 4.5
            xmax = 9.5
            text = "B"
'''

TEXTGRID_SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
9.5
<exists>
2
"IntervalTier"
"words"
0
9.5
3
0
1.02
""
1.02
2.5
"Meine"
2.5
9.5
"Damen"
"IntervalTier"
"phones"
0
9.5
1
0
9.5
"m"
'''


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------------------------------------------------- CSV


def test_csv_with_ids_clock_times_and_metadata(tmp_path: Path) -> None:
    table = write(tmp_path / "bundestag.csv", (
        "segment_id,start,end,transcript,speaker,language,party,applause\n"
        's1,0.5,00:00:04.250,"Meine Damen und Herren, wir stehen vor einer Entscheidung.",Schmidt,de,SPD,\n'
        's2,4.9,7.12,"Er sagte: ""Nein!""",Müller,,CDU,yes\n'
        "\n"
        "s3,01:00.000,1:01:01.5,,Schmidt,de,SPD,\n"
    ))
    segs = ap.load_segments(table, audio=tmp_path / "bundestag.wav", language="en")
    assert [s.id for s in segs] == ["s1", "s2", "s3"]
    assert [(s.start, s.end) for s in segs] == [(0.5, 4.25), (4.9, 7.12), (60.0, 3661.5)]
    assert segs[0].text == "Meine Damen und Herren, wir stehen vor einer Entscheidung."
    assert segs[1].text == 'Er sagte: "Nein!"' and segs[2].text == ""
    assert [s.speaker for s in segs] == ["Schmidt", "Müller", "Schmidt"]
    assert [s.language for s in segs] == ["de", "en", "de"]
    assert segs[1].metadata == {"party": "CDU", "applause": "yes"}
    assert segs[0].recording == Recording("bundestag", str(tmp_path / "bundestag.wav"))
    assert all(s.recording is segs[0].recording for s in segs)


def test_csv_default_ids_recording_and_speaker(tmp_path: Path) -> None:
    table = write(tmp_path / "talk.csv", "start,end,text\n0,1.5,Guten Tag\n2,3,Danke\n")
    segs = ap.load_segments(table)
    assert [s.id for s in segs] == ["talk-0001", "talk-0002"]
    assert segs[0].recording == Recording("talk") and segs[0].speaker is None
    named = ap.load_segments(table, "audio/rede.flac", recording="rede-2024", speaker="Anna")
    assert [s.id for s in named] == ["rede-2024-0001", "rede-2024-0002"]
    assert named[0].recording == Recording("rede-2024", "audio/rede.flac") and named[1].speaker == "Anna"
    rec = Recording("r1", "old.wav", speaker="Anna", metadata={"date": "2024-05-02"})
    assert ap.load_segments(table, recording=rec)[0].recording is rec
    assert ap.load_segments(table, "new.wav", recording=rec)[0].recording.path == "new.wav"


def test_semicolon_csv_with_decimal_commas_and_tsv(tmp_path: Path) -> None:
    semi = write(tmp_path / "excel.csv", "ID;Start;End;Text\na;0,5;2,25;Hallo, Welt\nb;3;4;Tschüss\n")
    assert [(s.id, s.start, s.end, s.text) for s in ap.load_segments(semi)] == [
        ("a", 0.5, 2.25, "Hallo, Welt"), ("b", 3.0, 4.0, "Tschüss")]
    tsv = write(tmp_path / "praat.tsv", "start\tend\ttext\tnote\n0.1\t0.9\tJa, gut.\tlaut\n")
    seg = ap.load_segments(tsv)[0]
    assert (seg.id, seg.text, seg.metadata) == ("praat-0001", "Ja, gut.", {"note": "laut"})
    assert ap.load_segments(write(tmp_path / "segments.txt", "start,end\n0,1\n"), format="csv")[0].end == 1.0


def test_csv_with_an_audio_column_covers_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "wavs" / "f1").mkdir(parents=True)
    (tmp_path / "wavs" / "f2").mkdir()
    table = write(tmp_path / "corpus.csv", (
        "audio,start,end,text,emotion\n"
        "wavs/f1/03a01Fa.wav,0,1.2,Der Lappen liegt auf dem Eisschrank.,happy\n"
        "wavs/f1/03a01Wa.wav,0,1.1,Der Lappen liegt auf dem Eisschrank.,angry\n"
        "wavs/f1/03a01Wa.wav,1.1,1.9,Noch einmal.,angry\n"
        "wavs/f2/03a01Fa.wav,0,1.4,Das will sie am Mittwoch abgeben.,happy\n"
        f"{tmp_path / 'abs.wav'},0,1,Absolut.,neutral\n"
    ))
    segs = ap.load_segments(table)
    assert [s.id for s in segs] == ["03a01Fa-0001", "03a01Wa-0001", "03a01Wa-0002", "wavs/f2/03a01Fa-0001",
                                    "abs-0001"]
    assert segs[0].recording.path == str(tmp_path / "wavs" / "f1" / "03a01Fa.wav")
    assert segs[1].recording is segs[2].recording
    assert segs[3].recording.id == "wavs/f2/03a01Fa" and segs[4].recording.path == str(tmp_path / "abs.wav")
    assert segs[0].metadata == {"emotion": "happy"}


def test_recording_column_is_a_path_alone_and_an_id_next_to_audio(tmp_path: Path) -> None:
    only = write(tmp_path / "a.csv", "recording,start,end\nclips/x.wav,0,1\n")
    assert ap.load_segments(only)[0].recording == Recording("x", str(tmp_path / "clips" / "x.wav"))
    both = write(tmp_path / "b.csv", "audio,recording,start,end\nclips/x.wav,interview-7,0,1\n")
    seg = ap.load_segments(both)[0]
    assert seg.recording == Recording("interview-7", str(tmp_path / "clips" / "x.wav"))
    assert seg.id == "interview-7-0001"


def test_segments_from_a_table_read_their_audio(tmp_path: Path) -> None:
    rate = 16000
    for name, level in (("quiet", 0.1), ("loud", 0.4)):
        sf.write(tmp_path / f"{name}.wav", np.full(rate, level, np.float32), rate, subtype="FLOAT")
    segs = ap.load_segments(write(tmp_path / "c.csv", "audio,start,end\nquiet.wav,0,0.5\nloud.wav,0.5,1.0\n"))
    with AudioReader() as reader:
        levels = [reader.read(s.recording.path, s.start, s.end, 8000, segment_id=s.id) for s in segs]
    assert [x.shape for x in levels] == [(4000,), (4000,)]
    np.testing.assert_allclose([x.mean() for x in levels], [0.1, 0.4], rtol=1e-3)  # soxr edge at the file start


# --------------------------------------------------------------------------------------------------------- JSON


def test_json_list_and_segments_object(tmp_path: Path) -> None:
    items = [{"id": "a", "start": 0, "end": "00:00:01.5", "text": "Hallo", "rating": 3, "tags": ["x"]},
             {"segment_id": "b", "start": 2, "end": 3, "transcript": "Tschüss", "speaker": "B"}]
    segs = ap.load_segments(write(tmp_path / "list.json", json.dumps(items)))
    assert [(s.id, s.end, s.text, s.speaker) for s in segs] == [("a", 1.5, "Hallo", None), ("b", 3.0, "Tschüss", "B")]
    assert segs[0].metadata == {"rating": 3, "tags": ["x"]}
    wrapped = ap.load_segments(write(tmp_path / "obj.json", json.dumps({"segments": items, "language": "de"})))
    assert [s.language for s in wrapped] == ["de", "de"]


def test_whisperx_output(tmp_path: Path) -> None:
    path = write(tmp_path / "rede.json", json.dumps(WHISPERX, ensure_ascii=False, indent=2))
    segs = ap.load_segments(path, audio="rede.mp4", format="whisperx")
    assert [s.id for s in segs] == ["rede-0001", "rede-0002", "rede-0003"]
    assert segs[0].text == "Meine Damen und Herren, wir stehen heute vor einer Entscheidung."
    assert [s.speaker for s in segs] == ["SPEAKER_00", "SPEAKER_01", None]
    assert {s.language for s in segs} == {"de"} and segs[0].recording == Recording("rede", "rede.mp4")
    assert [w["word"] for w in segs[1].metadata["words"]] == ["Das", "ist", "ein", "Skandal!"]
    assert set(segs[0].metadata) == {"words"}
    assert ap.load_segments(path, language="de-AT")[0].language == "de-AT"


# ----------------------------------------------------------------------------------------------------- SRT/VTT


def test_srt_with_multiline_cues_tags_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "rede.srt", SRT.replace("\n", "\r\n"))
    segs = ap.load_segments(path, speaker="Schmidt")
    assert [(s.id, s.start, s.end) for s in segs] == [("rede-0001", 1.0, 4.25), ("rede-0002", 4.9, 7.12),
                                                      ("rede-0003", 3723.004, 3725.5)]
    assert segs[0].text == "Meine Damen und Herren, wir stehen heute vor einer Entscheidung."
    assert segs[2].text == "Tom & Jerry"
    assert [s.metadata["cue"] for s in segs] == ["1", "2", "3"] and segs[1].speaker == "Schmidt"


def test_vtt_with_header_notes_styles_and_voices(tmp_path: Path) -> None:
    segs = ap.load_segments(write(tmp_path / "sitzung.vtt", VTT))
    assert [(s.start, s.end) for s in segs] == [(1.0, 4.25), (4.9, 7.12), (8.0, 9.5)]
    assert segs[0].text == "Meine Damen und Herren, wir stehen heute vor einer Entscheidung."
    assert [s.speaker for s in segs] == ["Dr. Anna Schmidt", "Zwischenruf", None]
    assert segs[1].text == "Unerhört! Lassen Sie mich ausreden."
    assert segs[1].metadata == {"voices": ["Zwischenruf", "Dr. Anna Schmidt"]}
    assert segs[2].text == "Beifall bei der SPD <und> den Grünen"
    assert segs[0].metadata == {"cue": "intro"} and {s.language for s in segs} == {"de-DE"}


# --------------------------------------------------------------------------------------------------- TextGrid


def test_long_textgrid_first_interval_tier_skipping_empty_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "rede.TextGrid", TEXTGRID_LONG)
    segs = ap.load_segments(path, audio="rede.wav")
    assert [(s.id, s.start, s.end, s.text) for s in segs] == [
        ("rede-0001", 1.02, 4.25, 'Meine Damen und Herren, "bitte" Ruhe.'),
        ("rede-0002", 4.9, 7.12, "Das ist ein Skandal!"),
    ]
    assert segs[0].metadata == {"tier": "utterances"}
    speakers = ap.load_segments(path, tier="speaker")
    assert [(s.start, s.end, s.text) for s in speakers] == [(0.0, 4.5, "A"), (4.5, 9.5, "B")]


def test_short_textgrid_in_utf16(tmp_path: Path) -> None:
    path = write(tmp_path / "w.TextGrid", TEXTGRID_SHORT, encoding="utf-16")
    assert [(s.start, s.end, s.text) for s in ap.load_segments(path)] == [(1.02, 2.5, "Meine"), (2.5, 9.5, "Damen")]
    assert [s.text for s in ap.load_segments(path, tier="phones")] == ["m"]


def test_textgrid_tier_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "rede.TextGrid", TEXTGRID_LONG)
    with pytest.raises(SegmentFileError, match=r"tier 'words' does not exist \(interval tiers: 'utterances', "
                                               r"'speaker'; point tiers: 'events'\)\. Pass one"):
        ap.load_segments(path, tier="words")
    with pytest.raises(SegmentFileError, match="tier 'events' is a point tier"):
        ap.load_segments(path, tier="events")
    broken = write(tmp_path / "broken.TextGrid", TEXTGRID_LONG.replace("xmax = 4.9", "xmax = fünf"))
    with pytest.raises(SegmentFileError, match=r"broken.TextGrid, line 2\d: expected interval 3 of tier "
                                               "'utterances' \\(xmax\\)"):
        ap.load_segments(broken)
    cut = write(tmp_path / "cut.TextGrid", TEXTGRID_SHORT[:120])
    with pytest.raises(SegmentFileError, match=r"ends early.*truncated"):
        ap.load_segments(cut)


# ------------------------------------------------------------------------------------------------------ errors


def test_missing_file_unknown_format_and_misplaced_tier(tmp_path: Path) -> None:
    with pytest.raises(SegmentFileError, match=r"Segment table .*nope.csv does not exist\. Fix the path"):
        ap.load_segments(tmp_path / "nope.csv")
    with pytest.raises(SegmentFileError, match="is a folder"):
        ap.load_segments(tmp_path)
    odd = write(tmp_path / "segments.xlsx", "x")
    with pytest.raises(SegmentFileError, match=r"unknown extension '.xlsx'.*pass format= one of csv, tsv"):
        ap.load_segments(odd)
    with pytest.raises(SegmentFileError, match="unknown format 'excel'"):
        ap.load_segments(odd, format="excel")
    csv_path = write(tmp_path / "s.csv", "start,end\n0,1\n")
    with pytest.raises(SegmentFileError, match="tier='words' applies only to TextGrid files"):
        ap.load_segments(csv_path, tier="words")


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", '{"segments": [{"start": 0, "end": 1,}]}',
     r"bad.json is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 37"),
    ("keys.json", '{"results": []}', r"keys.json: the JSON object has no 'segments' list \(keys: results\)"),
    ("items.json", '[{"start": 0, "end": 1}, [0, 1]]', r"items.json, segment #2: expected an object"),
    ("cols.csv", "id,begin,stop,text\ns1,0,1,x\n",
     r"cols.csv has no 'start' or 'end' column \(columns: id, begin, stop, text\)\. Name the time columns"),
    ("clock.csv", "id,start,end\ns1,0,1\ns2,1:2x,3\n",
     r"clock.csv, line 3 \(segment s2\), start: '1:2x' is not a time\. Write seconds \(12.5\) or HH:MM:SS.mmm"),
    ("minutes.csv", "id,start,end\ns1,00:75:00,1:20:00\n", r"line 2 \(segment s1\), start: '00:75:00' is not a time"),
    ("blank.csv", "id,start,end\ns1,0,\n", r"blank.csv, line 2 \(segment s1\): no end time"),
    ("cells.csv", "id,start,end,text\ns1,0,1,Hallo, Welt\n", r"cells.csv, line 2: 5 cells but the header has 4"),
    ("empty.csv", "", "is empty"),
    ("header.csv", "start,end\n", "holds no segments"),
    ("nolabels.TextGrid", TEXTGRID_SHORT.replace('"Meine"', '""').replace('"Damen"', '""'), "holds no segments"),
    ("novtt.vtt", "00:01.000 --> 00:02.000\nHallo\n", r"novtt.vtt is not WebVTT: its first line must be 'WEBVTT'"),
    ("timing.srt", "1\n00:00:01,000 -> 00:00:02,000\nHallo\n", r"timing.srt, line 1: this SRT block has no timing"),
    ("srtclock.srt", "1\n00:00:01,000 --> 00:00:0x,000\nHallo\n", r"srtclock.srt, line 2 \(segment srtclock-0001\)"
                                                                   r", end: '00:00:0x,000' is not a time"),
    ("binary.TextGrid", "ooBinaryFile\x08TextGrid", "binary Praat file.*Save as text file"),
    ("latin1.csv", "start,end,text\n0,1,Gr\xfc\xdfe\n", r"not UTF-8 text \(byte 0xfc on line 2\)\. Save it as UTF-8"),
])
def test_unreadable_tables_name_file_place_and_fix(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1" if name.startswith("latin1") else "utf-8"))
    with pytest.raises(SegmentFileError, match=message) as err:
        ap.load_segments(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("row, message", [
    ("s2,5.0,4.0", r"bad.csv, line 3: Segment 's2' of recording 'bad': end \(4.0\) must be after start \(5.0\)"),
    ("s2,-1,4.0", r"bad.csv, line 3: Segment 's2': start must be >= 0 seconds, got -1.0"),
    ("s2,nan,4.0", r"bad.csv, line 3: Segment 's2': start must be a finite number of seconds, got nan"),
    ("s2,2,inf", r"bad.csv, line 3: Segment 's2': end must be a finite number"),
    ("s2,3,3", r"bad.csv, line 3: .*end \(3.0\) must be after start \(3.0\)"),
])
def test_invalid_times_carry_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", f"id,start,end\ns1,0,1\n{row}\n")
    with pytest.raises(SegmentFileError, match=message) as err:
        ap.load_segments(path)
    assert isinstance(err.value, InvalidSegmentError) and isinstance(err.value, ValueError)
    assert isinstance(err.value.__cause__, InvalidSegmentError)


def test_invalid_times_in_other_formats(tmp_path: Path) -> None:
    path = write(tmp_path / "w.json", json.dumps({"segments": [{"start": 0, "end": 1}, {"start": 3, "end": 2}]}))
    with pytest.raises(SegmentFileError, match=r"w.json, segment #2: Segment 'w-0002' .*end \(2.0\) must be after"):
        ap.load_segments(path)
    srt = write(tmp_path / "r.srt", "1\n00:00:05,000 --> 00:00:04,000\nZurück\n")
    with pytest.raises(SegmentFileError, match=r"r.srt, line 2: Segment 'r-0001'.*must be after start"):
        ap.load_segments(srt)


def test_duplicate_ids_are_all_named(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.csv", "id,start,end\ns1,0,1\ns2,1,2\ns1,2,3\ns3,3,4\ns2,4,5\ns1,5,6\n")
    with pytest.raises(SegmentFileError) as err:
        ap.load_segments(path)
    assert str(err.value) == (
        f"Segment table {path} has duplicate segment ids: 's1' (line 2, line 4, line 7); 's2' (line 3, line 6). "
        "Give each segment its own id, or drop the id column to get numbered ids."
    )


def test_parse_time() -> None:
    assert parse_time("12.5") == 12.5 and parse_time(" 3 ") == 3.0 and parse_time("12,5") == 12.5
    assert parse_time("00:00:01,250") == 1.25 and parse_time("1:00:00") == 3600.0 and parse_time("01:30.5") == 90.5
    for bad in ("", None, True, "1:2:3:4", "ten", "00:00:60.0"):
        with pytest.raises(SegmentFileError, match="is not a time"):
            parse_time(bad, "x.csv, line 2, start")


def test_csv_errors_name_the_line_a_multiline_row_starts_on(tmp_path: Path) -> None:
    path = write(tmp_path / "ml.csv", 'id,start,end,text\ns1,0,1,"zwei\nZeilen"\n\ns2,3,2,"drei\nZeilen\nhier"\n')
    with pytest.raises(SegmentFileError, match=r"ml.csv, line 5: Segment 's2' of recording 'ml': end \(2.0\) must be "
                                               r"after start \(3.0\)\. Fix the reversed"):
        ap.load_segments(path)
    ok = write(tmp_path / "ok.csv", 'id,start,end,text\ns1,0,1,"zwei\nZeilen"\ns2,1,2,x\ns2,2,3,y\n')
    with pytest.raises(SegmentFileError, match=r"duplicate segment ids: 's2' \(line 4, line 5\)"):
        ap.load_segments(ok)


def test_known_columns_repeated_in_another_case_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "case.csv", "Start,start,end\n1,2,3\n")
    with pytest.raises(SegmentFileError, match=r"case.csv repeats the column\(s\) 'Start', 'start' in its header\. "
                                               "Rename or remove the copies"):
        ap.load_segments(path)


def test_blank_speaker_and_language_cells_fall_back_to_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "b.csv", "start,end,speaker,language\n0,1,  ,\t\n1,2, Anna , de \n")
    segs = ap.load_segments(path, speaker="Unbekannt", language="en")
    assert [(s.speaker, s.language) for s in segs] == [("Unbekannt", "en"), ("Anna", "de")]
    items = [{"start": 0, "end": 1, "speaker": " ", "language": None}, {"start": 1, "end": 2, "speaker": 7}]
    assert [s.speaker for s in ap.load_segments(write(tmp_path / "b.json", json.dumps(items)))] == [None, "7"]


@pytest.mark.parametrize("name, content, line", [
    ("merged.srt", "1\n00:00:01,000 --> 00:00:02,000\nHallo\n2\n00:00:03,000 --> 00:00:04,000\nWelt\n", 5),
    ("merged.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nHallo\n00:03.000 --> 00:04.000\nWelt\n", 5),
])
def test_cues_without_a_blank_line_between_them_are_refused(tmp_path: Path, name: str, content: str,
                                                             line: int) -> None:
    """Without the blank line the second cue's timing would silently become text of the first."""
    path = write(tmp_path / name, content)
    with pytest.raises(SegmentFileError, match=rf"{name}, line {line}: a timing line inside the cue timed on line "
                                               r"\d, so two cues would merge into one\. Insert a blank line"):
        ap.load_segments(path)


def test_openai_whisper_json_keeps_its_ids_and_extra_keys(tmp_path: Path) -> None:
    data = {"text": " Hi. Ho.", "language": "en", "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": " Hi.", "tokens": [50364, 2421], "temperature": 0.0},
        {"id": 1, "seek": 0, "start": 1.0, "end": 2.0, "text": " Ho.", "tokens": [3401], "temperature": 0.0}]}
    segs = ap.load_segments(write(tmp_path / "w.json", json.dumps(data)))
    assert [(s.id, s.text, s.language) for s in segs] == [("0", "Hi.", "en"), ("1", "Ho.", "en")]
    assert segs[0].metadata == {"seek": 0, "tokens": [50364, 2421], "temperature": 0.0}


def test_a_boolean_is_not_a_time(tmp_path: Path) -> None:
    with pytest.raises(SegmentFileError, match=r"t.json, segment #1 \(segment t-0001\), start: True is not a time"):
        ap.load_segments(write(tmp_path / "t.json", json.dumps([{"start": True, "end": 2}])))
    with pytest.raises(SegmentFileError, match=r"x: an empty cell is not a time"):
        parse_time("  ", "x")
