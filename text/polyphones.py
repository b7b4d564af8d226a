"""Polyphones read in context: a one-character word's reading chosen by its part of speech and neighbours.

pypinyin reads a word from its phrase dictionary (银行 yin2 hang2, 长大 zhang3 da4, 音乐 yin1 yue4,
重要 zhong4 yao4, 重新 chong2 xin1, 还是 hai2 shi4) and a lone character by its most frequent reading,
which is wrong for many one-character words: 很长 (cháng, an adjective), 还钱 (huán, a verb), 得 as a
particle (de) or an auxiliary verb (děi). jieba's part-of-speech tag decides those here.
"""
# Reading of a one-character word by jieba part-of-speech tag (the first letters of the tag are tried from
# the longest: "ud" before "u"). Tags: a adjective, d adverb, v verb, n noun, p preposition, q measure word,
# m numeral, c conjunction, u particle (uj 的, uv 地, ud 得, ul 了, uz 着, ug 过), y modal particle.
POS_READINGS = {
    "长": {"a": "chang2", "d": "chang2", "v": "zhang3", "n": "zhang3"},
    "还": {"d": "hai2", "c": "hai2", "v": "huan2"},
    "行": {"v": "xing2", "a": "xing2", "q": "hang2", "n": "hang2"},
    "得": {"ud": "de5", "v": "de2"},
    "地": {"uv": "de5", "n": "di4"},
    "了": {"ul": "le5", "y": "le5", "v": "liao3"},
    "着": {"uz": "zhe5", "v": "zhao2"},
    "为": {"p": "wei4", "c": "wei4", "v": "wei2"},
    "重": {"a": "zhong4", "d": "chong2"},
    "乐": {"a": "le4", "v": "le4", "n": "yue4"},
    "种": {"n": "zhong3", "q": "zhong3", "m": "zhong3", "v": "zhong4"},
    "处": {"n": "chu4", "v": "chu3"},
    "只": {"q": "zhi1", "m": "zhi1", "d": "zhi3", "c": "zhi3"},
    "数": {"v": "shu3", "m": "shu4", "n": "shu4"},
    "教": {"v": "jiao1", "n": "jiao4"},
    "倒": {"v": "dao3", "d": "dao4"},
    "干": {"v": "gan4", "a": "gan1"},
    "少": {"a": "shao3", "d": "shao3", "v": "shao3"},
    "薄": {"a": "bao2"},
    "空": {"a": "kong1", "v": "kong4"},
    "都": {"d": "dou1"},
    "和": {"c": "he2", "p": "he2"},
    "将": {"d": "jiang1", "p": "jiang1"},
    "相": {"d": "xiang1"},
    "差": {"a": "cha4", "v": "cha4"},
}
# Characters whose common modern reading is not pypinyin's default (its first) reading; used for words
# missing from pypinyin's phrase dictionary. 遛: liù (遛弯儿, 遛狗, 遛鸟); liú only in the rare 逗遛.
DEFAULT_READINGS = {"遛": ("liu2", "liu4")}
# One-character verbs after which 为 means "as, into" (wéi): 选为, 称为, 视为, 改为, 分为, 评为.
VERBS_BEFORE_WEI2 = frozenset("选称视列改分定评封立拜奉推任认成作化变转译划命誉尊")


def _tag_reading(char, pos):
    readings = POS_READINGS.get(char)
    if not readings:
        return None
    for length in range(len(pos), 0, -1):
        if pos[:length] in readings:
            return readings[pos[:length]]
    return None


def _word_with_unknown_reading(word, syllables):
    """Readings of a word missing from pypinyin's phrase dictionary (pypinyin read it character by
    character): 得 between a verb and its complement is the particle de (说得好, 跑得快, 算得上), 为 after a
    verb of VERBS_BEFORE_WEI2 is wéi (被选为)."""
    syllables = list(syllables)
    for position in range(1, len(word)):
        if word[position] == "得" and position < len(word) - 1:
            syllables[position] = "de5"
        elif word[position] == "为" and word[position - 1] in VERBS_BEFORE_WEI2:
            syllables[position] = "wei2"
    return syllables


def resolve_polyphones(words, pinyins, in_dictionary):
    """Re-reads polyphones by part of speech and context.

    Args:
        words: the clause's jieba words [(text, pos)].
        pinyins: one TONE3 syllable per character for each word (pypinyin's reading).
        in_dictionary: for each word, True when pypinyin read it from its phrase dictionary (kept).
    Returns:
        (words, pinyins), new lists. One-character words: POS_READINGS; 得 after anything but a verb or
        adjective and before a verb is the auxiliary děi (你得走, 都得躲; its tag becomes "v"); 为 after a
        locative word (以下为) or after a verb of VERBS_BEFORE_WEI2 (选 为) is wéi; 还 before a noun or a
        one-character pronoun is the verb huán (还钱, 还你). Longer words missing from the phrase
        dictionary: see `_word_with_unknown_reading`.
    """
    words = list(words)
    result = [list(syllables) for syllables in pinyins]
    for index, (word, pos) in enumerate(words):
        previous_word, previous_pos = words[index - 1] if index > 0 else ("", "")
        next_word, next_pos = words[index + 1] if index + 1 < len(words) else ("", "")
        if len(word) > 1:
            if not in_dictionary[index]:
                result[index] = _word_with_unknown_reading(word, result[index])
            continue
        reading = _tag_reading(word, pos)
        if word == "得" and next_pos.startswith("v") and not previous_pos.startswith(("v", "a")):
            reading = "dei3"
            words[index] = (word, "v")
        elif word == "为" and (previous_pos.startswith("f") or previous_word in VERBS_BEFORE_WEI2):
            reading = "wei2"
        elif word == "还" and (next_pos.startswith("n") or next_pos.startswith("r") and len(next_word) == 1):
            reading = "huan2"
        if reading:
            result[index][0] = reading
    return words, result


def apply_default_readings(word, syllables, in_phrase_dictionary):
    """Replaces pypinyin's default reading of the characters of DEFAULT_READINGS by the common one, unless
    the word's reading came from the phrase dictionary. Returns a new list."""
    if in_phrase_dictionary:
        return list(syllables)
    return [DEFAULT_READINGS[char][1] if char in DEFAULT_READINGS and syllable == DEFAULT_READINGS[char][0]
            else syllable for char, syllable in zip(word, syllables)]


def unify_reduplications(word, syllables):
    """Gives both characters of a reduplication inside a word the same reading (喷喷香 p en 4 p en 4):
    pypinyin may read the first by itself and the second as part of a phrase. Returns a new list."""
    syllables = list(syllables)
    for index in range(len(word) - 2, -1, -1):
        second = syllables[index + 1]
        if word[index] == word[index + 1] and syllables[index] != second and not second.endswith("5"):
            syllables[index] = second
    return syllables
