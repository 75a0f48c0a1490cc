"""The answers table: one row per file and evaluator, with the answer, its mapping and whether it matches.

An open-ended rater's answer is its ``labels[answer_field]`` (``"emotion"`` for the Gemini audit prompt), mapped
through the synonym table and then, for what the table leaves unmatched, the optional judge. A categorical
model's answer is its most probable class (first in its order on ties), mapped through the class table
(:data:`~affectproxy.audit.mapping.EMOTION2VEC_TO_EMODB` by default); its confidence is that class's
probability unless the estimate carries its own. Evaluators that give neither (dimensional models) have no rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from affectproxy.audit.mapping import NO_MATCH, Judge, MappedAnswer, SynonymMapper, map_class
from affectproxy.model import EmotionEstimate, Segment

ANSWER_COLUMNS = ["evaluator", "file", "segment_id", "speaker", "sex", "label", "answer", "mapped", "correct",
                  "confidence", "rationale", "kind", "mapped_by", "mapping_note"]


def _read(est: EmotionEstimate, answer_field: str) -> tuple[str, str, float | None] | None:
    """(kind, answer, confidence) of one estimate, or None when it names no category."""
    word = est.labels.get(answer_field)
    if word is not None:
        return "open", word, est.confidence
    if est.categories:
        best = max(est.categories, key=lambda k: est.categories[k])  # type: ignore[index]
        conf = est.confidence if est.confidence is not None else est.categories[best]
        return "categorical", best, conf
    return None


def answers_frame(
    estimates: Sequence[EmotionEstimate], segments: Sequence[Segment], labels: Sequence[str], *,
    answer_field: str = "emotion", class_map: Mapping[str, str] | None = None, judge: Judge | None = None,
    mapper: SynonymMapper | None = None,
) -> pd.DataFrame:
    """Build the answers table.

    Args:
        estimates: the evaluators' estimates (``Results.estimates``).
        segments: the corpus's segments (their metadata carries ``label``, ``file`` and ``sex``).
        labels: the corpus's categories.
        answer_field: which ``labels`` entry of an estimate holds an open-ended answer.
        class_map: categorical class -> corpus label (default: emotion2vec's classes to EMO-DB's seven).
        judge: maps the open-ended answers the synonym table leaves unmatched (see
            :data:`~affectproxy.audit.mapping.Judge`); its ``None`` keeps ``"no match"``.
        mapper: the synonym mapper (default: :data:`~affectproxy.audit.mapping.SYNONYMS` over ``labels``).

    Returns:
        DataFrame with columns evaluator, file, segment_id, speaker, sex, label, answer, mapped, correct (bool),
        confidence, rationale, kind (``open``/``categorical``), mapped_by (``synonym``, ``class``, ``judge``,
        ``none``), mapping_note; in segment order, then evaluator order.
    """
    mapper = mapper or SynonymMapper(labels)
    by_id = {s.id: s for s in segments}
    order = {s.id: i for i, s in enumerate(segments)}
    rows: list[dict[str, Any]] = []
    for est in estimates:
        seg = by_id.get(est.segment_id)
        read = _read(est, answer_field)
        if seg is None or read is None:
            continue
        kind, answer, conf = read
        m: MappedAnswer = mapper.map(answer) if kind == "open" else map_class(answer, labels, class_map, mapper)
        meta = seg.metadata
        rows.append({"evaluator": est.evaluator, "file": meta.get("file", seg.recording.path), "segment_id": seg.id,
                     "speaker": seg.speaker, "sex": meta.get("sex"), "label": meta["label"], "answer": answer,
                     "mapped": m.label, "confidence": conf, "rationale": est.rationale or "", "kind": kind,
                     "mapped_by": m.by, "mapping_note": m.note, "_order": order[seg.id]})
    frame = pd.DataFrame(rows, columns=[*ANSWER_COLUMNS, "_order"])
    if judge is not None and not frame.empty:
        todo = frame[(frame["kind"] == "open") & (frame["mapped"] == NO_MATCH) & (frame["mapped_by"] != "none")]
        unique = list(dict.fromkeys(todo["answer"]))
        if unique:
            verdicts = list(judge(unique, list(labels)))
            if len(verdicts) != len(unique):
                raise ValueError(f"The judge returned {len(verdicts)} verdicts for {len(unique)} answers.")
            table = {a: v for a, v in zip(unique, verdicts, strict=True) if v is not None}
            for i in todo.index:
                verdict = table.get(frame.at[i, "answer"])
                if verdict is not None:
                    frame.at[i, "mapped"] = verdict if verdict in labels else NO_MATCH
                    frame.at[i, "mapped_by"] = "judge"
    frame["correct"] = frame["label"] == frame["mapped"]
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    return frame.astype({"correct": bool, "confidence": "float64"})


__all__ = ["ANSWER_COLUMNS", "answers_frame"]
