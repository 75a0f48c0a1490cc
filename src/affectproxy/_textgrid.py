"""Praat TextGrid interval tiers as raw segment rows (private; see :mod:`affectproxy.segment_files`).

Both text formats hold the same values in the same order; the long format adds ``name =`` labels and
``[n]`` indices. So one tokenizer serves both: it keeps quoted strings (``""`` is an escaped quote), numbers and
the ``<exists>``/``<absent>`` flag, and drops labels, indices and ``!`` comments.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from affectproxy.errors import SegmentFileError

_TOKEN = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"'
    r"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<flag><exists>|<absent>)"
    r"|\[[^\]]*\]|!.*|[A-Za-z_][A-Za-z_0-9]*\??|\S"
)


class _Tokens:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.items = [(m.lastgroup, m.group(m.lastgroup), m.start()) for m in _TOKEN.finditer(text) if m.lastgroup]
        self.pos = 0

    def line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def _next(self, kind: str, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise SegmentFileError(f"Segment table {self.path}: the TextGrid ends early, while reading {what}. The "
                                   "file is truncated: open and re-save it in Praat.")
        got, value, offset = self.items[self.pos]
        if got != kind:
            raise SegmentFileError(
                f"Segment table {self.path}, line {self.line(offset)}: expected {what} in the TextGrid, found "
                f"{value!r}. The file is not a valid TextGrid: open and re-save it in Praat (Save as text file)."
            )
        self.pos += 1
        return value, offset

    def string(self, what: str) -> tuple[str, int]:
        value, offset = self._next("str", what)
        return value.replace('""', '"'), offset

    def number(self, what: str) -> float:
        return float(self._next("num", what)[0])

    def flag(self) -> str:
        return self._next("flag", "'<exists>'")[0]


def read_textgrid(path: Path, text: str, tier: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Rows ``(where, fields)`` from one interval tier of a TextGrid, skipping empty labels.

    Args:
        path: the file (for messages).
        text: its decoded text.
        tier: the interval tier's name; None for the first interval tier.

    Returns:
        One row per non-empty interval, in time order, with ``start``, ``end``, ``text`` and ``tier``.

    Raises:
        SegmentFileError: not a TextGrid, malformed, no such tier, or a point tier where intervals are needed.
    """
    if "ooBinaryFile" in text[:40]:
        raise SegmentFileError(f"Segment table {path} is a binary Praat file. In Praat, save the TextGrid with "
                               "'Save as text file...' (or short text file) and load that.")
    toks = _Tokens(path, text)
    if toks.string("'File type = \"ooTextFile\"'")[0] != "ooTextFile":
        raise SegmentFileError(f"Segment table {path} is not a Praat text file (no 'ooTextFile' header). Save it "
                               "from Praat as a text file.")
    kind, _ = toks.string("'Object class = \"TextGrid\"'")
    if kind != "TextGrid":
        raise SegmentFileError(f"Segment table {path} is a Praat {kind!r} object, not a TextGrid.")
    toks.number("the TextGrid's xmin")
    toks.number("the TextGrid's xmax")
    n_tiers = int(toks.number("the number of tiers")) if toks.flag() == "<exists>" else 0
    intervals: dict[str, list[tuple[float, float, str, int]]] = {}
    points: list[str] = []
    for t in range(n_tiers):
        cls, _ = toks.string(f"the class of tier {t + 1}")
        name, _ = toks.string(f"the name of tier {t + 1}")
        toks.number(f"tier {name!r}'s xmin")
        toks.number(f"tier {name!r}'s xmax")
        count = int(toks.number(f"tier {name!r}'s size"))
        if cls == "IntervalTier":
            items = []
            for i in range(count):
                xmin = toks.number(f"interval {i + 1} of tier {name!r} (xmin)")
                xmax = toks.number(f"interval {i + 1} of tier {name!r} (xmax)")
                label, offset = toks.string(f"interval {i + 1} of tier {name!r} (text)")
                items.append((xmin, xmax, label, toks.line(offset)))
            intervals.setdefault(name, items)
        elif cls == "TextTier":
            for i in range(count):
                toks.number(f"point {i + 1} of tier {name!r} (time)")
                toks.string(f"point {i + 1} of tier {name!r} (mark)")
            points.append(name)
        else:
            raise SegmentFileError(f"Segment table {path}: tier {name!r} has unknown class {cls!r} (expected "
                                   "IntervalTier or TextTier). Re-save the file in Praat.")
    available = f"interval tiers: {', '.join(map(repr, intervals)) or 'none'}; point tiers: " \
                f"{', '.join(map(repr, points)) or 'none'}"
    if not intervals:
        raise SegmentFileError(f"Segment table {path} has no interval tier ({available}). Segments come from an "
                               "interval tier: add one in Praat.")
    chosen = next(iter(intervals)) if tier is None else tier
    if chosen not in intervals:
        why = "is a point tier (TextTier), which has no intervals" if chosen in points else "does not exist"
        raise SegmentFileError(f"Segment table {path}: tier {chosen!r} {why} ({available}). Pass one of the "
                               "interval tiers as tier=.")
    return [
        (f"line {line} (tier {chosen!r}, interval {i})", {"start": a, "end": b, "text": label.strip(), "tier": chosen})
        for i, (a, b, label, line) in enumerate(intervals[chosen], start=1)
        if label.strip()
    ]


__all__ = ["read_textgrid"]
