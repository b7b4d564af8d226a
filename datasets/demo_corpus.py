"""A generated Mandarin-like corpus in the course layout, so the whole pipeline runs with no download.

    python -m datasets.demo_corpus --out_dir D --num_utterances 200 --seed 1 --min_phones 30 --max_phones 50

writes
    D/labels/<id>.lab   one line `id|text|phones` (ids `demo_00001`, ...; text = the pinyin syllables)
    D/wavs/<id>.wav     16 kHz mono 16-bit PCM, exactly sum(durations) * hop_size samples
    D/durations.txt     one line per utterance `id|d1 d2 ... dn`: mel frames of each phone token, in order
    D/README.txt        how the corpus was made (command and seed)

Phones: `sil` + syllables + `sil`; a syllable is (optional initial) final tone, followed by a prosody mark
(#0 mostly, #1/#2 sometimes) or occasionally `sp`; the last syllable may carry `#3`. Only Mandarin
symbols are used. The token count (everything, sil/tones/marks included) lies in [min_phones, max_phones].

Audio is built to be learnable quickly, not realistic: every token lasts a whole number of mel frames
drawn from a per-class range (`duration_range`) and has its own spectral envelope that depends only on
the symbol (never on the seed): finals and m/n/l/r are a harmonic source at a fixed pitch through
symbol-specific formants, other initials are symbol-specific band noise, a tone continues its final's
spectrum with a tone-specific pitch glide, and sil/sp/#0-#3 are a soft noise floor 18 dB below the
vowels, so `librosa.effects.trim(top_db=30)` finds nothing to cut and the durations stay valid after
preprocessing. Tokens are filtered in the STFT domain with 4 ms crossfades, then peak-normalised to 0.9.
"""
import os

import librosa
import numpy as np
from absl import app
from absl import flags
from absl import logging

from datasets import fileio
from tacotron.cli import fail

BASE_F0 = 160.0
PEAK = 0.9
DEMO_TONES = ("1", "2", "3", "4", "5")
_TONE_PROBS = (0.22, 0.24, 0.20, 0.26, 0.08)
_MARKS = ("#0", "#1", "#2", "sp")
_MARK_PROBS = (0.62, 0.16, 0.14, 0.08)
_INITIAL_PROB = 0.8
_SILENCE_LIKE = ("sil", "sp", "#0", "#1", "#2", "#3")
_FLOOR_DB = -18.0
# Synthesis STFT (independent of the feature hop): short window for sharp token boundaries.
_SYN_N_FFT = 512
_SYN_WIN = 256
_SYN_HOP = 64

