"""Study files (TOML): which segments, which audio, which evaluators with which options, which store.

Example::

    [study]
    name = "banaszak"
    segments = "speech.json"          # any format load_segments reads; relative to this file
    audio = "speech.wav"              # optional when the table names audio per row
    store = "study.sqlite"
    max_cost = 5.0                    # optional: stop paid (LLM) calls beyond this many USD

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

    [llm.gemini]                      # optional: options for the LLM layer, one table per provider
    max_in_flight = 4

Sections: ``[study]`` (``name``, ``segments``, ``audio``, ``store``, ``max_cost``), ``[routing]`` (``first``,
``then``, ``when``: see docs/cost.md), ``[segments]`` (``path``, ``audio`` and the options of
:func:`affectproxy.load_segments`: ``tier``, ``speaker``, ...), ``[[evaluators]]`` (``type`` plus the evaluator's
options), ``[compare]`` (options of :func:`affectproxy.compare.correlate`), ``[llm.<provider>]`` and ``[batch]``
(batch-mode options, used by ``affectproxy run --batch``: ``poll_interval``, ``resubmits``, ``max_wait``,
``max_requests_per_job``, ``max_bytes_per_job``; see docs/cost.md). Anything else is an error naming the file, the
key and the closest valid one, so a typo never silently changes a run. Evaluator options are checked when
:meth:`Study.build_evaluators` builds them.

Paths (``segments``, ``audio``, ``store`` and evaluator options named ``path``, ``model`` or ending in
``_path``/``_dir``) are relative to the study file. ``package:affectproxy/data/...`` names a file shipped inside an
installed package (the bundled example uses this).
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError, MissingDependencyError, StudyError
from affectproxy.evaluator import Evaluator
from affectproxy.model import Segment

STUDY_KEYS = ("name", "segments", "audio", "store", "max_cost")
SECTIONS = ("study", "segments", "evaluators", "compare", "llm", "routing", "batch")
_ARRAY_SECTIONS = ("evaluators",)


def resolve_path(value: str | Path, base: Path) -> Path:
    """Resolve ``package:pkg/rel/path`` through importlib.resources, else a path relative to ``base``."""
    text = str(value)
    if text.startswith("package:"):
        package, _, rel = text[len("package:"):].partition("/")
        return Path(str(resources.files(package).joinpath(rel)))
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _is_path_option(key: str) -> bool:
    return key in ("path", "model", "prompt") or key.endswith(("_path", "_dir"))


def _segment_keys() -> tuple[str, ...]:
    from affectproxy.segment_files import load_segments

    return ("path", "audio", *list(inspect.signature(load_segments).parameters)[2:])


def _compare_keys() -> tuple[str, ...]:
    from affectproxy.compare.correlate import correlate

    return tuple(list(inspect.signature(correlate).parameters)[1:])


def _suggest(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else "."


def _unknown_key(source: str, key: str, section: str, valid: Sequence[str]) -> StudyError:
    """The error for an unknown key in ``[section]``: the closest valid key, or the section it belongs in."""
    homes = {"study": STUDY_KEYS, "segments": _segment_keys(), "compare": _compare_keys()}
    elsewhere = [name for name, keys in homes.items() if name != section and key in keys]
    if elsewhere:
        hint = f"; it belongs in [{elsewhere[0]}]."
    else:
        hint = _suggest(key, valid)
    return StudyError(f"Study file {source!r}: unknown key {key!r} in [{section}]{hint} Valid keys there: "
                      f"{', '.join(valid)}.")


def _check_sections(data: Mapping[str, Any], source: str) -> None:
    for key, value in data.items():
        if key in SECTIONS:
            is_array = key in _ARRAY_SECTIONS
            if is_array and isinstance(value, Mapping):
                raise StudyError(f"Study file {source!r}: write [[{key}]] (double brackets, one table per "
                                 f"evaluator), not [{key}].")
            if not is_array and isinstance(value, list):
                raise StudyError(f"Study file {source!r}: write [{key}] (single brackets), not [[{key}]].")
            tables = value if is_array else [value]
            if not all(isinstance(v, Mapping) for v in tables):
                raise StudyError(f"Study file {source!r}: {key!r} must be a table ([{key}] or [[{key}]]), "
                                 f"got {value!r}.")
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            raise StudyError(f"Study file {source!r}: unknown section [[{key}]]{_section_hint(key)} Sections: [study], "
                             "[segments], [[evaluators]], [compare], [llm.<provider>], [routing], [batch].")
        if isinstance(value, Mapping):
            raise StudyError(f"Study file {source!r}: unknown section [{key}]{_section_hint(key)} Sections: [study], "
                             "[segments], [[evaluators]], [compare], [llm.<provider>], [routing], [batch].")
        if key in STUDY_KEYS:
            raise StudyError(f"Study file {source!r}: {key} = {value!r} stands outside any section; put it under "
                             "[study] (keys above the first [section] header belong to no section).")
        raise StudyError(f"Study file {source!r}: unknown key {key!r} outside any section"
                         f"{_suggest(key, [*SECTIONS, *STUDY_KEYS])} Put study settings under [study].")


def _section_hint(key: str) -> str:
    close = difflib.get_close_matches(key, SECTIONS, n=1)
    if not close:
        return "."
    name = close[0]
    return f"; did you mean [[{name}]]?" if name in _ARRAY_SECTIONS else f"; did you mean [{name}]?"


def _check_keys(table: Mapping[str, Any], section: str, valid: Sequence[str], source: str) -> None:
    for key in table:
        if key not in valid:
            raise _unknown_key(source, key, section, valid)


def _path_value(table: Mapping[str, Any], key: str, section: str, source: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise StudyError(f"Study file {source!r}: [{section}] {key} must be a path in quotes, e.g. {key} = "
                         f"\"file\", got {value!r}.")
    return value


def _max_cost(value: Any, source: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise StudyError(f"Study file {source!r}: [study] max_cost is a budget in US dollars, a number >= 0 "
                         f"(e.g. max_cost = 5.0), got {value!r}.")
    return float(value)


def _compare_options(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check ``[compare]`` against :func:`affectproxy.compare.correlate` before anything runs."""
    options = dict(raw)
    if not options:
        return options
    from affectproxy.compare.correlate import INFERENCES
    from affectproxy.compare.inference import METHODS
    from affectproxy.compare.padjust import PADJUST_METHODS

    _check_keys(options, "compare", _compare_keys(), source)
    for key, allowed in (("method", METHODS), ("inference", INFERENCES), ("padjust", PADJUST_METHODS)):
        if key in options and options[key] not in allowed:
            raise StudyError(f"Study file {source!r}: [compare] {key} = {options[key]!r} is not one of "
                             f"{', '.join(allowed)}{_suggest(str(options[key]), allowed)}")
    target = options.get("target")
    if target is not None and not (isinstance(target, str) and target.count("/") == 1 and all(target.split("/"))):
        raise StudyError(f"Study file {source!r}: [compare] target = {target!r} must name one series as "
                         "\"EVALUATOR/DIMENSION\", e.g. target = \"trust/pathos\".")
    for key in ("evaluators", "dimensions"):
        value = options.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise StudyError(f"Study file {source!r}: [compare] {key} must be a list of names, e.g. {key} = "
                             f"[\"a\", \"b\"], got {value!r}.")
    return options


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
        compare: options for :func:`affectproxy.compare.correlate` (checked against its signature).
        llm: provider -> options for the LLM layer, from ``[llm.<provider>]`` tables (the layer checks them).
        max_cost: the run's budget for paid calls in US dollars, or None for no limit.
        batch: the ``[batch]`` table: options of batch mode (:class:`affectproxy.llm.batchmode.BatchOptions`),
            used when the run asks for batch mode.
        routing: the ``[routing]`` table as an :class:`affectproxy.routing.Route` (``first``, ``then``, ``when``),
            or None.
        source: the study file, as named in messages.
        audio_key: where ``audio`` was given (``"[study] audio"`` or ``"[segments] audio"``), for messages.
    """

    name: str
    segments: Path
    audio: Path | None
    store: Path
    evaluators: tuple[dict[str, Any], ...]
    segment_options: dict[str, Any] = attrs.field(factory=dict)
    compare: dict[str, Any] = attrs.field(factory=dict)
    llm: dict[str, Any] = attrs.field(factory=dict)
    max_cost: float | None = None
    routing: Any = None
    batch: dict[str, Any] = attrs.field(factory=dict)
    source: str = "<study>"
    audio_key: str = "[study] audio"

    def load_segments(self) -> list[Segment]:
        """Read the study's segments."""
        from affectproxy.segment_files import load_segments

        return load_segments(self.segments, audio=self.audio, **self.segment_options)

    def build_evaluators(self, *, skip_unavailable: bool = False) -> list[Evaluator]:
        """Build every evaluator and check that each can run here, before the first segment.

        Building loads no weights. Then every evaluator is asked whether it can run here (its own ``check()``,
        else its spec's: see :func:`affectproxy.registry.check_evaluators`); missing packages count too.

        Args:
            skip_unavailable: leave out the evaluators that cannot run, with a one-line warning each, instead
                of stopping.

        Returns:
            The evaluators that can run, in study order.

        Raises:
            StudyError: an option the evaluator rejects (naming the study file, the entry ``#n`` with its type,
                and the option), an unknown evaluator type, or (unless ``skip_unavailable``) every evaluator
                that cannot run here, listed at once.
        """
        from affectproxy.registry import Problem, check_evaluators

        usable: list[Evaluator] = []
        problems: list[Problem] = []
        for i, entry in enumerate(self.evaluators, start=1):  # problems in study order
            try:
                ev = _build(entry, i, self.source)
            except MissingDependencyError as exc:
                problems.append(Problem(str(entry.get("name", entry["type"])), str(exc)))
                continue
            found = check_evaluators([ev], llm=self.llm)
            problems += found
            if not found:
                usable.append(ev)
        if problems and not skip_unavailable:
            n = len(problems)
            raise StudyError(
                f"Study file {self.source!r}: {n} evaluator{'s' if n != 1 else ''} cannot run here: "
                f"{'; '.join(str(p).rstrip('. ') for p in problems)}. Fix {'them' if n != 1 else 'it'}, or skip "
                f"{'them' if n != 1 else 'it'} with affectproxy run --skip-unavailable."
            )
        for p in problems:
            warnings.warn(f"skipping evaluator {p}", UserWarning, stacklevel=2)
        if not usable:
            raise StudyError(f"Study file {self.source!r}: no evaluator can run here; fix the problems above.")
        return usable

    def check_audio(self, segments: Sequence[Segment], evaluators: Sequence[Evaluator]) -> None:
        """Stop before the run when an evaluator needs audio the study does not provide.

        Raises:
            StudyError: the study's ``audio`` file is missing (naming the study file and its ``audio`` key), or
                segments have no audio at all while an evaluator needs it.
        """
        needs = [ev.name for ev in evaluators if ev.sample_rate is not None]
        if not needs:
            return
        who = f"{', '.join(map(repr, needs))} need{'s' if len(needs) == 1 else ''} audio"
        if self.audio is not None and any(s.recording.path == os.fspath(self.audio) for s in segments):
            if not self.audio.is_file():
                what = "is a folder, not a file" if self.audio.is_dir() else "does not exist"
                raise StudyError(
                    f"Study file {self.source!r}: {self.audio_key} names {os.fspath(self.audio)}, which {what}, and "
                    f"{who}. Fix the audio key (relative paths start at the study file's folder)."
                )
        silent = [s.id for s in segments if not s.recording.path]
        if silent:
            raise StudyError(
                f"Study file {self.source!r}: {len(silent)} of {len(segments)} segments (first: {silent[0]!r}) have no "
                f"audio file, and {who}. Add audio = \"speech.wav\" under [study] (relative to the study file), or "
                "an audio column to the segment table."
            )

    def prepare(self, *, skip_unavailable: bool = False) -> tuple[list[Segment], list[Evaluator]]:
        """Everything a run needs, checked before the first segment: the segments and the built evaluators.

        Args:
            skip_unavailable: see :meth:`build_evaluators`.

        Raises:
            StudyError: see :meth:`build_evaluators` and :meth:`check_audio`.
            SegmentFileError: the segment table cannot be read.
        """
        evaluators = self.build_evaluators(skip_unavailable=skip_unavailable)
        segments = self.load_segments()
        self.check_audio(segments, evaluators)
        return segments, evaluators


