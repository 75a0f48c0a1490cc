"""Labelled emotion corpora as segments: EMO-DB by its file-name code, or any corpus listed in a CSV.

A corpus is a list of :class:`~affectproxy.model.Segment`, one per recording, each spanning the whole file, so
every evaluator runs on it unchanged and the statistics treat the files as independent. Each segment's
``metadata`` carries the acted ``label`` and what else is known (``sex``, ``text_code``, ``version``, ...).

Files that cannot be part of the corpus (a name that does not follow the code, audio that cannot be read) are
skipped with a warning and listed in :attr:`Corpus.skipped` with the reason, never dropped silently. A label
outside the corpus's label set is an error naming the file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError, SegmentFileError
from affectproxy.model import Recording, Segment


class CorpusError(SegmentFileError):
    """A corpus cannot be read: no such folder, a malformed list, or a label outside the corpus's label set."""


#: EMO-DB's emotion letters (German initials) -> the label used here (Burkhardt et al. 2005).
EMODB_EMOTIONS: dict[str, str] = {
    "W": "anger",  # Wut / Ärger
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happiness",  # Freude
    "T": "sadness",  # Trauer
    "N": "neutral",
}

#: EMO-DB's seven labels, in a fixed order used by every table.
EMODB_LABELS: tuple[str, ...] = ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")

#: EMO-DB's ten speakers (two digits) -> sex ("m"/"f"), from the corpus documentation.
EMODB_SPEAKERS: dict[str, str] = {
    "03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f", "15": "m", "16": "f",
}

#: EMO-DB's ten text codes (five short ``a..`` and five longer ``b..`` sentences).
EMODB_TEXTS: tuple[str, ...] = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")

_EMODB_NAME = re.compile(r"^(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$")
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@attrs.frozen
class SkippedFile:
    """A file left out of a corpus, and why.

    Attributes:
        path: the file as found.
        reason: why it is not part of the corpus, with the fix.
    """

    path: str
    reason: str


def _segments(value: Iterable[Segment]) -> tuple[Segment, ...]:
    return tuple(value)


