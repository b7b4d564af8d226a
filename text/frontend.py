"""Mandarin text front-end: Chinese sentences to the course's phone labels.

    python -m text.frontend "卡尔普陪外孙玩滑梯。" "今天是2024年3月5日。"
    python -m text.frontend --input_file=sentences.txt > labels.txt

prints one course label line per sentence, `<id>|<sentence>|<phones>`, ids 000001, 000002, ... in input
order (an input file has one sentence a line; empty lines are skipped and take no id), e.g.

    000001|卡尔普陪外孙玩滑梯。|sil k a 2 #0 er 2 #0 p u 3 #2 p ei 2 #0 uai 4 #0 s uen 1 #2 uan 2 ... sil

The output feeds `synthesize.py --labels` and `preprocess.py`. Something that cannot be read (a symbol, an
emoji, an English word missing from the CMU dictionary) is reported on stderr in one line and skipped.

Pipeline (`Frontend.pronounce`): normalisation (text/normalize.py) -> clauses of Chinese characters,
English words and pauses -> jieba words and tags -> pypinyin readings, polyphones, neutral tones, 一/不,
erhua (text/mandarin.py) -> prosodic words and phrases (text/prosody.py) -> third-tone sandhi
(text/sandhi.py) -> phones (text/pinyin_rules.py; English: text/english.py). Boundary marks: #0 between
the syllables of a prosodic word, #1 between prosodic words, #2 between phrases, `sp` at punctuation
inside the sentence (as in the Biaobei labels), `sil` at both ends.
"""
import collections

from absl import app
from absl import flags

from text import english
from text import mandarin
from text import prosody
from text.normalize import normalize_text
from text.pinyin_rules import split_syllable
from text.sandhi import third_tone_sandhi
from tacotron.cli import fail
from tacotron.cli import warn

# Punctuation that makes a pause (sp) inside a sentence; at either end it is dropped.
PAUSE_CHARS = frozenset("，,、；;：:。.！!？?…—～~")
# Characters read as nothing and breaking nothing: quotes, brackets, dashes inside words, spaces.
SILENT_CHARS = frozenset("“”‘’\"'《》〈〉「」『』()（）[]【】{}<>·-_ \t\u3000/\\*")
MARKS = {0: "#0", prosody.WORD: "#1", prosody.PHRASE: "#2", prosody.PAUSE: "sp"}

# What the front-end made of one sentence: phones (list of symbols, "sil" ... "sil"; empty when nothing
# could be read), problems (one message per skipped character or word) and the normalised text.
Pronunciation = collections.namedtuple("Pronunciation", ["phones", "problems", "normalized"])
# One unit of sound: the phones of a syllable without its tone (or of an English word) and the tone digit
# (None for English).
_Unit = collections.namedtuple("_Unit", ["phones", "tone"])


def _describe(char):
    return f"{char!r} (U+{ord(char):04X})"


def split_pieces(text):
    """Splits normalised text into pieces: ("zh", run of Chinese characters), ("en", English word),
    ("pause", punctuation) and ("skip", character that cannot be read). Silent characters vanish; an
    English word is a run of ASCII letters, with apostrophes inside ("don't")."""
    pieces = []
    index = 0
    while index < len(text):
        char = text[index]
        if mandarin.is_hanzi(char):
            if pieces and pieces[-1][0] == "zh":
                pieces[-1] = ("zh", pieces[-1][1] + char)
            else:
                pieces.append(("zh", char))
        elif char.isascii() and char.isalpha():
            end = index
            while end < len(text) and (text[end].isascii() and text[end].isalpha()
                                       or text[end] == "'" and end + 1 < len(text) and text[end + 1].isalpha()):
                end += 1
            pieces.append(("en", text[index:end]))
            index = end
            continue
        elif char in PAUSE_CHARS:
            pieces.append(("pause", char))
        elif char not in SILENT_CHARS and not char.isspace():
            pieces.append(("skip", char))
        index += 1
    return pieces


