"""Mapping open-ended answers and model classes onto a corpus's categories."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from affectproxy.audit.answers import answers_frame
from affectproxy.audit.mapping import EMOTION2VEC_TO_EMODB, NO_MATCH, SYNONYMS, SynonymMapper, map_class
from affectproxy.corpus import EMODB_LABELS
from affectproxy.model import EmotionEstimate, Recording, Segment

CASES = {
    # English
    "angry": "anger", "Furious": "anger", "mild irritation": "anger", "frustrated": "anger",
    "bored": "boredom", "Tired and weary": "boredom", "indifferent": "boredom",
    "disgusted": "disgust", "contempt": "disgust", "fearful": "fear", "anxious": "fear", "nervousness": "fear",
    "joy": "happiness", "Happy": "happiness", "excitement": "happiness", "neutral": "neutral",
    "calm": "neutral", "matter-of-fact": "neutral", "no emotion": "neutral", "sad": "sadness",
    "disappointment": "sadness", "resigned": "sadness",
    # German, with and without umlauts, inflected
    "wütend": "anger", "wuetend": "anger", "Ärger": "anger", "gereizt": "anger", "gelangweilt": "boredom",
    "Langeweile": "boredom", "Ekel": "disgust", "angewidert": "disgust", "Angst": "fear", "ängstlich": "fear",
    "Freude": "happiness", "fröhlich": "happiness", "froehliche Stimme": "happiness", "sachlich": "neutral",
    "Keine Emotion": "neutral", "traurig": "sadness", "traurige": "sadness", "Trauer": "sadness",
    # no category
    "surprise": NO_MATCH, "determination": NO_MATCH, "emphatic": NO_MATCH, "": NO_MATCH, "Überraschung": NO_MATCH,
    # negation, several emotions
    "not angry": NO_MATCH, "nicht traurig, eher müde": "boredom", "anger mixed with sadness": "anger",
}


@pytest.mark.parametrize(("answer", "expected"), list(CASES.items()))
def test_synonyms(answer: str, expected: str) -> None:
    assert SynonymMapper(EMODB_LABELS)(answer) == expected


def test_several_emotions_keep_the_others_in_the_note() -> None:
    m = SynonymMapper(EMODB_LABELS).map("anger mixed with sadness")
    assert (m.label, m.by, m.note) == ("anger", "synonym", "also: sadness")


def test_table_covers_every_emodb_label_and_no_word_twice() -> None:
    assert set(SYNONYMS) == set(EMODB_LABELS)
    words = [w for ws in SYNONYMS.values() for w in ws]
    assert len(words) == len(set(words))


def test_labels_outside_the_corpus_are_ignored() -> None:
    assert SynonymMapper(["anger", "neutral"])("traurig") == NO_MATCH


def test_emotion2vec_classes() -> None:
    got = {c: map_class(c, EMODB_LABELS).label for c in EMOTION2VEC_TO_EMODB}
    assert got == {"angry": "anger", "disgusted": "disgust", "fearful": "fear", "happy": "happiness",
                   "neutral": "neutral", "sad": "sadness", "surprised": NO_MATCH, "other": NO_MATCH,
                   "unknown": NO_MATCH}
    assert "boredom" not in got.values()
    assert map_class("bored", EMODB_LABELS).by == "synonym"  # a class outside the table: synonyms decide


def _segments() -> list[Segment]:
    labels = ["anger", "fear", "sadness"]
    return [Segment(f"s{i}", Recording(f"s{i}", f"s{i}.wav"), 0, 1, speaker="03",
                    metadata={"label": lab, "file": f"s{i}.wav", "sex": "m"}) for i, lab in enumerate(labels)]


def test_judge_maps_only_what_the_table_left_unmatched() -> None:
    seen: list[Sequence[str]] = []

    def judge(answers: Sequence[str], labels: Sequence[str]) -> list[str | None]:
        seen.append(list(answers))
        return [{"panicky shouting": "fear", "flat": None, "Wutausbruch": "rage"}[a] for a in answers]

    ests = [EmotionEstimate(f"s{i}", "llm", {}, labels={"emotion": w}, confidence=0.5)
            for i, w in enumerate(["panicky shouting", "flat", "Wutausbruch"])]
    ests.insert(0, EmotionEstimate("s0", "other", {}, labels={"emotion": "wütend"}))
    frame = answers_frame(ests, _segments(), EMODB_LABELS, judge=judge)
    assert seen == [["flat", "Wutausbruch"]]  # "panicky" is a synonym of fear: the table decides, no judge call
    llm = frame[frame["evaluator"] == "llm"].set_index("answer")
    assert llm.loc["panicky shouting", ["mapped", "mapped_by", "correct"]].tolist() == ["fear", "synonym", False]
    assert llm.loc["flat", ["mapped", "mapped_by"]].tolist() == [NO_MATCH, "synonym"]
    assert llm.loc["Wutausbruch", ["mapped", "mapped_by"]].tolist() == [NO_MATCH, "judge"]  # outside the set

    with pytest.raises(ValueError, match="1 verdicts for 2 answers"):
        answers_frame(ests, _segments(), EMODB_LABELS, judge=lambda a, labels: ["fear"])


def test_categorical_answer_is_the_top_class() -> None:
    est = EmotionEstimate("s1", "e2v", {}, categories={"angry": 0.2, "fearful": 0.7, "sad": 0.1})
    frame = answers_frame([est], _segments(), EMODB_LABELS)
    assert frame.iloc[0][["answer", "mapped", "correct", "confidence", "kind", "mapped_by"]].tolist() == [
        "fearful", "fear", True, 0.7, "categorical", "class"]