# Pseudo-vowels: formants (Hz, relative amplitude).
_VOWELS = {
    "a": ((850, 1.0), (1300, 0.6), (2800, 0.3)), "a_front": ((850, 1.0), (1600, 0.6), (2800, 0.3)),
    "a_back": ((760, 1.0), (1100, 0.7), (2700, 0.25)), "o": ((550, 1.0), (880, 0.6), (2700, 0.2)),
    "U": ((440, 1.0), (950, 0.5), (2500, 0.2)), "e": ((520, 1.0), (1200, 0.5), (2850, 0.3)),
    "E": ((430, 1.0), (2050, 0.45), (2750, 0.35)), "E_open": ((620, 1.0), (1850, 0.5), (2700, 0.3)),
    "schwa": ((560, 1.0), (1450, 0.5), (2700, 0.3)), "schwa_back": ((540, 1.0), (1050, 0.5), (2650, 0.25)),
    "er": ((540, 1.0), (1450, 0.6), (1750, 0.55)), "i": ((290, 1.0), (2350, 0.45), (3250, 0.4)),
    "u": ((320, 1.0), (720, 0.5), (2550, 0.12)), "v": ((300, 1.0), (1900, 0.5), (2400, 0.35)),
    "ii": ((380, 1.0), (1450, 0.45), (2950, 0.4)), "iii": ((400, 1.0), (1750, 0.5), (2150, 0.45)),
    "m": ((240, 1.0), (1150, 0.12), (2400, 0.06)), "n": ((250, 1.0), (1650, 0.12), (2650, 0.08)),
    "l": ((360, 1.0), (1250, 0.45), (2950, 0.3)), "r": ((460, 1.0), (1250, 0.55), (1650, 0.5)),
}
# Finals: (nucleus vowel, medial, offglide, coda); "" = none. The parts reshape the nucleus (_final_power).
_FINALS = {
    "a": ("a", "", "", ""), "ai": ("a", "", "i", ""), "an": ("a_front", "", "", "n"),
    "ang": ("a_back", "", "", "ng"), "ao": ("a_back", "", "u", ""), "e": ("e", "", "", ""),
    "ei": ("E", "", "i", ""), "en": ("schwa", "", "", "n"), "eng": ("schwa_back", "", "", "ng"),
    "er": ("er", "", "", ""), "o": ("o", "", "", ""), "ong": ("U", "", "", "ng"), "ou": ("o", "", "u", ""),
    "i": ("i", "", "", ""), "ia": ("a", "i", "", ""), "ian": ("E_open", "i", "", "n"),
    "iang": ("a_back", "i", "", "ng"), "iao": ("a_back", "i", "u", ""), "ie": ("E_open", "i", "", ""),
    "in": ("i", "", "", "n"), "ing": ("i", "", "", "ng"),
    "iong": ("U", "v", "", "ng"), "iou": ("o", "i", "u", ""), "ii": ("ii", "", "", ""),
    "iii": ("iii", "", "", ""), "u": ("u", "", "", ""), "ua": ("a", "u", "", ""),
    "uai": ("a", "u", "i", ""), "uan": ("a_front", "u", "", "n"), "uang": ("a_back", "u", "", "ng"),
    "uei": ("E", "u", "i", ""), "uen": ("schwa", "u", "", "n"), "ueng": ("schwa_back", "u", "", "ng"),
    "uo": ("o", "u", "", ""), "v": ("v", "", "", ""), "van": ("E_open", "v", "", "n"),
    "ve": ("E_open", "v", "", ""), "vn": ("v", "", "", "n"),
}
# Medial glides shift the nucleus: (F1 factor, F2 shift Hz, F3 shift Hz).
_MEDIALS = {"i": (0.9, 300.0, 0.0), "u": (0.9, -300.0, -100.0), "v": (0.95, 150.0, -250.0)}
# Offglides shift F2 and add a weak extra resonance: (F2 shift Hz, (Hz, amplitude)).
_OFFGLIDES = {"i": (150.0, (2450.0, 0.35)), "u": (-150.0, (380.0, 0.8))}
# Nasal codas: (murmur resonance (Hz, amplitude), anti-resonance Hz, F2 shift Hz); F1 is damped.
_CODAS = {"n": ((250.0, 0.8), 1700.0, 100.0), "ng": ((270.0, 0.8), 2700.0, -200.0)}
# Initials: ("voiced", pseudo-vowel, level dB) or ("noise", ((low Hz, high Hz, amplitude), ...), level dB).
_INITIAL_SOUNDS = {
    "m": ("voiced", "m", -8.0), "n": ("voiced", "n", -8.0), "l": ("voiced", "l", -6.0),
    "r": ("voiced", "r", -6.0), "b": ("noise", ((300, 1500, 1.0),), -16.0),
    "d": ("noise", ((3000, 5000, 1.0),), -16.0),
    "g": ("noise", ((1200, 2400, 1.0),), -16.0), "j": ("noise", ((2500, 4500, 1.0),), -14.0),
    "zh": ("noise", ((1800, 3200, 1.0),), -14.0), "z": ("noise", ((4500, 7500, 1.0),), -14.0),
    "p": ("noise", ((300, 1500, 1.0), (1500, 5000, 0.4)), -9.0),
    "t": ("noise", ((3000, 6500, 1.0), (800, 2500, 0.4)), -9.0),
    "k": ("noise", ((1000, 3000, 1.0), (3000, 6000, 0.3)), -9.0),
    "q": ("noise", ((2600, 5000, 1.0), (800, 2000, 0.4)), -8.0),
    "ch": ("noise", ((1800, 4500, 1.0), (600, 1500, 0.4)), -8.0),
    "c": ("noise", ((4500, 8000, 1.0), (1000, 3000, 0.4)), -8.0),
    "f": ("noise", ((1000, 8000, 1.0),), -16.0), "h": ("noise", ((500, 2500, 1.0),), -10.0),
    "x": ("noise", ((3500, 7000, 1.0),), -8.0), "sh": ("noise", ((2200, 4500, 1.0),), -7.0),
    "s": ("noise", ((5000, 8000, 1.0),), -8.0),
}
# Tones: level (dB) and pitch glide as (times in [0, 1], f0 in Hz), starting at the final's BASE_F0.
_TONE_SOUNDS = {
    "1": (0.0, ((0.0, 0.3, 1.0), (BASE_F0, 205.0, 205.0))),
    "2": (-1.0, ((0.0, 0.3, 1.0), (BASE_F0, 145.0, 230.0))),
    "3": (-4.0, ((0.0, 0.5, 1.0), (BASE_F0, 110.0, 115.0))),
    "4": (0.0, ((0.0, 0.25, 1.0), (BASE_F0, 215.0, 110.0))),
    "5": (-6.0, ((0.0, 1.0), (BASE_F0, 145.0))),
}


