"""Tone rules: neutral tones, 一/不 sandhi and third-tone sandhi, as spoken (and as the course labels them).

A clause is a list of jieba words `(text, pos)` with one TONE3 pinyin per character (`pinyins[i][j]` for
character j of word i). Every function returns new lists and leaves its arguments alone.

Neutral tone (`neutral_tones`): particles (的 地 得 了 着 过 by part of speech; 吗 呢 吧 啊 ... as words),
the locative 里 after a noun (公园里, 家里), the suffixes 们, 子 (except 男子, 原子, ...) and 头 (木头,
石头, ...), reduplicated kinship nouns and verbs (奶奶 n ai 3 n ai 5, 看看; not 人人, 天天 or 哈哈),
directional 来/去 after a verb (回来, 拿出来), and the common neutral-tone words of `text/tone_words.py`
(豆腐, 丈夫, 买卖, ...).

一 and 不 (`yi_bu_sandhi`): 不 is bu2 before a fourth tone (不是 b u 2), neutral between two identical
syllables (是不是); 一 is yi1 as a digit or ordinal (一九九零, 第一, 十一, 统一), neutral between
reduplicated verbs (看一看), yi2 before a fourth tone (一个) and yi4 before the other tones (一天, 一起).

Third tone (`third_tone_sandhi`): inside a prosodic word every third tone directly followed by another
third tone becomes second (卡尔普 k a 2 er 2 p u 3, 躲远点 d uo 2 van 2 d ian 3); across a prosodic-word
boundary (#1) the last syllable of a word becomes second when the next word now starts with a third tone,
taken right to left (给本|委员 -> g ei 2 b en 2 | uei 3 van 2; 舞|袅袅 -> u 3 | n iao 2 n iao 3); phrase
boundaries (#2), pauses and punctuation block it.
"""
from text.pinyin_rules import tone_of
from text.pinyin_rules import with_tone
from text.prosody import WORD
from text.tone_words import DIRECTIONAL_CHARS
from text.tone_words import DISTRIBUTIVE_CHARS
from text.tone_words import FULL_TONE_ZI_WORDS
from text.tone_words import NEUTRAL_TONE_WORDS
from text.tone_words import NEUTRAL_TOU_WORDS
from text.tone_words import ONOMATOPOEIA_CHARS
from text.tone_words import PARTICLE_TAGS
from text.tone_words import PARTICLES

# Characters of numbers: 一 next to them is read yi1 (二十一, 一九九零), except before a place value.
NUMERAL_CHARS = frozenset("零一二三四五六七八九十百千万亿两")
DIGIT_CHARS = frozenset("零一二三四五六七八九")


def _neutral_last(word, pos):
    """True when the last syllable of a word (two or more characters) is neutral by rule or list."""
    last = word[-1]
    if word in NEUTRAL_TONE_WORDS or word[-2:] in NEUTRAL_TONE_WORDS:
        return True
    if last == "们":
        return True
    if last == "子" and pos[:1] in ("n", "r") and word not in FULL_TONE_ZI_WORDS \
            and word[-2:] not in FULL_TONE_ZI_WORDS:
        return True
    if last == "头" and (word in NEUTRAL_TOU_WORDS or word[-2:] in NEUTRAL_TOU_WORDS):
        return True
    if last in "来去" and word[-2] in DIRECTIONAL_CHARS and pos.startswith("v"):
        return True
    if last == "么" and word[-2] in "什怎这那多要":
        return True
    if last == "里" and pos.startswith("s"):
        return True  # 家里, 屋里
    return False


def _neutral_reduplication(word, pos, index):
    """True when character `index` repeats the one before it and the repetition is read neutral."""
    char = word[index]
    if index == 0 or word[index - 1] != char or (index >= 2 and word[index - 2] == char):
        return False
    if pos.startswith("n"):
        return char not in DISTRIBUTIVE_CHARS and len(word) == 2
    if pos.startswith("v"):
        return char not in ONOMATOPOEIA_CHARS and index == len(word) - 1
    return False


