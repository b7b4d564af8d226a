"""Chinese clauses to words and pinyin: jieba segmentation and tagging, pypinyin, polyphones, tones, erhua.

    tagger = load_tagger()
    words = segment(tagger, "遛弯儿都得躲远点")     # [("遛弯儿", "v"), ("都", "d"), ("得", "ud"), ...]
    words, pinyins = clause_pinyins(words)          # tones after the neutral-tone and 一/不 rules, erhua "r5"

Third-tone sandhi needs the prosodic structure and is applied later (`text.sandhi.third_tone_sandhi`).
"""
import logging

import jieba
import jieba.posseg
from pypinyin import Style
from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT

from text.pinyin_rules import ERHUA_PINYIN
from text.pinyin_rules import PinyinError
from text.pinyin_rules import split_syllable
from text.polyphones import apply_default_readings
from text.polyphones import resolve_polyphones
from text.polyphones import unify_reduplications
from text.sandhi import neutral_tones
from text.sandhi import yi_bu_sandhi
from text.tone_words import NOT_ERHUA_WORDS


def is_hanzi(char):
    """True for a CJK unified ideograph (basic block, extension A, compatibility ideographs)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def load_tagger():
    """A jieba part-of-speech tagger with its own tokenizer (jieba's bundled dictionary; nothing is fetched).

    Loading takes about a second (jieba caches its prefix dictionary in the temp directory). jieba's
    logger is set to warnings only, so that loading prints nothing.
    """
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return jieba.posseg.POSTokenizer(tokenizer)


def segment(tagger, clause):
    """jieba words and tags of a clause of Chinese characters, with reduplications (昔/昔 -> 昔昔) and a
    detached 儿 (弯/儿 -> 弯儿) joined to the word before them. Returns [(word, tag)]."""
    words = []
    for pair in tagger.cut(clause):
        word, tag = pair.word, pair.flag
        if words and (word == words[-1][0] and len(word) == 1 or word == "儿"):
            words[-1] = (words[-1][0] + word, words[-1][1])
        else:
            words.append((word, tag))
    return words


def _reset_yi_bu(word, syllables):
    """Citation tones for 一 and 不 (yi1, bu4) where pypinyin's phrase dictionary applied its own sandhi
    (一个 yi2, 不是 bu2); a dictionary neutral tone (差不多 bu5) is kept."""
    result = list(syllables)
    for index, char in enumerate(word):
        if char == "一" and result[index] in ("yi2", "yi4"):
            result[index] = "yi1"
        elif char == "不" and result[index] == "bu2":
            result[index] = "bu4"
    return result


def word_pinyin(word):
    """pypinyin's TONE3 reading of one word (phrase dictionary first), neutral tone as 5: one syllable per
    character, None for a character pypinyin cannot read."""
    syllables = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True,
                            errors=lambda text: [None] * len(text))
    if len(syllables) != len(word):
        return [None] * len(word)
    return apply_default_readings(word, syllables, word in PHRASES_DICT)


def readable(char):
    """True when a Chinese character has a reading the course's phones can spell."""
    (syllable,) = word_pinyin(char)
    if syllable is None:
        return False
    try:
        split_syllable(syllable)
    except PinyinError:
        return False
    return True


def apply_erhua(word, syllables):
    """The 儿 closing a word (not 婴儿, 女儿, ...) as the erhua syllable "r5": 遛弯儿 -> liu4 wan1 r5."""
    if len(word) >= 2 and word[-1] == "儿" and word not in NOT_ERHUA_WORDS \
            and word[-2:] not in NOT_ERHUA_WORDS and syllables[-1].startswith("er"):
        return list(syllables[:-1]) + [ERHUA_PINYIN]
    return list(syllables)


def clause_pinyins(words):
    """Readings of a clause's words with polyphones resolved and neutral-tone, 一/不 and erhua rules applied.

    Args:
        words: [(word, tag)] from `segment`; every character `readable`.
    Returns:
        (words, pinyins): the words (a tag may change, e.g. 得 read děi becomes "v") and one TONE3 syllable
        per character ("r5" for erhua).
    """
    pinyins = [_reset_yi_bu(word, unify_reduplications(word, word_pinyin(word))) for word, _ in words]
    words, pinyins = resolve_polyphones(words, pinyins, [word in PHRASES_DICT for word, _ in words])
    pinyins = neutral_tones(words, pinyins)
    pinyins = yi_bu_sandhi(words, pinyins)
    return words, [apply_erhua(word, syllables) for (word, _), syllables in zip(words, pinyins)]