def duration_range(symbol):
    """Inclusive (min, max) mel frames of one token of this symbol."""
    if symbol in _INITIAL_SOUNDS:
        return (3, 5)
    if symbol in _FINALS:
        return (6, 10)
    if symbol in _TONE_SOUNDS:
        return (2, 3)
    ranges = {"#0": (1, 1), "#1": (2, 2), "#2": (3, 4), "#3": (4, 5), "sp": (4, 6), "sil": (6, 10)}
    if symbol not in ranges:
        raise ValueError(f"symbol {symbol!r} is not used by the demo corpus")
    return ranges[symbol]


def _initials_for(final):
    """Initials that may precede `final` (a plausible subset of Mandarin phonotactics)."""
    if final == "ii":
        return ("z", "c", "s")
    if final == "iii":
        return ("zh", "ch", "sh", "r")
    if final == "er":
        return ()
    front = final[0] in "iv"

    def allowed(initial):
        if initial in ("j", "q", "x"):
            return front
        if initial in ("z", "c", "s", "zh", "ch", "sh", "r", "g", "k", "h"):
            return not front
        if initial in ("b", "p", "m", "f"):
            return final[0] not in "uv" or final == "u"
        return final[0] != "v" or initial in ("n", "l")

    return tuple(initial for initial in _INITIAL_SOUNDS if allowed(initial))


def syllable_table():
    """(finals that take an initial, finals that stand alone, {final: allowed initials})."""
    initials = {final: _initials_for(final) for final in _FINALS}
    with_initial = tuple(final for final in _FINALS if initials[final])
    alone = tuple(final for final in _FINALS if final not in ("ii", "iii"))
    return with_initial, alone, initials


def _syllable(rng, table, has_initial):
    """([initial] final tone tokens, pinyin like 'ka2')."""
    with_initial, alone, initials = table
    finals = with_initial if has_initial else alone
    final = finals[rng.integers(len(finals))]
    initial = initials[final][rng.integers(len(initials[final]))] if has_initial else ""
    tone = DEMO_TONES[rng.choice(len(DEMO_TONES), p=_TONE_PROBS)]
    tokens = ([initial] if initial else []) + [final, tone]
    return tokens, f"{initial}{final}{tone}"


def random_phones(rng, min_phones, max_phones, table):
    """One seeded phone sequence (list of str) and its pinyin text; len in [min_phones, max_phones]."""
    remaining = int(rng.integers(min_phones, max_phones + 1)) - 2
    tokens, words = [], []
    while remaining > 4:
        size = 4 if rng.random() < _INITIAL_PROB and remaining - 4 >= 2 else 3
        syllable, word = _syllable(rng, table, has_initial=size == 4)
        mark = _MARKS[rng.choice(len(_MARKS), p=_MARK_PROBS)]
        tokens += syllable + [mark]
        words.append(word + ("," if mark == "sp" else ""))
        remaining -= size
    # The last syllable fills the remaining 2 (final tone), 3 (+ initial or #3) or 4 (+ both) tokens.
    has_initial = remaining == 4 or (remaining == 3 and rng.random() < _INITIAL_PROB)
    syllable, word = _syllable(rng, table, has_initial=has_initial)
    tokens += syllable + (["#3"] if remaining - len(syllable) == 1 else [])
    words.append(word + ".")
    return ["sil"] + tokens + ["sil"], " ".join(words)


