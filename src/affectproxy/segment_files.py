"""Reading segment tables: CSV/TSV, JSON, WhisperX JSON, SRT, WebVTT and Praat TextGrid.

:func:`load_segments` turns a table into ordered :class:`~affectproxy.model.Segment` objects. Every error names
the file, the line (or segment number) and the segment id when known, the offending value and the fix.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "speech.srt"
    >>> _ = path.write_text("1\\n00:00:01,000 --> 00:00:03,500\\nMeine Damen\\nund Herren!\\n\\n"
    ...                     "2\\n00:00:04,000 --> 00:00:06,000\\nDas ist ein Skandal.\\n")
    >>> [(s.id, s.start, s.end, s.text) for s in load_segments(path)]
    [('speech-0001', 1.0, 3.5, 'Meine Damen und Herren!'), ('speech-0002', 4.0, 6.0, 'Das ist ein Skandal.')]
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from affectproxy._subtitles import read_cues
from affectproxy._textgrid import read_textgrid
from affectproxy.errors import InvalidSegmentError, SegmentFileError
from affectproxy.model import Recording, Segment

FORMATS = ("csv", "tsv", "json", "whisperx", "srt", "vtt", "textgrid")
"""Values ``format=`` accepts (``whisperx`` is an alias of ``json``: WhisperX output is JSON)."""

_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".srt": "srt", ".vtt": "vtt",
               ".textgrid": "textgrid"}
_ID, _TEXT = ("id", "segment_id"), ("text", "transcript")
_KNOWN = {*_ID, *_TEXT, "start", "end", "speaker", "language", "audio", "recording"}
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d*)?)$")
_Rows = list[tuple[str, dict[str, Any]]]


def parse_time(value: Any, where: str = "<time>") -> float:
    """Seconds from a number, a decimal string (``"12.5"``, ``"12,5"``) or a clock ``[HH:]MM:SS[.mmm|,mmm]``.

    ``"nan"``/``"inf"`` parse (as floats) so that the segment's own validation names them.

    Args:
        value: the cell.
        where: the place, for the message (``"speech.csv, line 4, start"``).

    Returns:
        Seconds as a float.

    Raises:
        SegmentFileError: the value is empty or not a time.

    Examples:
        >>> parse_time("01:02:03.5"), parse_time("02:03,25"), parse_time(7)
        (3723.5, 123.25, 7.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.count(",") == 1 and ":" not in text:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            pass
    match = _CLOCK.match(text)
    if match and int(match.group(2)) < 60 and float(match.group(3).replace(",", ".")) < 60:
        hours, minutes, seconds = match.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))
    shown = repr(value) if text or isinstance(value, bool) else "an empty cell"
    raise SegmentFileError(f"{where}: {shown} is not a time. Write seconds (12.5) or HH:MM:SS.mmm (00:00:12.500).")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SegmentFileError(
            f"Segment table {path} is not UTF-8 text (byte {raw[exc.start]:#04x} on line {line}). Save it "
            "as UTF-8 (in Excel: 'CSV UTF-8'), or check that it is a segment table at all."
        ) from exc


