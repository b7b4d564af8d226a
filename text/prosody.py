"""Prosodic structure of a clause from its words: prosodic words (#0 inside, #1 between) and phrases (#2).

Biaobei's annotators group syllables into prosodic words of two to four syllables (a lexical word with its
particles, a run of one-syllable words, a one-syllable verb with its object) and prosodic words into
phrases; a pause (`sp`) stands at punctuation. This module predicts that structure with a few rules over
jieba's words and tags, no model:

1. particles (的 了 着 过 得 地, modal particles) join the word before them;
2. 不 and 没 join the word after them;
3. runs of one-syllable words pair up from the left (a run of three stays one word: 躲远点);
4. a remaining one-syllable verb joins a short object after it (陪外孙), a one-syllable pronoun a verb
   before it (拥抱我); other one-syllable words join a one- or two-syllable neighbour; adverbs,
   prepositions and conjunctions stand alone;
5. a phrase boundary (#2) comes before a preposition or conjunction, after one that opens the clause, and
   after the clause's subject (the first noun or pronoun group followed by a verb or an adverb, before
   any verb or preposition inside the clause).
"""
WORD = 1
PHRASE = 2
PAUSE = 3

_PARTICLE_TAGS = ("u", "y")
_NEGATIONS = ("不", "没")
_STANDALONE_TAGS = ("d", "p", "c")
_NOUN_TAGS = ("n", "r", "s", "t")


def _joins_left(word, tag):
    return tag.startswith(_PARTICLE_TAGS) or word == "们"


def group_words(words, syllable_counts):
    """Prosodic words of a clause.

    Args:
        words: [(word, tag)] of one clause.
        syllable_counts: syllables of each word (erhua counts as one).
    Returns:
        list of groups, each a list of consecutive word indices, covering every word in order.
    """
    # 1. Particles join the word before them.
    groups = []
    for index, (word, tag) in enumerate(words):
        if groups and _joins_left(word, tag):
            groups[-1].append(index)
        else:
            groups.append([index])

    def size(group):
        return sum(syllable_counts[index] for index in group)

    def tag_of(group, position):
        return words[group[position]][1]

    # 2. Negations join what follows.
    merged = []
    for group in groups:
        if merged and len(merged[-1]) == 1 and words[merged[-1][0]][0] in _NEGATIONS and size(group) <= 3:
            merged[-1] = merged[-1] + group
        else:
            merged.append(group)
    groups = merged

    # 3. Runs of one-syllable groups pair up from the left; an odd run ends in a triple.
    merged, run = [], []
    for group in groups + [None]:
        if group is not None and size(group) == 1:
            run.append(group)
            continue
        if len(run) >= 2:
            pairs = [run[start] + run[start + 1] for start in range(0, len(run) - 1, 2)]
            if len(run) % 2:
                pairs[-1] = pairs[-1] + run[-1]
            merged.extend(pairs)
        else:
            merged.extend(run)
        run = []
        if group is not None:
            merged.append(group)
    groups = merged

    # 4. Remaining one-syllable groups.
    result = []
    index = 0
    while index < len(groups):
        group = groups[index]
        following = groups[index + 1] if index + 1 < len(groups) else None
        if size(group) != 1:
            result.append(group)
        elif tag_of(group, 0).startswith("v") and following and size(following) <= 3 \
                and tag_of(following, 0).startswith(("n", "r", "m")):
            result.append(group + following)
            index += 1
        elif tag_of(group, 0).startswith("r") and result and size(result[-1]) <= 3 \
                and tag_of(result[-1], -1).startswith("v"):
            result[-1] = result[-1] + group
        elif tag_of(group, 0).startswith(_STANDALONE_TAGS):
            result.append(group)
        elif result and size(result[-1]) <= 2:
            result[-1] = result[-1] + group
        elif following and size(following) <= 2:
            result.append(group + following)
            index += 1
        else:
            result.append(group)
        index += 1
    return result


def group_levels(words, groups):
    """The level (WORD or PHRASE) of each boundary between consecutive groups: PHRASE before a preposition
    or conjunction, after one that opens the clause, and between the subject and the predicate (the first
    noun or pronoun group followed by a verb or an adverb, before any verb or inner preposition); WORD
    elsewhere."""
    levels = []
    verb_seen = False
    subject_found = False
    for position in range(len(groups) - 1):
        first_tag = words[groups[position][0]][1]
        last_tag = words[groups[position][-1]][1]
        next_word, next_tag = words[groups[position + 1][0]]
        level = WORD
        if next_tag.startswith(("p", "c")) and next_word not in _NEGATIONS:
            level = PHRASE
            subject_found = subject_found or next_tag.startswith("p")  # a preposition opens the predicate
        elif position == 0 and len(groups[0]) == 1 and first_tag.startswith(("p", "c")):
            level = PHRASE
        elif not (verb_seen or subject_found) and last_tag.startswith(_NOUN_TAGS) \
                and next_tag.startswith(("v", "d")):
            level = PHRASE
            subject_found = True
        verb_seen = verb_seen or any(words[index][1].startswith("v") for index in groups[position])
        levels.append(level)
    return levels


def clause_levels(words, syllable_counts):
    """Boundary levels between consecutive syllables of a clause (0 inside a prosodic word, WORD, PHRASE).

    Returns:
        list of sum(syllable_counts) - 1 levels.
    """
    groups = group_words(words, syllable_counts)
    between = group_levels(words, groups)
    levels = []
    for position, group in enumerate(groups):
        for index in group:
            levels.extend([0] * syllable_counts[index])
        levels[-1] = between[position] if position < len(between) else None
    return levels[:-1]
