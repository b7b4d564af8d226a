"""Mandarin front-end: spelling, normalisation, tone rules, prosody marks, polyphones, English, the CLI."""
import os
import subprocess
import sys

import pytest
from pypinyin.contrib.tone_convert import to_tone3
from pypinyin.pinyin_dict import pinyin_dict

from conftest import ROOT
from text import english
from text import frontend as frontend_lib
from text import prosody
from text.labels import parse_label_line
from text.normalize import normalize_text
from text.phones_mix import SYMBOLS
from text.phones_mix import phones_to_ids
from text.pinyin_rules import PinyinError
from text.pinyin_rules import split_syllable
from text.pinyin_rules import syllable_phones
from text.sandhi import neutral_tones
from text.sandhi import third_tone_sandhi
from text.sandhi import yi_bu_sandhi

MARKS = ("#0", "#1", "#2", "#3", "sp", "sil")


@pytest.fixture(scope="module")
def frontend():
    return frontend_lib.Frontend()


def phones(frontend, text):
    """The whole phone string of a sentence (asserting nothing was skipped)."""
    result = frontend.pronounce(text)
    assert result.problems == [], result.problems
    return " ".join(result.phones)


def sounds(frontend, text):
    """The phones without prosody marks and sil: "d uo 2 van 2 d ian 3"."""
    return " ".join(phone for phone in phones(frontend, text).split() if phone not in MARKS)


# --- Spelling -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("syllable, expected", [
    ("zhuang1", "zh uang 1"), ("wai4", "uai 4"), ("yu3", "v 3"), ("yue4", "ve 4"), ("yan2", "ian 2"),
    ("wo3", "uo 3"), ("you3", "iou 3"), ("yi1", "i 1"), ("wu3", "u 3"), ("yuan2", "van 2"), ("yun2", "vn 2"),
    ("weng1", "ueng 1"), ("wei4", "uei 4"), ("wen2", "uen 2"), ("ying1", "ing 1"), ("yong3", "iong 3"),
    ("qu4", "q v 4"), ("ju2", "j v 2"), ("xue2", "x ve 2"), ("quan2", "q van 2"), ("jun1", "j vn 1"),
    ("lv4", "l v 4"), ("lü4", "l v 4"), ("nve4", "n ve 4"),
    ("zi3", "z ii 3"), ("ci2", "c ii 2"), ("si1", "s ii 1"),
    ("zhi1", "zh iii 1"), ("chi1", "ch iii 1"), ("shi4", "sh iii 4"), ("ri4", "r iii 4"),
    ("dui4", "d uei 4"), ("dun4", "d uen 4"), ("jiu3", "j iou 3"), ("gui4", "g uei 4"), ("lun2", "l uen 2"),
    ("er2", "er 2"), ("an1", "an 1"), ("e4", "e 4"), ("de", "d e 5"), ("ma5", "m a 5"),
    ("r5", "xr 5"), ("yo1", "iou 1"), ("n2", "en 2"), ("hng5", "h eng 5"),
])
def test_syllable_spelling(syllable, expected):
    assert " ".join(syllable_phones(syllable)) == expected


@pytest.mark.parametrize("bad", ["", "5", "xyz1", "zhv1", "iu3"])
def test_unspellable_syllables_raise(bad):
    with pytest.raises(PinyinError):
        split_syllable(bad)


def test_every_pypinyin_reading_is_spelled_with_the_inventory():
    syllables = {to_tone3(reading, neutral_tone_with_five=True)
                 for readings in pinyin_dict.values() for reading in readings.split(",")}
    assert len(syllables) > 1400
    for syllable in syllables:
        for phone in syllable_phones(syllable):
            assert phone in SYMBOLS, (syllable, phone)


# --- Normalisation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2024年", "二零二四年"), ("3.5", "三点五"), ("50%", "百分之五十"), ("-3.25%", "负百分之三点二五"),
    ("今天是2024年3月5日", "今天是二零二四年三月五日"), ("2024-03-05", "二零二四年三月五日"),
    ("12345", "一万二千三百四十五"), ("2000", "两千"), ("1,000元", "一千元"), ("3.50", "三点五零"),
    ("2个人", "两个人"), ("第2个", "第二个"), ("12个", "十二个"), ("3年", "三年"), ("10:30", "十点三十分"),
    ("8:05", "八点零五分"), ("1/2", "二分之一"), ("3~5天", "三到五天"), ("007", "零零七"),
    ("13800138000", "一三八零零一三八零零零"), ("-5", "负五"), ("¥200", "二百元"), ("36℃", "三十六摄氏度"),
    ("５０％", "百分之五十"), ("没有数字。", "没有数字。"),
])
def test_normalize(text, expected):
    assert normalize_text(text) == expected


