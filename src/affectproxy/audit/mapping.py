"""Mapping free-text emotion answers (and other models' classes) onto a corpus's categories.

The open-ended paradigm keeps naming and scoring apart: a rater names the emotion it hears in its own words;
this module then maps each word onto the corpus's categories, keeping ``"no match"`` as an outcome. The mapping
is a documented synonym table (:data:`SYNONYMS`, English and German), applied word by word, plus an optional
judge (any callable, e.g. an LLM through :class:`affectproxy.audit.judge.LLMJudge`) for answers the table
leaves unmatched. Every mapping records how it was made, so it can be reviewed beside the answer.

Choices worth knowing (they move the match rate):

- ``contempt``/``Verachtung`` count as disgust; ``frustrated``/``irritated`` as anger; ``tired``/``weary``/
  ``indifferent`` as boredom; ``calm``/``matter-of-fact``/``sachlich`` as neutral; ``excited``/``enthusiastic``
  as happiness; ``disappointed``/``resigned`` as sadness; ``nervous``/``worried`` as fear.
- Words with no category (``surprise``, ``confusion``, ``determination``, ``emphasis``) map to ``"no match"``.
- An answer naming several emotions maps to the first one it names (``"anger, then sadness"`` -> anger); the
  others are kept in the mapping's note. A negated word (``"not angry"``, ``"nicht wütend"``) is not counted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

#: The outcome when an answer names none of the corpus's categories.
NO_MATCH = "no match"

#: Category -> words (English and German) that count as naming it. Lower case; umlauts as written.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "anger": (
        "anger", "angry", "rage", "raging", "furious", "fury", "irritated", "irritation", "irritable", "annoyed",
        "annoyance", "frustrated", "frustration", "mad", "hostile", "hostility", "indignant", "indignation",
        "outraged", "outrage", "exasperated", "exasperation", "resentful", "resentment", "aggressive", "aggression",
        "enraged", "irate", "livid", "wrath", "cross", "vexed",
        "wut", "wütend", "ärger", "ärgerlich", "verärgert", "verärgerung", "zorn", "zornig", "gereizt", "gereiztheit",
        "genervt", "sauer", "empört", "empörung", "aufgebracht", "aggressiv", "aggressivität", "frustriert",
        "rasend", "erbost", "wutentbrannt", "entrüstet", "entrüstung",
    ),
    "boredom": (
        "boredom", "bored", "boring", "indifferent", "indifference", "apathetic", "apathy", "disinterested",
        "uninterested", "disinterest", "weary", "weariness", "tired", "tiredness", "listless", "listlessness",
        "lethargic", "lethargy", "unenthusiastic", "jaded", "fatigue", "fatigued", "ennui", "monotonous",
        "langeweile", "gelangweilt", "langweilig", "desinteressiert", "desinteresse", "gleichgültig",
        "gleichgültigkeit", "müde", "müdigkeit", "lustlos", "lustlosigkeit", "apathisch", "teilnahmslos",
        "überdruss", "überdrüssig",
    ),
    "disgust": (
        "disgust", "disgusted", "disgusting", "revulsion", "repulsed", "repulsion", "revolted", "contempt",
        "contemptuous", "loathing", "aversion", "distaste", "repugnance", "scorn", "scornful", "disdain",
        "disdainful",
        "ekel", "angeekelt", "ekelhaft", "eklig", "abscheu", "angewidert", "widerwille", "widerwillen",
        "verachtung", "verächtlich", "abneigung", "abgestoßen",
    ),
    "fear": (
        "fear", "afraid", "fearful", "scared", "frightened", "fright", "anxious", "anxiety", "nervous",
        "nervousness", "worried", "worry", "panic", "panicked", "panicky", "terror", "terrified", "alarmed",
        "apprehensive", "apprehension", "dread", "uneasy", "unease", "horror", "horrified",
        "angst", "ängstlich", "furcht", "furchtsam", "verängstigt", "panik", "panisch", "nervös", "nervosität",
        "besorgt", "sorge", "beunruhigt", "beunruhigung", "erschrocken", "schreck", "entsetzt", "entsetzen",
        "beängstigt", "unruhe",
    ),
    "happiness": (
        "happiness", "happy", "joy", "joyful", "joyous", "glad", "cheerful", "cheerfulness", "delighted", "delight",
        "elated", "elation", "excited", "excitement", "enthusiastic", "enthusiasm", "amused", "amusement",
        "pleased", "pleasure", "content", "contentment", "satisfied", "satisfaction", "euphoric", "euphoria",
        "gleeful", "glee", "jubilant", "playful", "merry", "exuberant", "exuberance",
        "freude", "fröhlich", "fröhlichkeit", "froh", "glücklich", "glück", "heiter", "heiterkeit", "begeistert",
        "begeisterung", "vergnügt", "vergnügen", "erfreut", "freudig", "amüsiert", "zufrieden", "zufriedenheit",
        "euphorisch", "ausgelassen", "ausgelassenheit",
    ),
    "neutral": (
        "neutral", "neutrality", "calm", "calmness", "composed", "unemotional", "emotionless", "relaxed",
        "serene", "factual", "objective", "matter-of-fact", "no emotion", "none",
        "ruhig", "ruhe", "gelassen", "gelassenheit", "sachlich", "emotionslos", "nüchtern", "keine emotion",
        "entspannt",
    ),
    "sadness": (
        "sadness", "sad", "sorrow", "sorrowful", "grief", "grieving", "unhappy", "unhappiness", "melancholy",
        "melancholic", "depressed", "depression", "despair", "despairing", "dejected", "dejection", "downcast",
        "gloomy", "gloom", "mournful", "miserable", "heartbroken", "disappointed", "disappointment", "resigned",
        "resignation", "regret", "regretful", "lonely", "loneliness", "hopeless", "hopelessness", "tearful",
        "crying", "sorry", "woeful",
        "trauer", "traurig", "traurigkeit", "betrübt", "kummer", "niedergeschlagen", "niedergeschlagenheit",
        "melancholisch", "melancholie", "deprimiert", "verzweifelt", "verzweiflung", "enttäuscht", "enttäuschung",
        "resigniert", "unglücklich", "bedrückt", "schwermütig", "weinerlich", "wehmütig", "wehmut",
        "hoffnungslos",
    ),
}

#: emotion2vec's nine classes -> EMO-DB's seven labels. ``surprised``, ``other`` and ``unknown`` have no EMO-DB
#: counterpart (``"no match"``), and EMO-DB's *boredom* has no emotion2vec class: emotion2vec can never be right
#: on boredom files, which caps its recall there at 0 (the report says so).
EMOTION2VEC_TO_EMODB: dict[str, str] = {
    "angry": "anger",
    "disgusted": "disgust",
    "fearful": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "sad": "sadness",
    "surprised": NO_MATCH,
    "other": NO_MATCH,
    "unknown": NO_MATCH,
}

_NEGATIONS = {"not", "no", "never", "nicht", "kein", "keine", "keinerlei", "nie"}
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_STRIP = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
_SUFFIXES = ("e", "en", "er", "es", "em", "ly", "ness")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _keys(word: str) -> tuple[str, ...]:
    """A word's lookup keys: as written, with umlauts transliterated (ae), and with umlauts stripped (a)."""
    return tuple(dict.fromkeys((word, word.translate(_FOLD), word.translate(_STRIP))))


