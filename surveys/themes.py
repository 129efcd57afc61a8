"""Comments read the way owners name them: which themes a comment is about, and whether it
is a complaint, praise or a suggestion.

Words are compared by their lemma (pymorphy3, Russian) and stem (Snowball, Russian and
English), so "очередь / в очереди / очередюга" and "queue / queued" meet; a longer word
built on a theme's stem ("очередища") and a one-letter typo of a long word ("очерредь")
match too. A phrase ("долго ждать", "waited ages") matches when all its words are near
each other, in any order. A theme named right after a negation ("no queue at all",
"очереди не было") is not counted: that is praise of the theme, not a complaint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import pymorphy3
import razdel
import snowballstemmer

from surveys.model import Intent, Theme
from surveys.readings import (
    Found,
    Reading,
    TextReading,
    decide,
    fingerprint,  # noqa: F401  (where the tests look for it)
)


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CYRILLIC = re.compile(r"[а-яё]")
_WORD = re.compile(r"[a-zа-яё0-9]", re.IGNORECASE)
# Words too common to tell a phrase apart ("в очереди", "waited for ages").
STOPWORDS = _set(
    "в во на и а с со у к ко по за из о об от до для это этот был была было были очень так "
    "как что я мы вы ты он она они мне нам нас меня вас ещё еще уже же ли бы то "
    "the a an in on at of for to and is was were be been it its my we i you very so too "
    "there this that our your me us"
)
NEGATIONS = _set("нет без никакой никакая никакого никаких ни no without zero never")
# Russian parts of speech that carry a complaint's subject (pymorphy3's OpenCorpora tags).
_CONTENT = _set("NOUN ADJF ADJS COMP VERB INFN PRTF PRTS GRND ADVB")
_FUNCTION_WORDS = _set(
    "from with by about as into onto over under after before than then but or if because "
    "just only also even still all any some such what which who whom whose when where why "
    "how he she they them his her their its had has have do does did am are being will "
    "would can could should may might must not no yes one ones get got"
)
NEAR = 2  # a phrase's words may lie this many words apart per word of the phrase
MIN_STEM = 5  # shorter stems match exactly: "wait" must not match "waiter"


@cache
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@cache
def _stemmer(language: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(language)


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a comment or of a theme, with every form it is compared by."""

    text: str
    keys: frozenset[str]  # lemma and stems
    stem: str  # the longest-lived form: the stem of the lemma
    imperative: bool  # "добавьте", "сделайте": a Russian suggestion
    content: bool = True  # a noun, verb, adjective or adverb: not "моего", "from", "the"


@cache
def word(text: str) -> Word:
    text = text.lower().replace("ё", "е")
    if _CYRILLIC.search(text):
        parse = _morph().parse(text)[0]
        lemma = str(parse.normal_form).replace("ё", "е")
        stem = _stemmer("russian").stemWord(lemma)
        keys = {text, lemma, stem, _stemmer("russian").stemWord(text)}
        imperative = "impr" in parse.tag and _morph().word_is_known(text)
        content = parse.tag.POS in _CONTENT and "Apro" not in parse.tag
        return Word(text, frozenset(keys), stem, imperative, content)
    stem = _stemmer("english").stemWord(text)
    content = text not in STOPWORDS and text not in _FUNCTION_WORDS
    return Word(text, frozenset({text, stem}), stem, imperative=False, content=content)


def _hyphenated(text: str) -> Word:
    """ "девушка-официант" is both words as well as itself."""
    whole = word(text)
    parts = [word(part) for part in text.split("-") if part]
    if len(parts) < 2:
        return whole
    keys = whole.keys.union(*(p.keys for p in parts))
    imperative = any(p.imperative for p in parts)
    return Word(whole.text, keys, whole.stem, imperative, any(p.content for p in parts))


def words(text: str) -> list[Word]:
    """The comment's words in order (razdel's tokens; punctuation and emoji dropped)."""
    return [_hyphenated(token.text) for token in razdel.tokenize(text) if _WORD.search(token.text)]


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau–Levenshtein distance (adjacent swaps count once), cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
    return row[-1]


def same(wanted: Word, seen: Word) -> bool:
    """Whether a comment's word is a theme's word: a shared lemma or stem; for stems of
    MIN_STEM letters or more, also a word built on the stem or a typo of it."""
    if wanted.keys & seen.keys:
        return True
    stem = wanted.stem
    if len(stem) < MIN_STEM:
        return False
    if any(key.startswith(stem) for key in seen.keys):
        return True
    # Typos: English stems are shorter and nearer each other ("waited" / "waiter").
    shortest = 6 if _CYRILLIC.search(stem) else 7
    if len(stem) < shortest:
        return False
    limit = 1 if len(stem) < 9 else 2
    # A typo keeps the first letter (and so skips most of the comparisons).
    return any(
        _distance(stem, key, limit) <= limit
        for key in seen.keys
        if len(key) >= 4 and key[0] == stem[0]
    )


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    words: tuple[Word, ...]
    negated: bool  # the phrase itself says "no …": a negation before it is part of it

    def found(self, comment: Sequence[Word], positions: Mapping[Word, list[int]]) -> bool | None:
        """True where the comment names the phrase, False where it only denies it
        ("no queue"), None where it does not name it. `positions`: where each theme word
        is in the comment."""
        places = [positions.get(w, []) for w in self.words]
        if not all(places):
            return None
        window = NEAR * len(self.words)
        denied = False
        for anchor in places[0]:
            near = [min(p, key=lambda p: abs(p - anchor)) for p in places[1:]]
            if all(abs(p - anchor) <= window for p in near):
                start, end = min([anchor, *near]), max([anchor, *near])
                if self.negated or not _negated(comment, start, end):
                    return True
                denied = True
        return False if denied else None


