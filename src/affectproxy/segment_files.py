"""Reading segment tables: CSV/TSV, JSON, WhisperX JSON, SRT, WebVTT and Praat TextGrid.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "speech.srt"
    >>> _ = path.write_text("1\\n00:00:01,000 --> 00:00:03,500\\nMeine Damen\\nund Herren!\\n\\n"
    ...                     "2\\n00:00:04,000 --> 00:00:06,000\\nDas ist ein Skandal.\\n")
    >>> [(s.id, s.start, s.end, s.text) for s in load_segments(path)]
    [('speech-0001', 1.0, 3.5, 'Meine Damen und Herren!'), ('speech-0002', 4.0, 6.0, 'Das ist ein Skandal.')]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from affectproxy.errors import InvalidSegmentError, SegmentFileError
from affectproxy.model import Recording, Segment

_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".srt": "srt", ".vtt": "vtt", ".textgrid": "textgrid"}
_KNOWN = {"id", "segment_id", "start", "end", "text", "transcript", "speaker", "language", "audio", "recording"}
_TIME = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:[.,]\d+)?)$")
Row = dict[str, Any]


def parse_time(value: Any, where: str) -> float:
    """Seconds from a number or an ``[HH:]MM:SS(.mmm|,mmm)`` string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _TIME.match(text)
    if not m:
        raise SegmentFileError(f"{where}: cannot read the time {value!r}; use seconds or HH:MM:SS.mmm.")
    h, mi, s = m.groups()
    return int(h or 0) * 3600 + int(mi) * 60 + float(s.replace(",", "."))