def test_numbers_are_spoken(frontend):
    assert sounds(frontend, "2024年") == "er 4 l ing 2 er 4 s ii 4 n ian 2"
    assert sounds(frontend, "3.5") == "s an 1 d ian 2 u 3"  # 点五: third-tone sandhi
    assert sounds(frontend, "50%") == "b ai 3 f en 1 zh iii 1 u 3 sh iii 2"


# --- Tone rules (pure functions) ------------------------------------------------------------------------

@pytest.mark.parametrize("tones, levels, expected", [
    ("333", [0, 0], "223"),        # a run inside a prosodic word keeps only its last third tone
    ("3333", [0, 1, 0], "2323"),   # 给本|委员 pattern: inside each word, then across #1 from the right
    ("333", [1, 1], "323"),        # monosyllables across #1: right to left on the changed tones
    ("33", [2], "33"),             # a phrase boundary blocks sandhi
    ("33", [3], "33"),             # so does a pause
    ("353", [0, 0], "353"),        # a neutral tone breaks the run
    ("3", [], "3"),
])
def test_third_tone_sandhi(tones, levels, expected):
    assert "".join(third_tone_sandhi(list(tones), levels)) == expected


def test_third_tone_sandhi_checks_lengths():
    with pytest.raises(ValueError):
        third_tone_sandhi(["3", "3"], [])


@pytest.mark.parametrize("words, pinyins, expected", [
    ([("奶奶", "n")], [["nai3", "nai3"]], [["nai3", "nai5"]]),
    ([("人人", "n")], [["ren2", "ren2"]], [["ren2", "ren2"]]),
    ([("看看", "v")], [["kan4", "kan4"]], [["kan4", "kan5"]]),
    ([("哼哼", "v")], [["heng1", "heng1"]], [["heng1", "heng1"]]),
    ([("桌子", "n")], [["zhuo1", "zi3"]], [["zhuo1", "zi5"]]),
    ([("男子", "n")], [["nan2", "zi3"]], [["nan2", "zi3"]]),
    ([("豆腐", "n")], [["dou4", "fu3"]], [["dou4", "fu5"]]),
    ([("走", "v"), ("了", "ul")], [["zou3"], ["le5"]], [["zou3"], ["le5"]]),
    ([("好", "a"), ("的", "uj")], [["hao3"], ["de4"]], [["hao3"], ["de5"]]),
    ([("回来", "v")], [["hui2", "lai2"]], [["hui2", "lai5"]]),
    ([("行", "v"), ("吗", "y")], [["xing2"], ["ma3"]], [["xing2"], ["ma5"]]),
])
def test_neutral_tones(words, pinyins, expected):
    assert neutral_tones(words, pinyins) == expected


@pytest.mark.parametrize("word, pinyins, expected", [
    ("一个", ["yi1", "ge4"], ["yi2", "ge4"]),
    ("一天", ["yi1", "tian1"], ["yi4", "tian1"]),
    ("一起", ["yi1", "qi3"], ["yi4", "qi3"]),
    ("第一", ["di4", "yi1"], ["di4", "yi1"]),
    ("统一", ["tong3", "yi1"], ["tong3", "yi1"]),
    ("十一", ["shi2", "yi1"], ["shi2", "yi1"]),
    ("一九九零", ["yi1", "jiu3", "jiu3", "ling2"], ["yi1", "jiu3", "jiu3", "ling2"]),
    ("一百", ["yi1", "bai3"], ["yi4", "bai3"]),
    ("看一看", ["kan4", "yi1", "kan4"], ["kan4", "yi5", "kan4"]),
    ("不是", ["bu4", "shi4"], ["bu2", "shi4"]),
    ("不好", ["bu4", "hao3"], ["bu4", "hao3"]),
    ("是不是", ["shi4", "bu4", "shi4"], ["shi4", "bu5", "shi4"]),
])
def test_yi_bu_sandhi(word, pinyins, expected):
    assert yi_bu_sandhi([(word, "x")], [pinyins]) == [expected]


def test_yi_bu_sandhi_looks_into_the_next_word():
    assert yi_bu_sandhi([("不", "d"), ("去", "v")], [["bu4"], ["qu4"]]) == [["bu2"], ["qu4"]]
    assert yi_bu_sandhi([("一", "m"), ("张", "q")], [["yi1"], ["zhang1"]]) == [["yi4"], ["zhang1"]]