def _formant_power(freqs, formants):
    """Sum of Lorentzian resonances at freqs [F] (power)."""
    power = np.zeros_like(freqs)
    for centre, amplitude in formants:
        bandwidth = 70.0 + 0.06 * centre
        power += amplitude ** 2 / (1.0 + ((freqs - centre) / (0.5 * bandwidth)) ** 2)
    return power


def _final_power(freqs, final):
    """Power envelope [F] of a final: its nucleus reshaped by medial, offglide and nasal coda."""
    nucleus, medial, offglide, coda = _FINALS[final]
    (f1, a1), (f2, a2), (f3, a3) = _VOWELS[nucleus]
    extra = []
    if medial:
        factor, shift2, shift3 = _MEDIALS[medial]
        f1, f2, f3 = f1 * factor, f2 + shift2, f3 + shift3
    if offglide:
        f2 += _OFFGLIDES[offglide][0]
        extra.append(_OFFGLIDES[offglide][1])
    if coda:
        a1, f2 = 0.7 * a1, f2 + _CODAS[coda][2]
        extra.append(_CODAS[coda][0])
    power = _formant_power(freqs, [(f1, a1), (f2, a2), (f3, a3)] + extra)
    if coda:
        power *= 1.0 - 0.9 / (1.0 + ((freqs - _CODAS[coda][1]) / 250.0) ** 2)
    return power


def _band_power(freqs, bands):
    """Sum of smooth band-pass shapes at freqs [F] (power)."""
    power = np.zeros_like(freqs)
    for low, high, amplitude in bands:
        centre, half = 0.5 * (low + high), 0.5 * (high - low)
        power += amplitude ** 2 / (1.0 + ((freqs - centre) / half) ** 6)
    return power


def _normalised(power, level_db):
    """Amplitude envelope with mean power 10 ** (level_db / 10) over the bins."""
    power = power + 1e-4 * np.max(power)
    return np.sqrt(power / np.mean(power)) * 10.0 ** (level_db / 20.0)


