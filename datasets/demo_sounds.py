"""How each symbol of the demo corpus sounds (datasets/demo_corpus.py assembles utterances from them).

Every token has its own spectral envelope that depends only on the symbol, never on the seed: finals and
m/n/l/r are a harmonic source at a fixed pitch through symbol-specific formants, other initials are
symbol-specific band noise, a tone continues its final's spectrum with a tone-specific pitch glide, and
sil/sp/#0-#3 are a soft noise floor 18 dB below the vowels. Tokens are filtered in the STFT domain with
4 ms crossfades, then peak-normalised to PEAK.
"""
import librosa
import numpy as np

BASE_F0 = 160.0
PEAK = 0.9
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
FINALS = {
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
INITIAL_SOUNDS = {
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
TONE_SOUNDS = {
    "1": (0.0, ((0.0, 0.3, 1.0), (BASE_F0, 205.0, 205.0))),
    "2": (-1.0, ((0.0, 0.3, 1.0), (BASE_F0, 145.0, 230.0))),
    "3": (-4.0, ((0.0, 0.5, 1.0), (BASE_F0, 110.0, 115.0))),
    "4": (0.0, ((0.0, 0.25, 1.0), (BASE_F0, 215.0, 110.0))),
    "5": (-6.0, ((0.0, 1.0), (BASE_F0, 145.0))),
}


def _formant_power(freqs, formants):
    """Sum of Lorentzian resonances at freqs [F] (power)."""
    power = np.zeros_like(freqs)
    for centre, amplitude in formants:
        bandwidth = 70.0 + 0.06 * centre
        power += amplitude ** 2 / (1.0 + ((freqs - centre) / (0.5 * bandwidth)) ** 2)
    return power


def _final_power(freqs, final):
    """Power envelope [F] of a final: its nucleus reshaped by medial, offglide and nasal coda."""
    nucleus, medial, offglide, coda = FINALS[final]
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
    for final in FINALS:
        envelopes[final] = (_normalised(_final_power(freqs, final), 0.0), zero)
    for initial, (kind, spec, level_db) in INITIAL_SOUNDS.items():
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
        if symbol in TONE_SOUNDS:
            times, values = TONE_SOUNDS[symbol][1]
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
        if symbol in TONE_SOUNDS:  # continues the final before it, at the tone's level
            gain = 10.0 ** (TONE_SOUNDS[symbol][0] / 20.0)
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
