"""SubRip (.srt) and WebVTT (.vtt) cues as raw segment rows (private; see :mod:`affectproxy.segment_files`)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from affectproxy.errors import SegmentFileError

_VOICE = re.compile(r"<v(?:\.[^\s>]+)*\s+([^>]*)>")
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<\d[\d:.]*>|\{\\[^}]*\}")
_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blocks of non-blank lines with the (1-based) line number of each block's first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not current:
                first = number
            current.append(line.rstrip())
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    return blocks


def _clean(lines: list[str]) -> str:
    """Cue payload -> one line of plain text (tags removed, entities decoded, display line breaks joined)."""
    return " ".join(html.unescape(_TAG.sub("", line)).strip() for line in lines if line.strip()).strip()


def read_cues(path: Path, text: str, vtt: bool) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    """Rows ``(where, fields)`` from an SRT or WebVTT file, and the file's language (WebVTT header) if any.

    Args:
        path: the file (for messages).
        text: its decoded text.
        vtt: True for WebVTT, False for SRT.

    Returns:
        The rows in file order and the ``Language:`` header value (WebVTT only) or None.

    Raises:
        SegmentFileError: a missing ``WEBVTT`` line, or a cue without a readable timing line.
    """
    blocks = _blocks(text)
    language = None
    kind = "WebVTT" if vtt else "SRT"
    if vtt:
        if not blocks or not blocks[0][1][0].lstrip("\ufeff").startswith("WEBVTT"):
            raise SegmentFileError(f"Segment table {path} is not WebVTT: its first line must be 'WEBVTT'. Add that "
                                   "line, or pass format='srt' if it is a SubRip file.")
        header = blocks[0][1][1:]
        if any("-->" in line for line in header):
            raise SegmentFileError(f"Segment table {path}, line {blocks[0][0] + 1}: a WebVTT cue must be separated "
                                   "from the 'WEBVTT' header by a blank line. Insert one.")
        for line in header:
            key, _, value = line.partition(":")
            if key.strip().lower() == "language" and value.strip():
                language = value.strip()
        blocks = blocks[1:]
    rows = []
    for first, lines in blocks:
        if vtt and lines[0].split(None, 1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            raise SegmentFileError(
                f"Segment table {path}, line {first}: this {kind} block has no timing line "
                f"('00:00:01{',' if not vtt else '.'}000 --> 00:00:03{',' if not vtt else '.'}500'): {lines[0]!r}. "
                "Fix the timing line, or remove the blank line that split a cue in two."
            )
        match = _TIMING.match(lines[timing])
        line_no = first + timing
        if not match:
            raise SegmentFileError(f"Segment table {path}, line {line_no}: cannot read the timing line "
                                   f"{lines[timing]!r}. Write it as '00:00:01.000 --> 00:00:03.500'.")
        payload = lines[timing + 1:]
        merged = next((i for i, line in enumerate(payload) if _TIMING.match(line)), None)
        if merged is not None:
            raise SegmentFileError(
                f"Segment table {path}, line {line_no + 1 + merged}: a timing line inside the cue timed on line "
                f"{line_no}, so two cues would merge into one. Insert a blank line before the second cue (before "
                "its number, if it has one)."
            )
        fields: dict[str, Any] = {"start": match.group(1), "end": match.group(2), "text": _clean(payload)}
        if timing:
            fields["cue"] = " ".join(lines[:timing]).strip()
        if vtt:
            voices = list(dict.fromkeys(v.strip() for v in _VOICE.findall(" ".join(payload)) if v.strip()))
            if voices:
                fields["speaker"] = voices[0]
            if len(voices) > 1:
                fields["voices"] = voices
        rows.append((f"line {line_no}", fields))
    return rows, language


__all__ = ["read_cues"]