@attrs.frozen
class MappedAnswer:
    """How one answer was mapped.

    Attributes:
        label: a corpus category, or :data:`NO_MATCH`.
        by: ``"synonym"``, ``"class"`` (a categorical model's class table), ``"judge"``, or ``"none"``.
        note: the other categories the answer also named, or the judge's remark.
    """

    label: str
    by: str
    note: str = ""


class SynonymMapper:
    """Maps free-text answers onto categories through a synonym table.

    Args:
        labels: the corpus's categories; table entries for other categories are ignored.
        synonyms: category -> words (default :data:`SYNONYMS`); a category's own name always counts.

    Examples:
        >>> m = SynonymMapper(["anger", "sadness", "neutral"])
        >>> m("Wütend"), m("mild irritation"), m("wuetende Stimme"), m("surprise"), m("not angry, sad")
        ('anger', 'anger', 'anger', 'no match', 'sadness')
    """

    def __init__(self, labels: Iterable[str], synonyms: Mapping[str, Iterable[str]] | None = None) -> None:
        self.labels = tuple(labels)
        table = SYNONYMS if synonyms is None else synonyms
        self._lookup: dict[str, str] = {}
        self._phrases: dict[str, str] = {}
        for label in self.labels:
            for word in (label, *table.get(label, ())):
                w = _norm(word)
                for key in _keys(w):
                    self._lookup.setdefault(key, label)
                    if " " in w:
                        self._phrases.setdefault(key, label)

    def _word(self, word: str) -> str | None:
        for key in _keys(word):
            if key in self._lookup:
                return self._lookup[key]
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                for key in _keys(word[: -len(suffix)]):
                    if key in self._lookup:
                        return self._lookup[key]
        return None

    def map(self, answer: str | None) -> MappedAnswer:
        """Map one answer; returns the category (or :data:`NO_MATCH`), how, and the other categories named."""
        if answer is None or not str(answer).strip():
            return MappedAnswer(NO_MATCH, "none", "empty answer")
        text = _norm(str(answer))
        whole = self._word(text)
        if whole is not None:
            return MappedAnswer(whole, "synonym")
        found: list[str] = []
        for phrase, label in self._phrases.items():
            if re.search(rf"\b{re.escape(phrase)}\b", text) and not re.search(
                    rf"\b(?:{'|'.join(_NEGATIONS)})\s+{re.escape(phrase)}\b", text):
                found.append(label)
        words = _WORD.findall(text)
        for i, word in enumerate(words):
            if i > 0 and words[i - 1] in _NEGATIONS:
                continue
            parts = [word, *word.split("-")] if "-" in word else [word]
            for part in parts:
                hit = self._word(part)
                if hit is not None:
                    found.append(hit)
                    break
        if not found:
            return MappedAnswer(NO_MATCH, "synonym")
        first = found[0]
        others = [x for x in dict.fromkeys(found) if x != first]
        return MappedAnswer(first, "synonym", f"also: {', '.join(others)}" if others else "")

    def __call__(self, answer: str | None) -> str:
        return self.map(answer).label


