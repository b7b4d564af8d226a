"""Course label parsing and the phone inventory."""
import glob
import os

import pytest

from conftest import BIAOBEI_SAMPLE
from text import labels
from text import phones_mix as symbols


# Ids in the course's text/phones_mix.py (phone_to_id), read off that file.
COURSE_IDS = {"n": 0, "s": 1, "ER": 2, "iong": 3, "h": 6, "5": 13, "#3": 29, "#0": 32, "i": 45, "#1": 46,
              "sp": 59, "sil": 62, "#2": 70, "1": 79, "ao": 81, "3": 85, "AX": 92, "a": 93, "xr": 94,
              "iii": 95, "v": 102, "ii": 107, "vn": 111, "~": 112, "u3": 113}


def test_inventory_is_the_course_114_with_padding_reserved():
    assert len(symbols.SYMBOLS) == 114 == len(set(symbols.SYMBOLS))
    assert symbols.NUM_IDS == 115
    assert symbols.PAD_ID == 0
    assert "io" not in symbols.SYMBOLS and "AX" in symbols.ARPABET and len(symbols.ARPABET) == 40
    groups = (symbols.INITIALS + symbols.FINALS + symbols.TONES + symbols.PROSODY_MARKS + symbols.SILENCES
              + symbols.ARPABET + (symbols.ERHUA, "u3", symbols.EOS))
    assert sorted(groups) == sorted(symbols.SYMBOLS)


def test_ids_are_the_course_ids_plus_one():
    # Changing these breaks every trained checkpoint: the order is part of the model format.
    for symbol, course_id in COURSE_IDS.items():
        assert symbols.symbol_id(symbol) == course_id + 1, symbol
    assert symbols.phones_to_ids("sil n i 3 #0 h ao 3 sil".split()) == [63, 1, 46, 86, 33, 7, 82, 86, 63, 113]


def test_round_trip_and_eos():
    ids = symbols.phones_to_ids(["sil", "a", "1", "sil"])
    assert ids[-1] == symbols.symbol_id("~") and 0 not in ids
    assert symbols.ids_to_phones(ids + [0, 0]) == ["sil", "a", "1", "sil", "~"]
    assert symbols.phones_to_ids(["a", "~"]) == [symbols.symbol_id("a"), 113]


def test_parse_line():
    utt = labels.parse_label_line("000001|卡尔。|sil k a 2 #0 er 2 sil ")
    assert utt == labels.Utterance("000001", "卡尔。", ["sil", "k", "a", "2", "#0", "er", "2", "sil"])


@pytest.mark.parametrize("line, message", [
    ("", "empty label"),
    ("000001|text", "malformed label"),
    ("|text|sil a 1 sil", "empty utterance id"),
    ("000001|text|   ", "no phones"),
    ("000001|text|sil a 1 qq sil", "unknown phone symbol 'qq'"),
])
def test_bad_lines(line, message):
    with pytest.raises(labels.LabelError, match=message) as info:
        labels.parse_label_line(line, source="x.lab")
    assert str(info.value).startswith("x.lab: ")


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.lab"
    empty.write_text("\n")
    with pytest.raises(labels.LabelError, match="empty.lab: empty label"):
        labels.read_label_file(str(empty))
    binary = tmp_path / "binary.lab"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(labels.LabelError, match="binary.lab: not UTF-8"):
        labels.read_label_file(str(binary))


@pytest.mark.skipif(not os.path.isdir(BIAOBEI_SAMPLE), reason="Biaobei sample not present")
def test_biaobei_sample_labels_parse():
    paths = sorted(glob.glob(os.path.join(BIAOBEI_SAMPLE, "labels", "*.lab")))
    assert len(paths) == 50
    for path in paths:
        (utt,) = labels.read_label_file(path)
        assert utt.utt_id == os.path.basename(path)[:-4]
        assert utt.phones[0] == "sil" and utt.phones[-1] == "sil"