def _read_csv(path: Path, text: str, delimiter: str | None) -> _Rows:
    header_line = text.split("\n", 1)[0]
    if delimiter is None:
        delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SegmentFileError(f"Segment table {path} is empty. Write a header line (id,start,end,text) and one "
                               "row per segment.") from None
    lowered = [h.lower() for h in header]
    missing = [c for c in ("start", "end") if c not in lowered]
    if missing:
        raise SegmentFileError(
            f"Segment table {path} has no {' or '.join(map(repr, missing))} column (columns: {', '.join(header)}). "
            "Name the time columns 'start' and 'end' (seconds, or HH:MM:SS.mmm)."
        )
    # Known columns match in any letter case, so 'Start' and 'start' are the same column.
    keys = [low if low in _KNOWN else orig for low, orig in zip(lowered, header, strict=True)]
    dupes = sorted({h for h, k in zip(header, keys, strict=True) if keys.count(k) > 1})
    if dupes:
        raise SegmentFileError(f"Segment table {path} repeats the column(s) {', '.join(map(repr, dupes))} in its "
                               "header. Rename or remove the copies.")
    rows: _Rows = []
    try:
        while True:
            first = reader.line_num + 1  # a quoted cell may span lines: name the line the row starts on
            cells = next(reader, None)
            if cells is None:
                break
            if not any(c.strip() for c in cells):
                continue
            where = f"line {first}"
            if len(cells) > len(keys):
                raise SegmentFileError(
                    f"Segment table {path}, {where}: {len(cells)} cells but the header has {len(keys)} columns. "
                    f"Quote cells that contain the delimiter {delimiter!r} (\"like, this\")."
                )
            cells += [""] * (len(keys) - len(cells))
            rows.append((where, dict(zip(keys, cells, strict=True))))
    except csv.Error as exc:
        raise SegmentFileError(f"Segment table {path}, line {reader.line_num}: cannot parse the CSV ({exc}). Check "
                               "the quoting on that line.") from exc
    return rows


