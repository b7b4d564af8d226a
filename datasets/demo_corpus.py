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
drawn from a per-class range (`duration_range`) and sounds as its symbol does (datasets/demo_sounds.py);
silences are a soft noise floor 18 dB below the vowels, so `librosa.effects.trim(top_db=30)` finds nothing
to cut and the durations stay valid after preprocessing.
"""
import os

import numpy as np
from absl import app
from absl import flags
from absl import logging

from datasets import fileio
from datasets.demo_sounds import FINALS
from datasets.demo_sounds import INITIAL_SOUNDS
from datasets.demo_sounds import TONE_SOUNDS
from datasets.demo_sounds import symbol_envelopes
from datasets.demo_sounds import synthesize
from tacotron.cli import fail

DEMO_TONES = ("1", "2", "3", "4", "5")
_TONE_PROBS = (0.22, 0.24, 0.20, 0.26, 0.08)
_MARKS = ("#0", "#1", "#2", "sp")
_MARK_PROBS = (0.62, 0.16, 0.14, 0.08)
_INITIAL_PROB = 0.8


def duration_range(symbol):
    """Inclusive (min, max) mel frames of one token of this symbol."""
    if symbol in INITIAL_SOUNDS:
        return (3, 5)
    if symbol in FINALS:
        return (6, 10)
    if symbol in TONE_SOUNDS:
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

    return tuple(initial for initial in INITIAL_SOUNDS if allowed(initial))


def syllable_table():
    """(finals that take an initial, finals that stand alone, {final: allowed initials})."""
    initials = {final: _initials_for(final) for final in FINALS}
    with_initial = tuple(final for final in FINALS if initials[final])
    alone = tuple(final for final in FINALS if final not in ("ii", "iii"))
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
        fail(fileio.write_error_line(error))
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