# --- Whole sentences ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("躲远点", "d uo 2 van 2 d ian 3"),                    # third-tone chain
    ("给本委员", "g ei 2 b en 2 uei 3 van 2"),              # sandhi across a prosodic-word boundary
    ("卡尔普", "k a 2 er 2 p u 3"),
    ("奶奶", "n ai 3 n ai 5"),                              # neutral tone of a reduplication
    ("我们的桌子", "uo 3 m en 5 d e 5 zh uo 1 z ii 5"),       # suffixes and particles
    ("一个人", "i 2 g e 4 r en 2"), ("一天", "i 4 t ian 1"), ("第一", "d i 4 i 1"),
    ("不是", "b u 2 sh iii 4"), ("不好", "b u 4 h ao 3"), ("看一看", "k an 4 i 5 k an 4"),
    ("外孙玩滑梯", "uai 4 s uen 1 uan 2 h ua 2 t i 1"),       # zero initials, un -> uen
    ("语言约会", "v 3 ian 2 ve 1 h uei 4"),
    ("我有鱼", "uo 2 iou 3 v 2"),
    ("去绿女", "q v 4 l v 4 n v 3"),                          # ü as v
    ("资次四", "z ii 1 c ii 4 s ii 4"), ("知吃是日", "zh iii 1 ch iii 1 sh iii 4 r iii 4"),
])
def test_sentence_sounds(frontend, text, expected):
    assert sounds(frontend, text) == expected


def test_erhua_is_its_own_token(frontend):
    assert phones(frontend, "遛弯儿") == "sil l iou 4 #0 uan 1 #0 xr 5 sil"
    assert sounds(frontend, "婴儿") == "ing 1 er 2"  # 儿 as a syllable of its own


@pytest.mark.parametrize("text, syllable", [
    ("银行", "h ang 2"), ("行走", "x ing 2"), ("长大", "zh ang 3"), ("这条路很长", "ch ang 2"),
    ("还是", "h ai 2"), ("他还钱了", "h uan 2"), ("音乐", "ve 4"), ("快乐", "l e 4"),
    ("重要", "zh ong 4"), ("重新", "ch ong 2"), ("都得去", "d ei 3"), ("跑得快", "d e 5"),
    ("我得到了", "d e 2"), ("以下为摘要", "uei 2"), ("他被选为班长", "uei 2"), ("为人民服务", "uei 4"),
    ("遛狗", "l iou 4"), ("他还在家", "h ai 2"), ("喷喷香", "p en 4 p en 4"), ("一月五日", "i 1 ve 4"),
])
def test_polyphones_in_context(frontend, text, syllable):
    assert f" {syllable} " in f" {sounds(frontend, text)} "


def test_marks_and_punctuation(frontend):
    line = phones(frontend, "卡尔普陪外孙玩滑梯。")
    assert line == ("sil k a 2 #0 er 2 #0 p u 3 #2 p ei 2 #0 uai 4 #0 s uen 1 #1 uan 2 #0 h ua 2 #0 t i 1 sil")
    assert phones(frontend, "你好，世界！") == "sil n i 2 #0 h ao 3 sp sh iii 4 #0 j ie 4 sil"
    assert phones(frontend, "甲、乙") == "sil j ia 3 sp i 3 sil"
    # Quotes and brackets make no mark; a run of punctuation makes one pause; none at the ends.
    assert phones(frontend, "“你好”") == "sil n i 2 #0 h ao 3 sil"
    assert phones(frontend, "……你好！！，世界。。") == "sil n i 2 #0 h ao 3 sp sh iii 4 #0 j ie 4 sil"


def test_english_words(frontend):
    assert phones(frontend, "hello world") == "sil HH AX L OW #1 W ER L D sil"
    assert sounds(frontend, "我爱NBA") == "uo 3 ai 4 EH N B IY EY"
    result = frontend.pronounce("我爱blorptastic")
    assert result.problems == ["English word 'blorptastic' is not in the CMU dictionary"]
    assert " ".join(result.phones) == "sil uo 3 #0 ai 4 sil"


def test_english_helpers():
    assert english.arpabet_phones(["HH", "AH0", "L", "OW1"]) == ["HH", "AX", "L", "OW"]
    assert english.spell("TV") == ["T", "IY", "V", "IY"]
    assert english.word_phones("don't", {"don't": [["D", "OW1", "N", "T"]]}) == ["D", "OW", "N", "T"]
    assert english.word_phones("zzyzx", {}) is None
    assert english.word_phones("ZZYZX", {}) == english.spell("ZZYZX")


def test_unsupported_characters_are_reported_and_skipped(frontend):
    result = frontend.pronounce("你好😀世界@")
    assert result.problems == ["unsupported character '😀' (U+1F600)", "unsupported character '@' (U+0040)"]
    assert " ".join(result.phones) == "sil n i 2 #0 h ao 3 #1 sh iii 4 #0 j ie 4 sil"
    nothing = frontend.pronounce("，。😀")
    assert nothing.phones == [] and nothing.problems == ["unsupported character '😀' (U+1F600)"]
    assert frontend.pronounce("。").problems == ["nothing to pronounce"]