def _read_json(path: Path, text: str) -> tuple[_Rows, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SegmentFileError(f"Segment table {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                               f"{exc.colno}. Fix the JSON (a list of objects, or WhisperX output).") from exc
    language = None
    if isinstance(data, Mapping):
        if not isinstance(data.get("segments"), list):
            raise SegmentFileError(f"Segment table {path}: the JSON object has no 'segments' list (keys: "
                                   f"{', '.join(map(str, data)) or 'none'}). Give a list of segments, or "
                                   "{\"segments\": [...]} as WhisperX writes.")
        language = data.get("language") or None
        data = data["segments"]
    if not isinstance(data, list):
        raise SegmentFileError(f"Segment table {path}: expected a JSON list of segment objects or "
                               f"{{\"segments\": [...]}}, got {type(data).__name__}.")
    rows: _Rows = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, Mapping):
            raise SegmentFileError(f"Segment table {path}, segment #{i}: expected an object with start and end, "
                                   f"got {item!r:.60}.")
        rows.append((f"segment #{i}", {k if k in _KNOWN else str(k): v for k, v in item.items()}))
    return rows, language


def _pick(fields: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in fields and fields[name] not in (None, ""):
            return name, fields[name]
    return None, None


@attrs.define
class _Recordings:
    """Recording objects: the default one, and one per audio path named in the table (resolved against it)."""

    table: Path
    default: Recording
    by_path: dict[str, Recording] = attrs.field(factory=dict)

    def get(self, audio: Any, rec_id: Any) -> Recording:
        if audio in (None, ""):
            return self.default if rec_id in (None, "") else self._named(str(rec_id), self.default.path)
        given = Path(str(audio))
        path = given if given.is_absolute() else self.table.parent / given
        key = os.fspath(path)
        if key not in self.by_path:
            rid = str(rec_id) if rec_id not in (None, "") else self._unique_id(path)
            self.by_path[key] = Recording(rid, key)
        return self.by_path[key]

    def _named(self, rid: str, path: str | None) -> Recording:
        key = f"id:{rid}"
        if key not in self.by_path:
            self.by_path[key] = Recording(rid, path)
        return self.by_path[key]

    def _unique_id(self, path: Path) -> str:
        taken = {r.id for r in self.by_path.values()}
        if path.stem not in taken:
            return path.stem
        rel = path.relative_to(self.table.parent) if path.is_relative_to(self.table.parent) else path
        return rel.with_suffix("").as_posix()


def _default_recording(recording: Recording | str | None, audio: str | os.PathLike[str] | None,
                       table: Path) -> Recording:
    path = None if audio is None else os.fspath(audio)
    if isinstance(recording, Recording):
        return recording if path is None else attrs.evolve(recording, path=path)
    if recording is not None and not isinstance(recording, str):
        raise TypeError(f"recording= must be a Recording or an id string, got {type(recording).__name__}.")
    rid = recording or (Path(path).stem if path else table.stem)
    return Recording(rid, path)


def _cell(value: Any) -> str | None:
    """A cell as stripped text, None when empty or blank."""
    return None if value is None else str(value).strip() or None


def _build(path: Path, rows: _Rows, recordings: _Recordings, speaker: str | None,
           language: str | None) -> list[Segment]:
    segments: list[Segment] = []
    counters: dict[str, int] = {}
    # A 'recording' column names audio per row, unless an 'audio' column does: then it is the recording id.
    has_audio = any("audio" in f for _, f in rows)
    for where, fields in rows:
        audio = fields.get("audio") if has_audio else fields.get("recording")
        rec = recordings.get(audio, fields.get("recording") if has_audio else None)
        counters[rec.id] = counters.get(rec.id, 0) + 1
        id_key, given_id = _pick(fields, _ID)
        sid = str(given_id) if given_id is not None else f"{rec.id}-{counters[rec.id]:04d}"
        place = f"Segment table {path}, {where} (segment {sid})"
        times = []
        for col in ("start", "end"):
            if fields.get(col) in (None, ""):
                raise SegmentFileError(f"{place}: no {col} time. Give every segment a start and an end (seconds, "
                                       "or HH:MM:SS.mmm).")
            times.append(parse_time(fields[col], f"{place}, {col}"))
        text_key, text = _pick(fields, _TEXT)
        unused = {k for k in (*_ID, *_TEXT) if k not in (id_key, text_key) and fields.get(k) not in (None, "")}
        metadata = {k: v for k, v in fields.items() if k not in _KNOWN or k in unused}
        try:
            segments.append(Segment(
                sid, rec, times[0], times[1],
                text="" if text is None else str(text).strip(),
                speaker=_cell(fields.get("speaker")) or speaker,
                language=_cell(fields.get("language")) or language,
                metadata=metadata,
            ))
        except InvalidSegmentError as exc:
            raise SegmentFileError(f"Segment table {path}, {where}: {exc}") from exc
    return segments


def _check_unique(path: Path, rows: _Rows, segments: list[Segment]) -> None:
    places: dict[str, list[str]] = {}
    for (where, _), seg in zip(rows, segments, strict=True):
        places.setdefault(seg.id, []).append(where)
    dupes = {sid: wheres for sid, wheres in places.items() if len(wheres) > 1}
    if dupes:
        listed = "; ".join(f"{sid!r} ({', '.join(w)})" for sid, w in list(dupes.items())[:20])
        more = f"; and {len(dupes) - 20} more" if len(dupes) > 20 else ""
        raise SegmentFileError(f"Segment table {path} has duplicate segment ids: {listed}{more}. Give each segment "
                               "its own id, or drop the id column to get numbered ids.")


def load_segments(
    path: str | os.PathLike[str],
    audio: str | os.PathLike[str] | None = None,
    *,
    recording: Recording | str | None = None,
    speaker: str | None = None,
    language: str | None = None,
    format: str | None = None,
    tier: str | None = None,
) -> list[Segment]:
    """Read a segment table into ordered segments.

    Formats (from the extension, or ``format=``): ``.csv`` (delimiter ``,``, ``;`` or tab, whichever the
    header uses most), ``.tsv``, ``.json`` (a list of objects, or ``{"segments": [...]}`` as WhisperX writes,
    whose top-level ``language`` becomes the default), ``.srt``, ``.vtt`` (``<v Name>`` voice tags give the
    speaker; a ``Language:`` header the default language) and Praat ``.TextGrid`` (long or short text format;
    one interval tier, empty intervals skipped).

    Columns/keys: ``start`` and ``end`` (seconds, or ``HH:MM:SS.mmm``) are required; ``id`` or ``segment_id``
    (default ``"{recording_id}-{index:04d}"``, numbered from 1 per recording in file order), ``text`` or
    ``transcript``, ``speaker``, ``language``, and ``audio`` (a per-row audio path, relative to the table's
    folder, for corpora of one-utterance files; a ``recording`` column does the same when there is no
    ``audio`` column, and otherwise names the recording id). Other columns go into ``metadata`` (CSV cells as
    strings; JSON values as they are: WhisperX ``words`` stay a list of dicts). Cue numbers and identifiers of
    SRT/VTT go into ``metadata["cue"]``, the tier name of a TextGrid into ``metadata["tier"]``.

    Audio files are not opened here: a missing audio file is reported per segment when audio is read.

    Args:
        path: the segment table.
        audio: the recording's audio (or video) file, relative to the working directory; rows with their own
            ``audio`` cell use that instead.
        recording: a :class:`Recording`, or its id (default: the audio file's stem, else the table's stem).
        speaker: the speaker of segments whose row names none.
        language: the language of segments whose row names none (overrides a file-level language).
        format: one of :data:`FORMATS`, to override the extension.
        tier: the TextGrid interval tier to read (default: the first interval tier).

    Returns:
        The segments in file order.

    Raises:
        SegmentFileError: the file is missing, empty, unreadable or of unknown format; a time is not a time; the
            start/end columns are missing; times are negative, NaN or reversed; ids repeat; two SRT/VTT cues
            lack the blank line between them. The message names the
            file, the line and segment id, the value and the fix. (A subclass of ``InvalidSegmentError``.)

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "talk.csv").write_text(
        ...     "start,end,text,mood\\n0.5,2.0,Guten Tag,calm\\n2.5,00:00:04.250,Danke,\\n")
        >>> segs = load_segments(folder / "talk.csv", audio="talk.wav", speaker="A")
        >>> [(s.id, s.start, s.end, s.speaker, s.metadata) for s in segs]
        [('talk-0001', 0.5, 2.0, 'A', {'mood': 'calm'}), ('talk-0002', 2.5, 4.25, 'A', {'mood': ''})]
        >>> segs[0].recording
        Recording(id='talk', path='talk.wav', speaker=None, date=None, metadata={})
    """
    table = Path(path)
    if not table.is_file():
        what = "is a folder, not a file" if table.is_dir() else "does not exist"
        raise SegmentFileError(f"Segment table {table} {what}. Fix the path (relative paths start at "
                               f"{Path.cwd()}).")
    fmt = format.lower() if format else _EXTENSIONS.get(table.suffix.lower())
    if fmt not in FORMATS:
        shown = f"format {format!r}" if format else f"extension {table.suffix or '(none)'!r}"
        raise SegmentFileError(f"Segment table {table}: unknown {shown}. Use .csv, .tsv, .json (also WhisperX), "
                               f".srt, .vtt or .TextGrid, or pass format= one of {', '.join(FORMATS)}.")
    if tier is not None and fmt != "textgrid":
        raise SegmentFileError(f"Segment table {table}: tier={tier!r} applies only to TextGrid files, and this is "
                               f"read as {fmt}. Drop tier=, or pass format='textgrid'.")
    text = _read_text(table)
    file_language = None
    if fmt in ("csv", "tsv"):
        rows = _read_csv(table, text, "\t" if fmt == "tsv" else None)
    elif fmt in ("json", "whisperx"):
        rows, file_language = _read_json(table, text)
    elif fmt in ("srt", "vtt"):
        rows, file_language = read_cues(table, text, vtt=fmt == "vtt")
    else:
        rows = read_textgrid(table, text, tier)
    if not rows:
        raise SegmentFileError(f"Segment table {table} holds no segments. Check that it is the right file (for a "
                               "TextGrid: that the tier has labelled intervals).")
    recordings = _Recordings(table, _default_recording(recording, audio, table))
    segments = _build(table, rows, recordings, speaker, language or file_language)
    _check_unique(table, rows, segments)
    return segments


__all__ = ["FORMATS", "load_segments", "parse_time"]
