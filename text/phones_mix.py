"""The course's phone inventory (`text/phones_mix.py` of the course): 114 symbols in the course's order.

Our id of a symbol is the course's id plus one: id 0 is reserved for padding and names no phone. (The
course pads with 0, which is also its id of "n", so a padded batch there reads as a run of "n"; we do not
copy that.) `NUM_IDS` (115) is the embedding table size; `SYMBOLS[k]` has id k + 1.

The inventory holds 21 Mandarin initials, 38 finals in the course's spelling ("ii" after z/c/s, "iii" after
zh/ch/sh/r, "v*" for ü, zero-initial syllables without y/w), "xr" (erhua), "u3", tones "1"-"6", prosody
marks "#0"-"#3", "sil", "sp", the end-of-sequence mark "~" and 40 upper-case ARPAbet phones.
"""

EOS = "~"
PAD_ID = 0

# Course ids 0..113, in order (course id = position).
SYMBOLS = (
    "n", "s", "ER", "iong", "AE", "HH", "h", "S", "JH", "AY", "W", "DH", "SH", "5", "4", "t", "AA", "c",
    "EY", "j", "ian", "x", "uan", "ou", "T", "l", "UH", "6", "D", "#3", "e", "sh", "#0", "ang", "ong", "in",
    "iao", "ing", "IH", "2", "z", "van", "uei", "ei", "AW", "i", "#1", "ch", "OW", "iang", "eng", "g", "ve",
    "K", "M", "P", "ie", "AH", "Z", "sp", "q", "N", "sil", "AO", "Y", "f", "uai", "k", "G", "uo", "#2", "F",
    "ZH", "OY", "r", "m", "b", "o", "iou", "1", "zh", "ao", "EH", "B", "V", "3", "uang", "er", "CH", "d",
    "UW", "en", "AX", "a", "xr", "iii", "ua", "TH", "ueng", "ia", "NG", "R", "v", "an", "L", "u", "ai", "ii",
    "p", "IY", "uen", "vn", "~", "u3",
)
NUM_IDS = len(SYMBOLS) + 1

INITIALS = ("b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
            "j", "q", "x", "zh", "ch", "sh", "r", "z", "c", "s")
FINALS = ("a", "ai", "an", "ang", "ao", "e", "ei", "en", "eng", "er", "o", "ong", "ou",
          "i", "ia", "ian", "iang", "iao", "ie", "in", "ing", "iong", "iou", "ii", "iii",
          "u", "ua", "uai", "uan", "uang", "uei", "uen", "ueng", "uo",
          "v", "van", "ve", "vn")
TONES = ("1", "2", "3", "4", "5", "6")
PROSODY_MARKS = ("#0", "#1", "#2", "#3")
SILENCES = ("sil", "sp")
ERHUA = "xr"
ARPABET = tuple(symbol for symbol in SYMBOLS if symbol.isalpha() and symbol.isupper())

_SYMBOL_TO_ID = {symbol: index + 1 for index, symbol in enumerate(SYMBOLS)}
_ID_TO_SYMBOL = {index: symbol for symbol, index in _SYMBOL_TO_ID.items()}


class UnknownPhoneError(ValueError):
    """A phone symbol that is not in the inventory."""

    def __init__(self, symbol):
        super().__init__(f"unknown phone symbol {symbol!r}")
        self.symbol = symbol


def symbol_id(symbol):
    """The id of one symbol (course id + 1). Raises UnknownPhoneError."""
    if symbol not in _SYMBOL_TO_ID:
        raise UnknownPhoneError(symbol)
    return _SYMBOL_TO_ID[symbol]


def phones_to_ids(phones, append_eos=True):
    """Maps phone symbols to ids; appends the end-of-sequence id unless the list already ends with it.

    Args:
        phones: sequence of phone symbols, e.g. ["sil", "n", "i", "3", "sil"].
        append_eos: add "~" at the end (the course's `label_to_sequence` always does).
    Returns:
        list of int ids (never 0).
    Raises:
        UnknownPhoneError naming the first symbol not in the inventory.
    """
    ids = [symbol_id(symbol) for symbol in phones]
    eos_id = _SYMBOL_TO_ID[EOS]
    if append_eos and (not ids or ids[-1] != eos_id):
        ids.append(eos_id)
    return ids


def ids_to_phones(ids):
    """Inverse of `phones_to_ids`; padding ids are dropped."""
    return [_ID_TO_SYMBOL[int(i)] for i in ids if int(i) != PAD_ID]