#: A judge maps answers the synonym table left unmatched: (answers, labels) -> one label, NO_MATCH or None
#: (no opinion) per answer. :class:`affectproxy.audit.judge.LLMJudge` asks an LLM.
Judge = Callable[[Sequence[str], Sequence[str]], Sequence[str | None]]


def map_class(name: str, labels: Sequence[str], class_map: Mapping[str, str] | None = None,
              mapper: SynonymMapper | None = None) -> MappedAnswer:
    """Map a categorical model's class name onto the corpus's categories.

    The class table (default :data:`EMOTION2VEC_TO_EMODB`) decides first; a class it does not list goes through
    the synonym table.

    Examples:
        >>> labels = ["anger", "boredom", "neutral"]
        >>> map_class("angry", labels).label, map_class("surprised", labels).label, map_class("bored", labels).label
        ('anger', 'no match', 'boredom')
    """
    table = EMOTION2VEC_TO_EMODB if class_map is None else class_map
    if name in table:
        target = table[name]
        return MappedAnswer(target if target in labels else NO_MATCH, "class")
    return (mapper or SynonymMapper(labels)).map(name)


__all__ = ["EMOTION2VEC_TO_EMODB", "NO_MATCH", "SYNONYMS", "Judge", "MappedAnswer", "SynonymMapper", "map_class"]