def neutral_tones(words, pinyins):
    """Applies the neutral-tone rules to every word of a clause; returns new pinyin lists."""
    result = []
    for index, ((word, pos), syllables) in enumerate(zip(words, pinyins)):
        syllables = list(syllables)
        if len(word) == 1:
            if word in PARTICLE_TAGS and pos in PARTICLE_TAGS[word]:
                syllables[0] = with_tone(syllables[0], "5")
            elif word in PARTICLES and pos in ("y", "zg", "e", "u", "x"):
                syllables[0] = with_tone(syllables[0], "5")
            elif word == "里" and pos == "f" and index > 0 and words[index - 1][1].startswith(("n", "r")):
                syllables[0] = with_tone(syllables[0], "5")  # 公园里, 房间里
        else:
            for index in range(1, len(word)):
                if _neutral_reduplication(word, pos, index):
                    syllables[index] = with_tone(syllables[index], "5")
            if _neutral_last(word, pos):
                syllables[-1] = with_tone(syllables[-1], "5")
        result.append(syllables)
    return result


def _flatten(words, pinyins):
    """(characters, syllables, word_end) of a clause: word_end[k] is True at the last character of a word."""
    chars, syllables, word_end = [], [], []
    for (word, _), word_syllables in zip(words, pinyins):
        chars.extend(word)
        syllables.extend(word_syllables)
        word_end.extend([False] * (len(word) - 1) + [True])
    return chars, syllables, word_end


def _unflatten(syllables, pinyins):
    result, start = [], 0
    for word_syllables in pinyins:
        result.append(syllables[start:start + len(word_syllables)])
        start += len(word_syllables)
    return result


def _yi_tone(chars, syllables, word_end, k):
    """The tone of 一 at position k of the clause."""
    before = chars[k - 1] if k > 0 else ""
    after = chars[k + 1] if k + 1 < len(chars) else ""
    if not after or before == "第" or after in DIGIT_CHARS or before in NUMERAL_CHARS and after not in "十百千万亿":
        return "1"
    if before and before == after:
        return "5"  # 看一看
    if word_end[k] and k > 0 and not word_end[k - 1]:
        return "1"  # 统一, 唯一, 之一: 一 closes a word
    if after == "月" and (k + 2 >= len(chars) or chars[k + 2] in NUMERAL_CHARS or chars[k + 2] in "份日号"):
        return "1"  # 一月 (January)
    return "2" if tone_of(syllables[k + 1]) == "4" else "4"


def yi_bu_sandhi(words, pinyins):
    """Applies the 一 and 不 rules over a clause (the next syllable may be in the next word)."""
    chars, syllables, word_end = _flatten(words, pinyins)
    result = list(syllables)
    for k, char in enumerate(chars):
        if char == "一" and syllables[k].startswith("yi"):
            result[k] = with_tone(syllables[k], _yi_tone(chars, syllables, word_end, k))
        elif char == "不" and syllables[k].startswith("bu"):
            if tone_of(syllables[k]) == "5":
                continue
            after = chars[k + 1] if k + 1 < len(chars) else ""
            if k > 0 and after and chars[k - 1] == after:
                result[k] = with_tone(syllables[k], "5")
            elif after and tone_of(syllables[k + 1]) == "4":
                result[k] = with_tone(syllables[k], "2")
            else:
                result[k] = with_tone(syllables[k], "4")
    return _unflatten(result, pinyins)


def third_tone_sandhi(tones, levels):
    """Third-tone sandhi over a sequence of syllable tones.

    Args:
        tones: tone digits ("1".."5") of consecutive syllables.
        levels: len(tones) - 1 boundary levels between them (text/prosody.py: 0 inside a prosodic word,
            WORD = 1 between prosodic words, PHRASE = 2 between phrases, PAUSE = 3); sandhi never crosses
            a level above WORD.
    Returns:
        the new list of tone digits.
    """
    tones = list(tones)
    if len(levels) != max(len(tones) - 1, 0):
        raise ValueError(f"{len(tones)} tones need {max(len(tones) - 1, 0)} boundary levels, got {len(levels)}")
    # 1. Inside prosodic words: a run of third tones keeps only its last.
    for k in range(len(tones) - 1):
        if levels[k] == 0 and tones[k] == "3" and tones[k + 1] == "3":
            tones[k] = "2"
    # 2. Across prosodic-word boundaries, right to left, looking at the (already changed) next syllable.
    for k in range(len(tones) - 2, -1, -1):
        if levels[k] == WORD and tones[k] == "3" and tones[k + 1] == "3":
            tones[k] = "2"
    return tones