class Frontend:
    """Text to phones. Holds the loaded resources: jieba's tagger (loaded now) and the CMU dictionary
    (loaded with the first English word). Build one and reuse it.

    Args:
        tagger: a jieba POSTokenizer (default: `mandarin.load_tagger()`).
        lexicon: the CMU dictionary (default: `english.load_lexicon()` when first needed).
    """

    def __init__(self, tagger=None, lexicon=None):
        self.tagger = tagger if tagger is not None else mandarin.load_tagger()
        self._lexicon = lexicon

    @property
    def lexicon(self):
        if self._lexicon is None:
            self._lexicon = english.load_lexicon()
        return self._lexicon

    def _chinese_units(self, clause):
        """Units and boundary levels of a run of Chinese characters (all readable)."""
        words, pinyins = mandarin.clause_pinyins(mandarin.segment(self.tagger, clause))
        levels = prosody.clause_levels(words, [len(syllables) for syllables in pinyins])
        syllables = [syllable for word_syllables in pinyins for syllable in word_syllables]
        parts = [split_syllable(syllable) for syllable in syllables]
        tones = third_tone_sandhi([tone for _, _, tone in parts], levels)
        units = [_Unit([phone for phone in (initial, final) if phone], tone)
                 for (initial, final, _), tone in zip(parts, tones)]
        return units, levels

    def pronounce(self, sentence):
        """The phones of one sentence.

        Returns:
            Pronunciation(phones, problems, normalized); phones start and end with "sil" and are empty when
            nothing in the sentence could be read.
        """
        normalized = normalize_text(sentence)
        problems = []
        units, levels = [], []  # levels[k] lies between units[k] and units[k + 1]
        pending_pause = False

        def append(new_units, new_levels, joint_level):
            nonlocal pending_pause
            if units:
                levels.append(prosody.PAUSE if pending_pause else joint_level)
            units.extend(new_units)
            levels.extend(new_levels)
            pending_pause = False

        for kind, text in split_pieces(normalized):
            if kind == "zh":
                unreadable = [char for char in text if not mandarin.readable(char)]
                for char in unreadable:
                    problems.append(f"unsupported character {_describe(char)}")
                clause = "".join(char for char in text if char not in unreadable)
                if clause:
                    append(*self._chinese_units(clause), prosody.WORD)
            elif kind == "en":
                phones = english.word_phones(text, self.lexicon)
                if phones is None:
                    problems.append(f"English word {text!r} is not in the CMU dictionary")
                else:
                    append([_Unit(phones, None)], [], prosody.WORD)
            elif kind == "pause":
                pending_pause = bool(units)
            else:
                problems.append(f"unsupported character {_describe(text)}")
        if not units:
            return Pronunciation([], problems or ["nothing to pronounce"], normalized)
        phones = ["sil"]
        for index, unit in enumerate(units):
            phones.extend(unit.phones)
            if unit.tone is not None:
                phones.append(unit.tone)
            if index < len(levels):
                phones.append(MARKS[levels[index]])
        phones.append("sil")
        return Pronunciation(phones, problems, normalized)


def utterance_id(number):
    """The course's six-digit utterance id: 1 -> "000001"."""
    return f"{number:06d}"


def label_line(utt_id, sentence, phones):
    """One course label line; "|" and line breaks in the sentence are replaced by spaces."""
    text = " ".join(sentence.replace("|", " ").split())
    return f"{utt_id}|{text}|{' '.join(phones)}"


def read_sentences(path):
    """The non-empty lines of a UTF-8 text file, stripped. Raises OSError / UnicodeDecodeError."""
    with open(path, "r", encoding="utf-8") as handle:
        return [line.strip().lstrip("\ufeff") for line in handle if line.strip().lstrip("\ufeff")]


def convert(frontend, sentences):
    """Label lines for sentences, with ids 000001... in order.

    Returns:
        (lines, problems): one label line per sentence that could be read, and one message per problem,
        each starting with the utterance id.
    """
    lines, problems = [], []
    for number, sentence in enumerate(sentences, start=1):
        utt_id = utterance_id(number)
        result = frontend.pronounce(sentence)
        problems.extend(f"{utt_id}: {problem}" for problem in result.problems)
        if result.phones:
            lines.append(label_line(utt_id, sentence, result.phones))
    return lines, problems


def _define_flags():
    flags.DEFINE_string("input_file", None, "A UTF-8 text file, one sentence a line (instead of arguments).")


def main(argv):
    sentences = argv[1:]
    if flags.FLAGS.input_file is not None:
        if sentences:
            raise app.UsageError("give sentences as arguments or --input_file, not both")
        try:
            sentences = read_sentences(flags.FLAGS.input_file)
        except UnicodeDecodeError:
            fail(f"{flags.FLAGS.input_file}: not UTF-8 text")
        except OSError as error:
            fail(f"{flags.FLAGS.input_file}: cannot read ({error.strerror or error})")
    if not sentences:
        raise app.UsageError("give one or more sentences, or --input_file")
    lines, problems = convert(Frontend(), sentences)
    for problem in problems:
        warn(problem)
    for line in lines:
        print(line)
    if not lines:
        fail("no sentence could be read; nothing written")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