@pytest.mark.parametrize("text", [
    "今天是2024年3月5日，天气很好。", "我们一起去看看吧！", "小朋友们在公园里玩儿。", "价格上涨了3.5%。",
    "你知道吗？他是我的好朋友。", "Hello, 世界!", "嗯，哟，哼。", "他说：“我明白了。”",
])
def test_every_phone_is_in_the_inventory_and_lines_parse(frontend, text):
    result = frontend.pronounce(text)
    assert result.phones[0] == "sil" and result.phones[-1] == "sil"
    phones_to_ids(result.phones)
    utterance = parse_label_line(frontend_lib.label_line("000001", text, result.phones))
    assert utterance.phones == result.phones and utterance.text == text
    for first, second in zip(result.phones, result.phones[1:]):
        assert not (first in MARKS[:5] and second in MARKS), result.phones  # never two marks in a row


def test_convert_numbers_sentences_in_order(frontend):
    lines, problems = frontend_lib.convert(frontend, ["你好", "😀", "a|b 世界"])
    assert [line.split("|")[0] for line in lines] == ["000001", "000003"]
    assert problems == ["000002: unsupported character '😀' (U+1F600)",
                        "000003: unsupported character '|' (U+007C)"]
    assert lines[1].split("|")[1] == "a b 世界"  # "|" cannot stay in the text field


# --- The CLI --------------------------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "text.frontend", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_prints_label_lines(tmp_path):
    process = run_cli("卡尔普陪外孙玩滑梯。", "你好😀")
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0] == ("000001|卡尔普陪外孙玩滑梯。|sil k a 2 #0 er 2 #0 p u 3 #2 p ei 2 #0 uai 4 #0 s uen 1 #1 "
                        "uan 2 #0 h ua 2 #0 t i 1 sil")
    assert lines[1] == "000002|你好😀|sil n i 2 #0 h ao 3 sil"
    assert process.stderr.strip() == "error: 000002: unsupported character '😀' (U+1F600) (skipped)"

    sentences = tmp_path / "sentences.txt"
    sentences.write_text("你好\n\n世界。\n", encoding="utf-8")
    process = run_cli(f"--input_file={sentences}")
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == ["000001|你好|sil n i 2 #0 h ao 3 sil",
                                           "000002|世界。|sil sh iii 4 #0 j ie 4 sil"]
    labels = tmp_path / "labels.lab"
    labels.write_text(process.stdout, encoding="utf-8")
    assert [u.utt_id for u in map(parse_label_line, labels.read_text(encoding="utf-8").splitlines())] == [
        "000001", "000002"]


def test_cli_errors(tmp_path):
    process = run_cli()
    assert process.returncode != 0 and "give one or more sentences" in process.stderr
    missing = tmp_path / "missing.txt"
    process = run_cli(f"--input_file={missing}")
    assert process.returncode == 1 and process.stderr.startswith(f"error: {missing}: cannot read")
    process = run_cli("。")
    assert process.returncode == 1 and process.stdout == ""
    assert os.path.isfile(os.path.join(ROOT, "text", "frontend.py"))


# --- Prosodic structure ---------------------------------------------------------------------------------

@pytest.mark.parametrize("words, groups", [
    ([("都", "d"), ("得", "v"), ("躲", "v"), ("远", "a"), ("点", "q")], [[0, 1], [2, 3, 4]]),  # mono runs
    ([("好", "a"), ("的", "uj"), ("朋友", "n")], [[0, 1], [2]]),                                   # particles
    ([("陪", "v"), ("外孙", "n")], [[0, 1]]),                                                       # verb + object
    ([("拥抱", "v"), ("我", "r")], [[0, 1]]),                                                       # pronoun object
    ([("与", "p"), ("撒切尔", "nrt")], [[0], [1]]),                                                 # prepositions
    ([("不", "d"), ("喜欢", "v")], [[0, 1]]),                                                       # negation
])
def test_prosodic_words(words, groups):
    counts = [len(word) for word, _ in words]
    assert prosody.group_words(words, counts) == groups


def test_prosodic_levels():
    words = [("邓小平", "nr"), ("与", "p"), ("撒切尔", "nrt"), ("会晤", "v")]
    assert prosody.group_levels(words, [[0], [1], [2], [3]]) == [prosody.PHRASE, prosody.WORD, prosody.WORD]
    words = [("卡尔普", "nr"), ("陪", "v"), ("外孙", "n")]
    assert prosody.clause_levels(words, [3, 1, 2]) == [0, 0, prosody.PHRASE, 0, 0]
    assert prosody.clause_levels([("你", "r")], [1]) == []