def _labels(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _skipped(value: Iterable[SkippedFile]) -> tuple[SkippedFile, ...]:
    return tuple(value)


@attrs.frozen
class Corpus:
    """A labelled corpus: one whole-file segment per recording.

    Attributes:
        name: ``"emodb"`` or the CSV's stem.
        segments: one segment per file, in a stable order (sorted by file name for EMO-DB, list order for a CSV).
        labels: the corpus's label set, in table order.
        skipped: files left out, with the reason.
        root: the folder the files were found in.
    """

    name: str
    segments: tuple[Segment, ...] = attrs.field(converter=_segments)
    labels: tuple[str, ...] = attrs.field(converter=_labels)
    skipped: tuple[SkippedFile, ...] = attrs.field(converter=_skipped, factory=tuple)
    root: str = ""

    def __len__(self) -> int:
        return len(self.segments)

    def to_pandas(self) -> Any:
        """One row per file: segment_id, file, label, speaker, sex, duration, then the other metadata keys."""
        import pandas as pd

        rows = []
        for seg in self.segments:
            meta = dict(seg.metadata)
            row = {"segment_id": seg.id, "file": meta.pop("file", seg.recording.path), "label": meta.pop("label"),
                   "speaker": seg.speaker, "sex": meta.pop("sex", None), "duration": seg.duration}
            row.update(meta)
            rows.append(row)
        return pd.DataFrame(rows)


def _duration(path: Path) -> float:
    import soundfile as sf

    return float(sf.info(str(path)).duration)


def _skip(skipped: list[SkippedFile], path: Path | str, reason: str) -> None:
    skipped.append(SkippedFile(str(path), reason))


def _warn_skipped(name: str, skipped: Sequence[SkippedFile]) -> None:
    if skipped:
        first = skipped[0]
        more = f" (and {len(skipped) - 1} more; see Corpus.skipped)" if len(skipped) > 1 else ""
        warnings.warn(f"{name}: skipped {len(skipped)} file(s): {Path(first.path).name}: {first.reason}{more}",
                      UserWarning, stacklevel=3)


def _letter_error(where: str, letter: str) -> CorpusError:
    table = ", ".join(f"{k}={v}" for k, v in EMODB_EMOTIONS.items())
    return CorpusError(f"{where}: emotion letter {letter!r} is outside EMO-DB's label set ({table}). Rename or "
                       "remove the file.")


def parse_emodb_name(stem: str, *, where: str | None = None) -> dict[str, str]:
    """Split an EMO-DB file name (without suffix) into its fields.

    Args:
        stem: e.g. ``"03a01Fa"``: speaker (2 digits), text (3), emotion letter, version letter.
        where: how error messages name the file (default: ``stem``).

    Returns:
        ``{"speaker", "text_code", "emotion_letter", "version", "sex"}``.

    Raises:
        ValueError: the name does not follow the code (the message says which part is wrong).
        CorpusError: the emotion letter is not one of EMO-DB's seven (a label outside the corpus's set).

    Examples:
        >>> parse_emodb_name("03a01Fa")["emotion_letter"], parse_emodb_name("08b10Wb")["sex"]
        ('F', 'f')
    """
    m = _EMODB_NAME.match(stem)
    if m is None:
        raise ValueError("the name does not follow EMO-DB's code SSTTTEV (speaker 2 digits, text a/b + 2 digits, "
                         "emotion letter, version letter), e.g. 03a01Fa")
    speaker, text, letter, version = m["speaker"], m["text"], m["emotion"], m["version"]
    if speaker not in EMODB_SPEAKERS:
        raise ValueError(f"speaker {speaker} is not one of EMO-DB's ten ({', '.join(EMODB_SPEAKERS)})")
    if text not in EMODB_TEXTS:
        raise ValueError(f"text code {text} is not one of EMO-DB's ten ({', '.join(EMODB_TEXTS)})")
    if letter not in EMODB_EMOTIONS:
        raise _letter_error(where or stem, letter)
    return {"speaker": speaker, "text_code": text, "emotion_letter": letter, "version": version,
            "sex": EMODB_SPEAKERS[speaker]}


def load_emodb(folder: str | Path, *, texts: Mapping[str, str] | None = None) -> Corpus:
    """Load EMO-DB (Berlin Database of Emotional Speech) from its folder.

    The folder is the unpacked corpus (audio in ``wav/``) or a folder of the audio files themselves. Each file
    becomes one segment with id = file stem, speaker = the two-digit speaker code, language ``de``, and metadata
    ``label`` (anger, boredom, disgust, fear, happiness, neutral, sadness), ``emotion_letter``, ``sex``,
    ``text_code``, ``version`` and ``file``.

    Args:
        folder: the corpus folder.
        texts: text code -> sentence, to fill each segment's transcript; EMO-DB ships none, so by default the
            segments have no text.

    Returns:
        The :class:`Corpus` (label set: :data:`EMODB_LABELS`).

    Raises:
        CorpusError: no such folder, no audio files, or a file whose emotion letter is not one of the seven.

    Warns:
        UserWarning: files skipped (name not in the code, unknown speaker or text, unreadable audio); they are
            listed in :attr:`Corpus.skipped`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CorpusError(f"EMO-DB folder {str(root)!r} does not exist. Point it at the unpacked corpus (with wav/).")
    audio_dir = root / "wav" if (root / "wav").is_dir() else root
    files = sorted(p for p in audio_dir.iterdir() if p.is_file() and p.suffix.lower() in _AUDIO_SUFFIXES)
    if not files:
        raise CorpusError(f"No audio files in {str(audio_dir)!r}. Point it at EMO-DB's folder (with wav/).")
    segments: list[Segment] = []
    skipped: list[SkippedFile] = []
    for path in files:
        try:
            fields = parse_emodb_name(path.stem, where=str(path))
        except CorpusError:
            raise
        except ValueError as exc:
            _skip(skipped, path, str(exc))
            continue
        try:
            duration = _duration(path)
        except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError for unreadable files
            _skip(skipped, path, f"cannot read the audio ({exc}); re-export it as WAV")
            continue
        if duration <= 0:
            _skip(skipped, path, "the file holds no audio")
            continue
        label = EMODB_EMOTIONS[fields["emotion_letter"]]
        meta: dict[str, Any] = {"label": label, **fields, "file": path.name}
        rec = Recording(path.stem, str(path), speaker=fields["speaker"], metadata={"corpus": "emodb"})
        text = (texts or {}).get(fields["text_code"], "")
        segments.append(Segment(path.stem, rec, 0.0, duration, text=text, speaker=fields["speaker"],
                                language="de", metadata=meta))
    _warn_skipped(f"EMO-DB {audio_dir}", skipped)
    return Corpus("emodb", segments, EMODB_LABELS, skipped, str(audio_dir))


def load_labelled_csv(
    path: str | Path, *, labels: Iterable[str] | None = None, audio_root: str | Path | None = None,
    name: str | None = None,
) -> Corpus:
    """Load a labelled corpus listed in a CSV: one row per file.

    Columns: ``file`` (path, relative to ``audio_root`` or the CSV's folder), ``label``, ``speaker``; optional
    ``sex``, ``text`` (the transcript), ``language``; every other column goes into the segment's metadata.
    Segment ids are the file paths as written in the CSV.

    Args:
        path: the CSV file.
        labels: the corpus's label set, in table order; a row with another label is an error. Default: the
            labels that occur, sorted.
        audio_root: where relative file paths start (default: the CSV's folder).
        name: the corpus name (default: the CSV's stem).

    Returns:
        The :class:`Corpus`.

    Raises:
        CorpusError: the CSV is missing or lacks a column, a file is listed twice, or a label is outside
            ``labels``.

    Warns:
        UserWarning: rows skipped (missing or unreadable audio), listed in :attr:`Corpus.skipped`.
    """
    import pandas as pd

    csv = Path(path)
    if not csv.is_file():
        raise CorpusError(f"Corpus list {str(csv)!r} does not exist. Give a CSV with columns file, label, speaker.")
    try:
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise CorpusError(f"Cannot read corpus list {str(csv)!r}: {exc}.") from exc
    missing = [c for c in ("file", "label", "speaker") if c not in frame.columns]
    if missing:
        raise CorpusError(f"Corpus list {str(csv)!r} lacks the column(s) {', '.join(missing)}; it needs file, label, "
                          f"speaker (has: {', '.join(frame.columns)}).")
    dup = frame["file"][frame["file"].duplicated()].tolist()
    if dup:
        raise CorpusError(f"Corpus list {str(csv)!r} lists {dup[0]!r} twice; each file once.")
    label_set = tuple(labels) if labels is not None else tuple(sorted(set(frame["label"])))
    allowed = set(label_set)
    for row in frame.itertuples(index=False):
        if row.label not in allowed:
            raise CorpusError(f"{row.file} (in {csv.name}): label {row.label!r} is outside the corpus's label set "
                              f"({', '.join(label_set)}). Fix the row or add the label to the set.")
    root = Path(audio_root) if audio_root is not None else csv.parent
    known = {"file", "label", "speaker", "text", "language"}
    segments: list[Segment] = []
    skipped: list[SkippedFile] = []
    for record in frame.to_dict("records"):
        file = str(record["file"])
        audio = root / file
        if not audio.is_file():
            _skip(skipped, audio, "no such file; fix the path in the corpus list")
            continue
        try:
            duration = _duration(audio)
        except Exception as exc:
            _skip(skipped, audio, f"cannot read the audio ({exc}); re-export it as WAV")
            continue
        if duration <= 0:
            _skip(skipped, audio, "the file holds no audio")
            continue
        speaker = str(record["speaker"]) or None
        meta: dict[str, Any] = {str(k): v for k, v in record.items() if k not in known}
        meta.update({"label": record["label"], "file": file})
        rec = Recording(file, str(audio), speaker=speaker, metadata={"corpus": name or csv.stem})
        segments.append(Segment(file, rec, 0.0, duration, text=record.get("text", ""), speaker=speaker,
                                language=record.get("language") or None, metadata=meta))
    _warn_skipped(f"corpus {csv}", skipped)
    return Corpus(name or csv.stem, segments, label_set, skipped, str(root))


def load_corpus(source: str | Path, kind: str = "emodb", **options: Any) -> Corpus:
    """Load a corpus by kind: ``"emodb"`` (a folder, :func:`load_emodb`) or ``"csv"`` (a list,
    :func:`load_labelled_csv`; a folder means its ``corpus.csv``).

    Raises:
        AffectProxyError: an unknown kind.
    """
    if kind == "emodb":
        return load_emodb(source, **options)
    if kind == "csv":
        src = Path(source)
        return load_labelled_csv(src / "corpus.csv" if src.is_dir() else src, **options)
    raise AffectProxyError(f"Unknown corpus kind {kind!r}; use 'emodb' or 'csv'.")


__all__ = [
    "EMODB_EMOTIONS",
    "EMODB_LABELS",
    "EMODB_SPEAKERS",
    "EMODB_TEXTS",
    "Corpus",
    "CorpusError",
    "SkippedFile",
    "load_corpus",
    "load_emodb",
    "load_labelled_csv",
    "parse_emodb_name",
]