def _read_csv(path: Path) -> list[tuple[str, Row]]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=str,
                            keep_default_na=False)
    except Exception as exc:
        raise SegmentFileError(f"Cannot read segment table {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return [(f"{path}, line {i + 2}", dict(row)) for i, row in enumerate(frame.to_dict("records"))]


def _read_json(path: Path) -> tuple[list[tuple[str, Row]], str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegmentFileError(f"Segment file {path} is not valid JSON: {exc}.") from exc
    language = None
    if isinstance(data, Mapping):
        language = data.get("language")
        data = data.get("segments")
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise SegmentFileError(f"Segment file {path}: expected a list of objects or {{\"segments\": [...]}} "
                               "(WhisperX output).")
    rows = []
    for i, item in enumerate(data):
        row = {k: v for k, v in item.items() if k not in ("words", "chars")}
        if "words" in item:
            row["n_words"] = len(item["words"])
        rows.append((f"{path}, segment #{i + 1}", row))
    return rows, language


_CUE = re.compile(r"([\d:.,]+)\s*-->\s*([\d:.,]+)")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]+>")


def _read_cues(path: Path, vtt: bool) -> list[tuple[str, Row]]:
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    if vtt:
        if not blocks or not blocks[0].startswith("WEBVTT"):
            raise SegmentFileError(f"Segment file {path}: a WebVTT file must start with 'WEBVTT'.")
        blocks = blocks[1:]
    rows = []
    for block in blocks:
        lines = block.strip().split("\n")
        idx = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if idx is None:
            if vtt and lines[0].startswith(("NOTE", "STYLE", "REGION")):
                continue
            raise SegmentFileError(f"Segment file {path}: cue {lines[0]!r} has no 'start --> end' line.")
        m = _CUE.search(lines[idx])
        if not m:
            raise SegmentFileError(f"Segment file {path}: cannot read the timing line {lines[idx]!r}.")
        body = " ".join(line.strip() for line in lines[idx + 1:] if line.strip())
        row: Row = {"start": m.group(1), "end": m.group(2)}
        voice = _VOICE.search(body)
        if voice:
            row["speaker"] = voice.group(1).strip()
        row["text"] = _TAG.sub("", body).strip()
        if idx > 0 and not (not vtt and lines[0].strip().isdigit()):
            row["id"] = lines[0].strip()
        rows.append((f"{path}, cue at {m.group(1)}", row))
    return rows


def _read_textgrid(path: Path, tier: str | None) -> list[tuple[str, Row]]:
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    if "ooTextFile" not in text:
        raise SegmentFileError(f"Segment file {path} is not a Praat TextGrid (no 'ooTextFile' header).")
    # Tokens: strings in quotes or bare numbers/words; works for the long and the short text format.
    tokens = re.findall(r'"((?:[^"]|"")*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(<exists>)', text)
    values: list[str | float] = [q.replace('""', '"') if q or (n == "" and e == "") else float(n) if n else e
                                 for q, n, e in tokens]
    # values: "ooTextFile" "TextGrid" xmin xmax <exists> ntiers, then per tier: class name xmin xmax n ...
    try:
        pos = values.index("<exists>") + 1
        n_tiers = int(values[pos])  # type: ignore[arg-type]
        pos += 1
        tiers: dict[str, list[tuple[float, float, str]]] = {}
        order = []
        for _ in range(n_tiers):
            cls, name = str(values[pos]), str(values[pos + 1])
            n = int(values[pos + 4])  # type: ignore[arg-type]
            pos += 5
            items = []
            for _ in range(n):
                if cls == "IntervalTier":
                    items.append((float(values[pos]), float(values[pos + 1]), str(values[pos + 2])))
                    pos += 3
                else:
                    pos += 2
            if cls == "IntervalTier":
                tiers[name] = items
                order.append(name)
    except (ValueError, IndexError) as exc:
        raise SegmentFileError(f"Cannot parse the TextGrid {path}: {exc}.") from exc
    if not order:
        raise SegmentFileError(f"TextGrid {path} has no interval tier.")
    name = tier or order[0]
    if name not in tiers:
        raise SegmentFileError(f"TextGrid {path} has no interval tier {name!r}; tiers: {', '.join(order)}.")
    return [(f"{path}, tier {name!r} interval {i + 1}", {"start": a, "end": b, "text": label.strip()})
            for i, (a, b, label) in enumerate(tiers[name]) if label.strip()]


def _recording(value: Recording | str | None, audio: str | Path | None, table: Path,
               speaker: str | None) -> Recording:
    if isinstance(value, Recording):
        return value
    rid = value or (Path(audio).stem if audio is not None else table.stem)
    return Recording(rid, None if audio is None else str(audio), speaker=speaker)


def _build(rows: Iterable[tuple[str, Row]], path: Path, default: Recording, speaker: str | None,
           language: str | None) -> list[Segment]:
    per_row: dict[str, Recording] = {}
    out = []
    for index, (where, row) in enumerate(rows, start=1):
        for col in ("start", "end"):
            if col not in row or row[col] in ("", None):
                raise SegmentFileError(f"{where}: no {col!r} value. Each segment needs start and end times "
                                       "(seconds).")
        rec = default
        audio = row.get("audio") or row.get("recording")
        if audio:
            apath = Path(str(audio))
            apath = apath if apath.is_absolute() else path.parent / apath
            rec = per_row.setdefault(str(apath), Recording(apath.stem, str(apath), speaker=speaker))
        sid = str(row.get("id") or row.get("segment_id") or f"{rec.id}-{index:04d}")
        start, end = parse_time(row["start"], where), parse_time(row["end"], where)
        text = row.get("text", row.get("transcript", ""))
        metadata = {k: v for k, v in row.items() if k not in _KNOWN and v not in ("", None)}
        try:
            out.append(Segment(sid, rec, start, end, text="" if text is None or (
                isinstance(text, float) and math.isnan(text)) else str(text).strip(),
                speaker=str(row["speaker"]) if row.get("speaker") not in (None, "") else speaker,
                language=str(row.get("language") or language or "") or None, metadata=metadata))
        except InvalidSegmentError as exc:
            raise InvalidSegmentError(f"{where}: {exc}") from exc
    return out


def load_segments(
    path: str | Path,
    audio: str | Path | None = None,
    *,
    recording: Recording | str | None = None,
    speaker: str | None = None,
    language: str | None = None,
    format: str | None = None,
    tier: str | None = None,
) -> list[Segment]:
    """Read a segment table, keeping its order.

    Args:
        path: the table: ``.csv``/``.tsv`` (columns ``start``, ``end`` and optionally ``id``/``segment_id``,
            ``text``/``transcript``, ``speaker``, ``language``, ``audio``; others go to ``metadata``), ``.json``
            (a list of objects with those keys, or WhisperX output ``{"segments": [...]}``), ``.srt``,
            ``.vtt`` (``<v Speaker>`` tags give the speaker) or ``.TextGrid`` (an interval tier).
        audio: the recording's audio file. A table may instead name audio per row (``audio`` column, relative
            to the table's folder), e.g. a corpus of one-utterance files.
        recording: a Recording, or its id (default: the audio file's stem, else the table's).
        speaker: the speaker of every segment without one.
        language: the language of every segment without one.
        format: override the format guessed from the extension (csv, json, srt, vtt, textgrid).
        tier: the TextGrid interval tier (default: the first interval tier).

    Returns:
        A list of :class:`Segment`; ids default to ``"{recording}-{index:04d}"``.

    Raises:
        SegmentFileError: missing file, unknown format, unparsable content or times.
        InvalidSegmentError: reversed, negative or non-finite times; duplicate ids.
    """
    path = Path(path)
    if not path.is_file():
        raise SegmentFileError(f"Segment table {path} does not exist. Fix the path.")
    fmt = (format or _FORMATS.get(path.suffix.lower(), "")).lower()
    file_language = None
    if fmt == "csv":
        rows = _read_csv(path)
    elif fmt == "json":
        rows, file_language = _read_json(path)
    elif fmt in ("srt", "vtt"):
        rows = _read_cues(path, fmt == "vtt")
    elif fmt == "textgrid":
        rows = _read_textgrid(path, tier)
    else:
        raise SegmentFileError(f"Segment table {path}: unknown format {path.suffix!r}. Use .csv, .tsv, .json, .srt, "
                               ".vtt or .TextGrid, or pass format=.")
    default = _recording(recording, audio, path, speaker)
    segments = _build(rows, path, default, speaker, language or file_language)
    seen: set[str] = set()
    dup = sorted({s.id for s in segments if s.id in seen or seen.add(s.id)})  # type: ignore[func-returns-value]
    if dup:
        raise InvalidSegmentError(f"Segment table {path} has duplicate segment ids: {dup[:10]}. Give each segment "
                                  "its own id.")
    return segments


__all__ = ["load_segments", "parse_time"]
