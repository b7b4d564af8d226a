"""The course's phone inventory (114 symbols) and the phone <-> id mapping.

Ids are stable: they are the position in `SYMBOLS` plus one, because id 0 is reserved for padding and
never names a phone (a padded batch therefore cannot be mistaken for a sequence of real phones).

    id 0        padding (PAD_ID; not in SYMBOLS)
    id 1        "~"  end of sequence, appended to every utterance
    ids 2-3     "sil", "sp"          silence, short pause
    ids 4-7     "#0" ... "#3"        prosodic boundary marks
    ids 8-13    "1" ... "6"          tones (6 = neutral/light variants used by some front ends)
    ids 14-34   21 Mandarin initials
    ids 35-73   39 Mandarin finals (course spelling: "ii" after z/c/s, "iii" after zh/ch/sh/r, "v*" for ü)
    ids 74-75   "xr" (erhua), "u3"
    ids 76-114  39 ARPAbet phones (upper case), for English words inside Mandarin text

`NUM_IDS` (115) is the embedding table size.
"""

EOS = "~"
PAD_ID = 0

_SPECIAL = ["~", "sil", "sp"]
_PROSODY = ["#0", "#1", "#2", "#3"]
_TONES = ["1", "2", "3", "4", "5", "6"]
INITIALS = ["b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
            "j", "q", "x", "zh", "ch", "sh", "r", "z", "c", "s"]
FINALS = ["a", "ai", "an", "ang", "ao", "e", "ei", "en", "eng", "er", "o", "ong", "ou",
          "i", "ia", "ian", "iang", "iao", "ie", "in", "ing", "io", "iong", "iou", "ii", "iii",
          "u", "ua", "uai", "uan", "uang", "uei", "uen", "ueng", "uo",
          "v", "van", "ve", "vn"]
_EXTRA = ["xr", "u3"]
ARPABET = ["AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
           "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH",
           "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH"]

SYMBOLS = tuple(_SPECIAL + _PROSODY + _TONES + INITIALS + FINALS + _EXTRA + ARPABET)
TONES = tuple(_TONES)
PROSODY_MARKS = tuple(_PROSODY)
NUM_IDS = len(SYMBOLS) + 1

_SYMBOL_TO_ID = {symbol: index + 1 for index, symbol in enumerate(SYMBOLS)}
_ID_TO_SYMBOL = {index: symbol for symbol, index in _SYMBOL_TO_ID.items()}


class UnknownPhoneError(ValueError):
    """A phone symbol that is not in the inventory."""

    def __init__(self, symbol):
        super().__init__(f"unknown phone symbol {symbol!r}")
        self.symbol = symbol


def phones_to_ids(phones, append_eos=True):
    """Maps phone symbols to ids; appends the end-of-sequence id unless the list already ends with it.

    Args:
        phones: sequence of phone symbols, e.g. ["sil", "n", "i", "3", "sil"].
        append_eos: add "~" at the end.
    Returns:
        list of int ids (never 0).
    Raises:
        UnknownPhoneError naming the first symbol not in the inventory.
    """
    ids = []
    for symbol in phones:
        if symbol not in _SYMBOL_TO_ID:
            raise UnknownPhoneError(symbol)
        ids.append(_SYMBOL_TO_ID[symbol])
    if append_eos and (not ids or ids[-1] != _SYMBOL_TO_ID[EOS]):
        ids.append(_SYMBOL_TO_ID[EOS])
    return ids


def ids_to_phones(ids):
    """Inverse of `phones_to_ids`; padding ids are dropped."""
    return [_ID_TO_SYMBOL[int(i)] for i in ids if int(i) != PAD_ID]


def symbol_id(symbol):
    """The id of one symbol (raises UnknownPhoneError)."""
    if symbol not in _SYMBOL_TO_ID:
        raise UnknownPhoneError(symbol)
    return _SYMBOL_TO_ID[symbol]
