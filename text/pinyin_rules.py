"""Pinyin syllables (pypinyin's TONE3 style, "zhuang1", "lv4", "er5") in the course's phone spelling.

The course writes a syllable as an initial (possibly none), a final and a tone, each its own token:
`zhuang1` -> `zh uang 1`. Its finals are the full ("underlying") forms, with y/w removed from zero-initial
syllables and ü written v:

    yi -> i, ya -> ia, yan -> ian, you -> iou, yu -> v, yue -> ve, yuan -> van, yun -> vn,
    wu -> u, wa -> ua, wai -> uai, wei -> uei, wen -> uen, weng -> ueng, wo -> uo,
    ju qu xu -> j v, q v, x v (ü after j q x), lü nü -> l v, n v,
    ui -> uei, un -> uen, iu -> iou (after an initial),
    zi ci si -> ii, zhi chi shi ri -> iii.

Interjections outside the standard syllable table are mapped to the nearest course syllable: `yo` -> `iou`,
`ê` -> `e`, the syllabic nasals `n`, `ng` -> `en`, `m` -> `m u`, `hm` -> `h en`, `hng` -> `h eng`.
The pseudo-syllable `r5` (see ERHUA_PINYIN) is the erhua token `xr 5`.
"""
from text.phones_mix import ERHUA
from text.phones_mix import FINALS
from text.phones_mix import INITIALS

# Erhua as a syllable of its own: "遛弯儿" -> liu4 wan1 r5 -> "l iou 4 #0 uan 1 #0 xr 5".
ERHUA_PINYIN = "r5"
NEUTRAL_TONE = "5"

# Two-letter initials first, so that "zh" is not read as "z".
_INITIALS_LONGEST_FIRST = tuple(sorted(INITIALS, key=len, reverse=True))

# Zero-initial syllables (no tone) -> course final.
_ZERO_INITIAL = {
    "yi": "i", "ya": "ia", "yo": "iou", "yao": "iao", "ye": "ie", "you": "iou", "yan": "ian", "yin": "in",
    "yang": "iang", "ying": "ing", "yong": "iong", "yu": "v", "yue": "ve", "yuan": "van", "yun": "vn",
    "wu": "u", "wa": "ua", "wo": "uo", "wai": "uai", "wei": "uei", "wan": "uan", "wen": "uen",
    "wang": "uang", "weng": "ueng", "wong": "ueng",
}
# Syllables outside the standard table (no tone) -> (initial, final).
_SPECIAL = {
    "n": ("", "en"), "ng": ("", "en"), "m": ("m", "u"), "hm": ("h", "en"), "hng": ("h", "eng"),
    "ê": ("", "e"),
}
# Abbreviated finals after an initial.
_FINAL_SPELLING = {"ui": "uei", "un": "uen", "iu": "iou"}


class PinyinError(ValueError):
    """A string that is not a pinyin syllable in TONE3 style."""


def split_syllable(syllable):
    """Splits a TONE3 syllable into (initial, final, tone) in the course's spelling.

    Args:
        syllable: e.g. "zhuang1", "lv4", "lü4", "yuan2", "shi5", "er2", "ju3"; a missing tone digit is the
            neutral tone 5. ERHUA_PINYIN ("r5") gives ("", "xr", "5").
    Returns:
        (initial, final, tone): initial "" for zero-initial syllables, e.g. ("", "van", "2").
    Raises:
        PinyinError naming the syllable when it cannot be spelled with the course's phones.
    """
    text = syllable.strip().lower().replace("ü", "v").replace("u:", "v")
    tone = NEUTRAL_TONE
    if text and text[-1] in "012345":
        text, tone = text[:-1], text[-1]
        if tone == "0":
            tone = NEUTRAL_TONE
    if not text:
        raise PinyinError(f"not a pinyin syllable: {syllable!r}")
    if syllable.strip().lower() == ERHUA_PINYIN or text == "r":
        return "", ERHUA, tone
    if text in _SPECIAL:
        initial, final = _SPECIAL[text]
        return initial, final, tone
    if text in _ZERO_INITIAL:
        return "", _ZERO_INITIAL[text], tone
    initial = next((candidate for candidate in _INITIALS_LONGEST_FIRST if text.startswith(candidate)), "")
    final = text[len(initial):]
    if initial in ("j", "q", "x") and final.startswith("u"):
        final = "v" + final[1:]
    final = _FINAL_SPELLING.get(final, final) if initial else final
    if final == "i" and initial in ("z", "c", "s"):
        final = "ii"
    elif final == "i" and initial in ("zh", "ch", "sh", "r"):
        final = "iii"
    if final.startswith("v") and initial not in ("j", "q", "x", "n", "l"):
        raise PinyinError(f"cannot spell pinyin {syllable!r} with the course's phones")
    if final not in FINALS or (initial == "" and text not in FINALS):
        raise PinyinError(f"cannot spell pinyin {syllable!r} with the course's phones")
    return initial, final, tone


def syllable_phones(syllable):
    """The phone tokens of one syllable: "zhuang1" -> ["zh", "uang", "1"], "an4" -> ["an", "4"]."""
    initial, final, tone = split_syllable(syllable)
    return [initial, final, tone] if initial else [final, tone]


def tone_of(syllable):
    """The tone digit of a TONE3 syllable ("5" when it has none)."""
    return syllable[-1] if syllable and syllable[-1] in "12345" else NEUTRAL_TONE


def with_tone(syllable, tone):
    """The syllable with its tone digit replaced: with_tone("hao3", "2") == "hao2"."""
    base = syllable[:-1] if syllable and syllable[-1] in "012345" else syllable
    return base + str(tone)
