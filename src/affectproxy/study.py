"""Study files (TOML): which segments, which audio, which evaluators with which options, which store.

Example::

    [study]
    name = "banaszak"
    segments = "speech.json"          # any format load_segments reads; relative to this file
    audio = "speech.wav"              # optional when the table names audio per row
    store = "study.sqlite"

    [[evaluators]]
    type = "emotion2vec"
    model = "models/emotion2vec_plus_large"
    device = "cuda"

    [[evaluators]]
    type = "table"
    name = "trust"
    path = "trust_pathos.csv"
    columns = ["pathos"]

    [compare]
    target = "trust/pathos"           # optional: everything against this series
    method = "spearman"

Paths (``segments``, ``audio``, ``store`` and evaluator options named ``path``, ``model`` or ending in
``_path``/``_dir``) are relative to the study file. ``package:affectproxy/data/...`` names a file shipped inside an
installed package (the bundled example uses this).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from affectproxy.errors import StudyError
from affectproxy.model import Segment


def resolve_path(value: str | Path, base: Path) -> Path:
    """Resolve ``package:pkg/rel/path`` through importlib.resources, else a path relative to ``base``."""
    text = str(value)
    if text.startswith("package:"):
        package, _, rel = text[len("package:"):].partition("/")
        return Path(str(resources.files(package).joinpath(rel)))
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _is_path_option(key: str) -> bool:
    return key in ("path", "model") or key.endswith(("_path", "_dir"))


@attrs.frozen
class Study:
    """A parsed study file.

    Attributes:
        name: the study's name.
        segments: path of the segment table.
        audio: path of the audio (None when the table names audio per row).
        store: path of the SQLite store.
        evaluators: one dict per evaluator: ``type`` plus options.
        segment_options: extra keyword arguments for :func:`affectproxy.load_segments` (``tier``, ``speaker``...).
        compare: options for :func:`affectproxy.compare.correlate`.
    """

    name: str
    segments: Path
    audio: Path | None
    store: Path
    evaluators: tuple[dict[str, Any], ...]
    segment_options: dict[str, Any] = attrs.field(factory=dict)
    compare: dict[str, Any] = attrs.field(factory=dict)

    def load_segments(self) -> list[Segment]:
        """Read the study's segments."""
        from affectproxy.segment_files import load_segments

        return load_segments(self.segments, audio=self.audio, **self.segment_options)


def parse_study(data: Mapping[str, Any], base: Path, source: str = "<study>") -> Study:
    """Build a :class:`Study` from parsed TOML data; paths resolve against ``base``."""
    head = dict(data.get("study", {}))
    seg_table = dict(data.get("segments", {})) if isinstance(data.get("segments"), Mapping) else {}
    seg_path = seg_table.pop("path", None) or head.get("segments")
    if not seg_path:
        raise StudyError(f"Study file {source}: give the segment table as [study] segments = \"file.csv\".")
    audio = seg_table.pop("audio", None) or head.get("audio")
    evaluators = []
    for i, raw in enumerate(data.get("evaluators", []), start=1):
        ev = dict(raw)
        if "type" not in ev:
            raise StudyError(f"Study file {source}: evaluator #{i} has no 'type' (e.g. type = \"prosody\").")
        for key, value in list(ev.items()):
            if _is_path_option(key) and isinstance(value, str):
                candidate = resolve_path(value, base)
                if value.startswith("package:") or key == "path" or candidate.exists():
                    ev[key] = str(candidate)
        evaluators.append(ev)
    if not evaluators:
        raise StudyError(f"Study file {source}: add at least one [[evaluators]] table with a type.")
    return Study(
        name=str(head.get("name", Path(source).stem)),
        segments=resolve_path(seg_path, base),
        audio=None if audio is None else resolve_path(audio, base),
        store=resolve_path(head.get("store", "study.sqlite"), base),
        evaluators=tuple(evaluators),
        segment_options=seg_table,
        compare=dict(data.get("compare", {})),
    )


def load_study(path: str | Path) -> Study:
    """Read a study TOML file.

    Raises:
        StudyError: the file is missing, not valid TOML, or lacks segments/evaluators.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"No study file at {str(path)!r}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"Study file {str(path)!r} is not valid TOML: {exc}.") from exc
    return parse_study(data, path.parent, str(path))


__all__ = ["Study", "load_study", "parse_study", "resolve_path"]