def _negated(comment: Sequence[Word], start: int, end: int) -> bool:
    before = [w.text for w in comment[max(0, start - 2) : start]]
    after = [w.text for w in comment[end + 1 : end + 3]]
    return (
        any(t in NEGATIONS for t in before)
        or before[-2:] == ["не", "было"]
        or after[:1] == ["нет"]
        or after[:2] == ["не", "было"]
    )


def phrase(text: str) -> Phrase:
    every = words(text)
    kept = tuple(w for w in every if w.text not in STOPWORDS) or tuple(every)
    return Phrase(text, kept, any(w.text in NEGATIONS or w.text == "не" for w in kept))


@dataclass(frozen=True, slots=True)
class ThemeMatcher:
    id: str
    phrases: tuple[Phrase, ...]

    def hits(
        self, comment: Sequence[Word], positions: Mapping[Word, list[int]]
    ) -> tuple[int, int]:
        """How many of the theme's phrases the comment names, and how many it denies."""
        found = [p.found(comment, positions) for p in self.phrases]
        return sum(f is True for f in found), sum(f is False for f in found)


class _Vocabulary:
    """Every word of a set of themes; hashed by identity, so a cache can key on it."""

    __slots__ = ("words",)

    def __init__(self, words: tuple[Word, ...]) -> None:
        self.words = words


class Matchers(tuple[ThemeMatcher, ...]):
    """A survey's themes, ready to match: its vocabulary is compared with each distinct
    comment word once (then cached), not once per phrase and comment."""

    vocabulary: _Vocabulary


def matchers(themes: Iterable[Theme]) -> Matchers:
    compiled = Matchers(
        ThemeMatcher(t.id, tuple(phrase(p) for ps in t.words.values() for p in ps if words(p)))
        for t in themes
    )
    every = (w for m in compiled for p in m.phrases for w in p.words)
    compiled.vocabulary = _Vocabulary(tuple(dict.fromkeys(every)))
    return compiled


@lru_cache(maxsize=1 << 16)
def _matched(seen: Word, vocabulary: _Vocabulary) -> tuple[Word, ...]:
    """The theme words a comment word is (by lemma, stem, derivation or typo)."""
    return tuple(w for w in vocabulary.words if same(w, seen))


def find_themes(text: str, compiled: Matchers) -> Found:
    comment = words(text)
    positions: dict[Word, list[int]] = {}
    for i, seen in enumerate(comment):
        for theme_word in _matched(seen, compiled.vocabulary):
            positions.setdefault(theme_word, []).append(i)
    scored = [(*m.hits(comment, positions), m.id) for m in compiled]
    named = [ident for hits, _, ident in sorted(scored, key=lambda s: -s[0]) if hits]
    denied = [ident for hits, denied, ident in scored if denied and not hits]
    return Found(tuple(named), tuple(denied))


def themes_of(text: str, compiled: Matchers) -> list[str]:
    """The ids of the themes `text` is about, best matched first."""
    return list(find_themes(text, compiled).themes)


# -- pain, praise, suggestion -----------------------------------------------------------

_SUGGESTION = (
    "хорошо_бы было_бы хотеться_бы хотеть_бы предлагать можно_бы нужно надо пожалуйста "
    "советовать почему_бы мечтать предложение "
    "please should would_be could_you suggest suggestion maybe wish why_not bring_back "
    "consider how_about would_love need_more more_of you_need"
)
_PRAISE = (
    "отлично отличный вкусно вкусный нравиться понравиться любить супер класс классный "
    "прекрасно прекрасный уютно уютный спасибо хороший хорошо лучший вежливый быстро чисто "
    "приятный приятно замечательно замечательный здорово молодец рекомендовать обожать "
    "душевно идеально восторг шикарно круто приветливый красивый милый внимательный "
    "улыбчивый огонь "
    "great love excellent amazing delicious tasty friendly cosy cozy nice good best perfect "
    "fast quick clean awesome thanks thank wonderful fantastic lovely enjoy favourite "
    "favorite brilliant"
)
_PAIN = (
    "долго плохо плохой грязно грязный холодный невкусно невкусный грубый грубо дорого "
    "ужасно ужасный медленно сломать ошибка перепутать пришлось остыть разочаровать "
    "отвратительно хамство хамить ждать мало тесно шумно шумный громко громкий душно "
    "неудобно неприятно жаль "
    "забыть потерять отказать "
    "bad slow cold rude dirty expensive terrible awful wrong broken long "
    "waited wait horrible disappointing disappointed overpriced worse worst forgot lost "
    "sticky noisy loud crowded cramped pricey stale bland burnt nobody refused annoying "
    "unbearable meh"
)