_UNEXPECTED = re.compile(r"([\w.]+)\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"missing \d+ required (?:keyword-only |positional )?arguments?: (.+)$")


def _named_parameters(func: Any) -> list[str] | None:
    """The keyword names ``func`` accepts, or None when it takes only ``**kwargs``."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
    return names or None


def _accepted_options(factory: Callable[..., Any], exc: BaseException, callee: str) -> list[str] | None:
    """The options an evaluator accepts: from the factory's signature, else from the callable named in the
    TypeError (looked up in the frame that called it, e.g. the class a plugin's ``_make(**options)`` builds)."""
    names = _named_parameters(factory)
    if names is not None:
        return names
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    head, *rest = callee.split(".")
    frame = tb.tb_frame
    obj = frame.f_locals.get(head, frame.f_globals.get(head))
    for part in rest:
        obj = getattr(obj, part, None)
    return None if obj is None else _named_parameters(obj)


def _build(entry: Mapping[str, Any], index: int, source: str) -> Evaluator:
    """Build one evaluator entry, turning what its factory rejects into a one-line StudyError."""
    from affectproxy.registry import get_evaluator, registry

    options = dict(entry)
    kind = options.pop("type")
    options.pop("ray", None)  # cluster resources (engine="ray"), not an option of the evaluator
    where = f"Study file {source!r}, evaluator #{index} (type = {kind!r})"
    try:
        return get_evaluator(kind, **options)
    except MissingDependencyError:
        raise
    except AffectProxyError as exc:
        raise StudyError(f"{where}: {_flat(exc)}") from exc
    except TypeError as exc:
        text = _flat(exc)
        unexpected = _UNEXPECTED.search(text)
        if unexpected and unexpected.group(2) in options:
            key = unexpected.group(2)
            valid = _accepted_options(registry.spec(kind).factory, exc, unexpected.group(1))
            hint = _suggest(key, valid) if valid else "."
            listed = f" Its options: type, {', '.join(valid)}." if valid else ""
            raise StudyError(f"{where}: unknown option {key!r}{hint}{listed}") from exc
        missing = _MISSING.search(text)
        if missing:
            raise StudyError(f"{where}: it needs the option {missing.group(1)}; add it to that [[evaluators]] "
                             "table.") from exc
        raise StudyError(f"{where}: {_option_blame(options, text)}{text}") from exc
    except ValueError as exc:
        raise StudyError(f"{where}: {_option_blame(options, _flat(exc))}{_flat(exc)}") from exc


def _flat(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def _option_blame(options: Mapping[str, Any], text: str) -> str:
    named = [k for k in options if re.search(rf"\b{re.escape(k)}\b", text)]
    if named:
        return "option " + ", ".join(f"{k} = {options[k]!r}" for k in named) + " rejected: "
    shown = ", ".join(f"{k} = {v!r}" for k, v in options.items()) or "no options"
    return f"the options ({shown}) were rejected: "


def parse_study(data: Mapping[str, Any], base: Path, source: str = "<study>") -> Study:
    """Build a :class:`Study` from parsed TOML data; paths resolve against ``base``.

    Raises:
        StudyError: an unknown section or key (naming the closest valid one), a value of the wrong kind, bad
            ``[compare]`` options, no segment table or no evaluator.
    """
    _check_sections(data, source)
    head = dict(data.get("study", {}))
    _check_keys(head, "study", STUDY_KEYS, source)
    seg_table = dict(data.get("segments", {}))
    _check_keys(seg_table, "segments", _segment_keys(), source)
    if "path" in seg_table and "segments" in head:
        raise StudyError(f"Study file {source!r}: the segment table is given twice ([study] segments and [segments] "
                         "path); keep one.")
    seg_path = _path_value(seg_table, "path", "segments", source) or _path_value(head, "segments", "study", source)
    seg_table.pop("path", None)
    if not seg_path:
        raise StudyError(f"Study file {source!r}: give the segment table as [study] segments = \"file.csv\".")
    if "audio" in seg_table and "audio" in head:
        raise StudyError(f"Study file {source!r}: the audio is given twice ([study] audio and [segments] audio); "
                         "keep one.")
    audio_key = "[segments] audio" if "audio" in seg_table else "[study] audio"
    audio = _path_value(seg_table, "audio", "segments", source) or _path_value(head, "audio", "study", source)
    seg_table.pop("audio", None)
    store = _path_value(head, "store", "study", source) or "study.sqlite"
    evaluators = []
    for i, raw in enumerate(data.get("evaluators", []), start=1):
        ev = dict(raw)
        if "type" not in ev:
            raise StudyError(f"Study file {source!r}: evaluator #{i} has no 'type' (e.g. type = \"prosody\").")
        if not isinstance(ev["type"], str):
            raise StudyError(f"Study file {source!r}: evaluator #{i} has type = {ev['type']!r}; give a registry "
                             "name in quotes (affectproxy evaluators lists them).")
        for key, value in list(ev.items()):
            if _is_path_option(key) and isinstance(value, str):
                candidate = resolve_path(value, base)
                if value.startswith("package:") or key == "path" or candidate.exists():
                    ev[key] = str(candidate)
        evaluators.append(ev)
    if not evaluators:
        raise StudyError(f"Study file {source!r}: add at least one [[evaluators]] table with a type.")
    return Study(
        name=str(head.get("name", Path(source).stem)),
        segments=resolve_path(seg_path, base),
        audio=None if audio is None else resolve_path(audio, base),
        store=resolve_path(store, base),
        evaluators=tuple(evaluators),
        segment_options=seg_table,
        compare=_compare_options(data.get("compare", {}), source),
        llm=_llm_options(data.get("llm", {}), source),
        max_cost=_max_cost(head.get("max_cost"), source),
        routing=_routing(data.get("routing"), source),
        batch=_batch_options(data.get("batch", {}), source),
        source=source,
        audio_key=audio_key,
    )


def _llm_options(tables: Any, source: str) -> dict[str, Any]:
    """The ``[llm.<provider>]`` tables, checked by the LLM layer's own config reader before anything runs."""
    from affectproxy.llm.config import LLMConfig, LLMConfigError

    llm = {k: dict(v) if isinstance(v, Mapping) else v for k, v in dict(tables).items()}
    try:
        LLMConfig.from_mapping(llm)
    except LLMConfigError as exc:
        raise StudyError(f"Study file {source!r}: [llm]: {exc}") from exc
    return llm


def _batch_options(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The ``[batch]`` table, checked by batch mode's own option reader before anything runs."""
    from affectproxy.llm.batchmode import BatchOptions

    options = dict(table)
    try:
        BatchOptions.of(options)
    except AffectProxyError as exc:
        raise StudyError(f"Study file {source!r}: [batch]: {exc}") from exc
    return options


def _routing(table: Any, source: str) -> Any:
    if table is None:
        return None
    from affectproxy.routing import Route, RoutingError

    if not isinstance(table, Mapping):
        raise StudyError(f"Study file {source!r}: [routing] must be a table with first, then and when.")
    try:
        return Route.from_mapping(table, f"Study file {source!r}")
    except RoutingError as exc:
        raise StudyError(str(exc)) from exc


def load_study(path: str | Path) -> Study:
    """Read and check a study TOML file (evaluator options are checked by :meth:`Study.build_evaluators`).

    Raises:
        StudyError: the file is missing or not valid TOML; an unknown section or key (with the closest valid
            one); bad ``[compare]`` options; no segment table or no evaluator.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"No study file at {str(path)!r}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"Study file {str(path)!r} is not valid TOML: {exc}.") from exc
    return parse_study(data, path.parent, str(path))


__all__ = ["SECTIONS", "STUDY_KEYS", "Study", "load_study", "parse_study", "resolve_path"]