def symbol_envelopes(sample_rate):
    """{symbol: (voiced [F], noise [F])} amplitude envelopes on the synthesis FFT grid (symbol-only)."""
    freqs = np.linspace(0.0, sample_rate / 2.0, _SYN_N_FFT // 2 + 1)
    zero = np.zeros_like(freqs)
    envelopes = {}
    for final in _FINALS:
        envelopes[final] = (_normalised(_final_power(freqs, final), 0.0), zero)
    for initial, (kind, spec, level_db) in _INITIAL_SOUNDS.items():
        if kind == "voiced":
            envelopes[initial] = (_normalised(_formant_power(freqs, _VOWELS[spec]), level_db), zero)
        else:
            envelopes[initial] = (zero, _normalised(_band_power(freqs, spec), level_db))
    floor = _normalised(1.0 / (1.0 + freqs / 500.0), _FLOOR_DB)
    for symbol in _SILENCE_LIKE:
        envelopes[symbol] = (zero, floor)
    return envelopes


def _pitch(phones, lengths, sample_rate):
    """f0 per sample [N] in Hz: BASE_F0 except the tone glides, smoothed over 5 ms."""
    pieces = []
    for symbol, length in zip(phones, lengths):
        if symbol in _TONE_SOUNDS:
            times, values = _TONE_SOUNDS[symbol][1]
            pieces.append(np.interp(np.linspace(0.0, 1.0, length), times, values))
        else:
            pieces.append(np.full(length, BASE_F0))
    f0 = np.concatenate(pieces)
    width = max(1, int(0.005 * sample_rate))
    padded = np.pad(f0, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _pulse_train(f0, sample_rate):
    """Band-limited harmonic source [N] with unit variance: harmonics of f0 [N] below 0.475 sr."""
    phase = np.mod(2.0 * np.pi * np.cumsum(f0) / sample_rate, 2.0 * np.pi)
    count = np.maximum(1.0, np.floor(0.475 * sample_rate / f0))
    denominator = 2.0 * np.sin(0.5 * phase)
    safe = np.abs(denominator) > 1e-9
    kernel = np.where(safe, np.sin((count + 0.5) * phase) / np.where(safe, denominator, 1.0) - 0.5, count)
    return kernel * np.sqrt(2.0 / count)


def synthesize(phones, durations, rng, envelopes, sample_rate, hop_size):
    """Renders one utterance.

    Args:
        phones: list of n symbols.
        durations: n positive ints, mel frames per token.
        rng: numpy Generator, draws the noise source.
        envelopes: `symbol_envelopes(sample_rate)`.
        sample_rate, hop_size: Hz and samples per mel frame.
    Returns:
        wav [sum(durations) * hop_size] float32 with peak PEAK.
    """
    lengths = np.asarray(durations, dtype=np.int64) * hop_size
    total = int(lengths.sum())
    voiced_env, noise_env = [], []
    for index, symbol in enumerate(phones):
        if symbol in _TONE_SOUNDS:  # continues the final before it, at the tone's level
            gain = 10.0 ** (_TONE_SOUNDS[symbol][0] / 20.0)
            voiced_env.append(voiced_env[index - 1] * gain)
            noise_env.append(noise_env[index - 1] * gain)
        else:
            voiced_env.append(envelopes[symbol][0])
            noise_env.append(envelopes[symbol][1])
    f0 = _pitch(phones, lengths, sample_rate)
    stft = dict(n_fft=_SYN_N_FFT, hop_length=_SYN_HOP, win_length=_SYN_WIN, window="hann", center=True)
    voiced = librosa.stft(_pulse_train(f0, sample_rate), **stft)  # [F, T]
    noise = librosa.stft(rng.standard_normal(total), **stft)
    # Token weights at the frame centres: trapezoids with _SYN_HOP-sample linear crossfades.
    centres = np.arange(voiced.shape[1])[:, None] * _SYN_HOP
    ends = np.cumsum(lengths)[None, :]
    starts = ends - lengths[None, :]
    weights = (np.clip((centres - starts) / _SYN_HOP + 0.5, 0.0, 1.0)
               * np.clip((ends - centres) / _SYN_HOP + 0.5, 0.0, 1.0))
    weights[:, 0] = np.where(centres[:, 0] < ends[0, 0], 1.0, weights[:, 0])
    weights[:, -1] = np.where(centres[:, 0] >= starts[0, -1], 1.0, weights[:, -1])
    weights /= weights.sum(axis=1, keepdims=True)  # [T, n]
    spectrum = voiced * (weights @ np.stack(voiced_env)).T + noise * (weights @ np.stack(noise_env)).T
    wav = librosa.istft(spectrum, n_fft=_SYN_N_FFT, hop_length=_SYN_HOP, win_length=_SYN_WIN,
                        window="hann", center=True, length=total)
    return (wav * (PEAK / np.max(np.abs(wav)))).astype(np.float32)


def _readme(num_utterances, seed, min_phones, max_phones, sample_rate, hop_size, id_prefix):
    command = (f"python -m datasets.demo_corpus --out_dir <this directory> --num_utterances {num_utterances}"
               f" --seed {seed} --min_phones {min_phones} --max_phones {max_phones}"
               f" --sample_rate {sample_rate} --hop_size {hop_size} --id_prefix {id_prefix}")
    return "\n".join([
        "Generated demo corpus (datasets/demo_corpus.py): Mandarin-like phone sequences, synthetic audio.",
        "Not speech: each phone token is a whole number of mel frames with a spectrum set by its symbol.",
        f"Command: {command}",
        f"Seed: {seed}. Utterances: {num_utterances}. Tokens per utterance: {min_phones}-{max_phones}.",
        f"Audio: {sample_rate} Hz mono 16-bit; frame = hop = {hop_size} samples.",
        "",
        "labels/<id>.lab  id|text|phones (text = pinyin syllables)",
        "wavs/<id>.wav    exactly sum(durations) * hop samples",
        "durations.txt    id|d1 d2 ... dn  (mel frames per phone token of the label, in order; no '~')",
        "",
    ])


def make_demo_corpus(out_dir, num_utterances, seed, min_phones, max_phones, sample_rate=16000, hop_size=200,
                     id_prefix="demo"):
    """Writes the demo corpus (see the module docstring) to out_dir; returns the utterance ids.

    Same arguments give byte-identical files. Raises ValueError for impossible arguments or when
    out_dir/labels already holds labels this call would not write (a stale, different corpus).
    """
    if not 4 <= min_phones <= max_phones:
        raise ValueError(f"need 4 <= min_phones <= max_phones, got {min_phones} and {max_phones}")
    if num_utterances < 1 or hop_size < 1 or sample_rate < 16000:
        raise ValueError("need num_utterances >= 1, hop_size >= 1 and sample_rate >= 16000")
    ids = [f"{id_prefix}_{index:05d}" for index in range(1, num_utterances + 1)]
    label_dir, wav_dir = os.path.join(out_dir, "labels"), os.path.join(out_dir, "wavs")
    if os.path.isdir(label_dir):
        stale = sorted(set(os.listdir(label_dir)) - {utt_id + ".lab" for utt_id in ids})
        if any(name.endswith(".lab") for name in stale):
            raise ValueError(f"{label_dir}: holds labels of another corpus (e.g. {stale[0]}); use an empty dir")
    rng = np.random.default_rng(seed)
    table = syllable_table()
    envelopes = symbol_envelopes(sample_rate)
    duration_lines = []
    for utt_id in ids:
        phones, text = random_phones(rng, min_phones, max_phones, table)
        durations = [int(rng.integers(low, high + 1)) for low, high in map(duration_range, phones)]
        wav = synthesize(phones, durations, rng, envelopes, sample_rate, hop_size)
        fileio.write_text(os.path.join(label_dir, utt_id + ".lab"), f"{utt_id}|{text}|{' '.join(phones)}\n")
        fileio.write_wav(os.path.join(wav_dir, utt_id + ".wav"), wav, sample_rate)
        duration_lines.append(f"{utt_id}|{' '.join(map(str, durations))}")
    fileio.write_text(os.path.join(out_dir, "durations.txt"), "\n".join(duration_lines) + "\n")
    fileio.write_text(os.path.join(out_dir, "README.txt"),
                      _readme(num_utterances, seed, min_phones, max_phones, sample_rate, hop_size, id_prefix))
    return ids


def read_durations(path):
    """Reads durations.txt -> {utt_id: [frames per phone token]}; raises ValueError naming file and line."""
    durations = {}
    with open(path, "r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.strip().split("|")
            try:
                values = [int(value) for value in fields[1].split()] if len(fields) == 2 else []
            except ValueError:
                values = []
            if not fields[0] or not values or min(values) < 1:
                raise ValueError(f"{path}:{number}: expected 'id|d1 d2 ...' with positive integers")
            durations[fields[0]] = values
    return durations


def main(argv):
    del argv
    args = flags.FLAGS
    try:
        ids = make_demo_corpus(args.out_dir, args.num_utterances, args.seed, args.min_phones, args.max_phones,
                               sample_rate=args.sample_rate, hop_size=args.hop_size, id_prefix=args.id_prefix)
    except ValueError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename}: cannot write ({error.strerror})" if error.filename and error.strerror
             else str(error))
    logging.info("wrote %d utterances to %s", len(ids), args.out_dir)


if __name__ == "__main__":
    flags.DEFINE_string("out_dir", None, "Output directory (labels/, wavs/, durations.txt, README.txt).")
    flags.DEFINE_integer("num_utterances", 200, "Number of utterances.")
    flags.DEFINE_integer("seed", 1, "Seed of the phone sequences, durations and noise.")
    flags.DEFINE_integer("min_phones", 30, "Fewest tokens per utterance (sil, tones and marks included).")
    flags.DEFINE_integer("max_phones", 50, "Most tokens per utterance.")
    flags.DEFINE_integer("sample_rate", 16000, "Sample rate in Hz.")
    flags.DEFINE_integer("hop_size", 200, "Samples per mel frame.")
    flags.DEFINE_string("id_prefix", "demo", "Utterance ids are <id_prefix>_00001, ... (e.g. demo_long).")
    flags.mark_flag_as_required("out_dir")
    app.run(main)