def _lexicon(entries: str) -> tuple[tuple[Word, ...], ...]:
    return tuple(tuple(word(part) for part in entry.split("_")) for entry in entries.split())


_LEXICONS = {
    Intent.SUGGESTION: _lexicon(_SUGGESTION),
    Intent.PRAISE: _lexicon(_PRAISE),
    Intent.PAIN: _lexicon(_PAIN),
}


NEGATORS = _set(
    "не нет без ни никогда not no never without isn't wasn't weren't don't doesn't didn't "
    "can't couldn't won't hardly"
)


INTENSIFIERS = _set("очень особо слишком совсем very so too really that")


def _count(comment: Sequence[Word], lexicon: tuple[tuple[Word, ...], ...]) -> int:
    keys = [w.keys for w in comment]
    found = 0
    for entry in lexicon:
        size = len(entry)
        if any(
            all(entry[k].keys & keys[i + k] for k in range(size))
            for i in range(len(keys) - size + 1)
        ):
            found += 1
    return found


@cache
def _single_keys(lexicon: tuple[tuple[Word, ...], ...]) -> frozenset[str]:
    return frozenset().union(*(entry[0].keys for entry in lexicon if len(entry) == 1))


def _in(seen: Word, lexicon: tuple[tuple[Word, ...], ...]) -> bool:
    return not _single_keys(lexicon).isdisjoint(seen.keys)


def _tone(comment: Sequence[Word]) -> tuple[int, int, int]:
    """(praise, pain, bare negations): a praise word after a negation is pain ("не
    вкусно", "not good"), a pain word after one is praise ("not expensive")."""
    praise = pain = bare = 0
    for i, seen in enumerate(comment):
        before = [w.text for w in comment[max(0, i - 2) : i]]
        if before[-1:] and before[-1] in INTENSIFIERS:
            before = before[:-1]
        negated = bool(before) and before[-1] in NEGATORS
        if _in(seen, _LEXICONS[Intent.PRAISE]):
            pain, praise = (pain + 1, praise) if negated else (pain, praise + 1)
        elif _in(seen, _LEXICONS[Intent.PAIN]):
            pain, praise = (pain, praise + 1) if negated else (pain + 1, praise)
        elif seen.text in NEGATORS and not any(
            _in(w, _LEXICONS[Intent.PRAISE]) or _in(w, _LEXICONS[Intent.PAIN])
            for w in comment[i + 1 : i + 3]
        ):
            bare += 1
    return praise, pain, bare


# An English request starts with its verb: "Put a sign…", "Turn the music down".
_REQUESTS = _set(
    "add put turn make bring open hire install get give let keep try change fix offer "
    "train clean lower reduce start stop"
)
# Answers that say nothing: "нет", "-", "no comment".
NOTHING = _set("нет ничего no nothing none nope comment n/a")


def says_nothing(text: str) -> bool:
    return all(w.text in NOTHING for w in words(text))


def text_intent(text: str, found: Found | None = None) -> Intent | None:
    """What the comment's own words say: a suggestion (an imperative, "хорошо бы",
    "please add"), a complaint or praise (by their words, a negation turning one into the
    other; mixed is a complaint), else a complaint when it names a theme or a negation,
    praise when it denies a theme ("no queue at all"); else nothing (a one-word "нет")."""
    comment = words(text)
    if not comment:
        return None
    if (
        _count(comment, _LEXICONS[Intent.SUGGESTION])
        or any(w.imperative for w in comment)
        or comment[0].text in _REQUESTS
    ):
        return Intent.SUGGESTION
    praise, pain, bare = _tone(comment)
    if found is not None and found.denied:
        praise += 1
    if pain or praise:
        return Intent.PAIN if pain >= praise else Intent.PRAISE
    if bare or (found is not None and found.themes):
        return Intent.PAIN
    return None


def content_terms(comment: Sequence[Word]) -> tuple[tuple[str, str], ...]:
    """(stem, form) of the words a recurring phrase can be made of, in order."""
    return tuple(
        (w.stem, w.text) for w in comment
        if w.content and w.text not in STOPWORDS and w.text not in NEGATORS
        and w.text not in NOTHING and len(w.text) >= 3 and not w.text.isdigit()
    )  # fmt: skip


def read_text(text: str, compiled: Matchers) -> TextReading:
    found = find_themes(text, compiled)
    comment = words(text)
    nothing = all(w.text in NOTHING for w in comment)
    said = None if nothing else text_intent(text, found)
    return TextReading(found.themes, found.denied, said, nothing, content_terms(comment))


def read(text: str, asked: Intent | None, low: bool, found: Found | None = None) -> Reading:
    """`decide` on the comment's words (themes given as `found`, if already matched)."""
    comment = words(text)
    nothing = all(w.text in NOTHING for w in comment)
    said = None if nothing else text_intent(text, found)
    themes = found or Found(())
    return decide(TextReading(themes.themes, themes.denied, said, nothing, ()), asked, low)
