"""The generated demo corpus: course layout, phone structure, exact durations, trim-safe levels, stable spectra."""
import collections
import filecmp
import os
import subprocess
import sys

import librosa
import numpy as np
import pytest
import soundfile

from conftest import ROOT
from datasets import demo_corpus
from text.labels import read_label_file
from text.phones_mix import ARPABET
from text.phones_mix import FINALS
from text.phones_mix import INITIALS

HOP = 200
SR = 16000
MIN_PHONES, MAX_PHONES = 24, 40


def _make(root, seed, num_utterances=20, min_phones=MIN_PHONES, max_phones=MAX_PHONES):
    ids = demo_corpus.make_demo_corpus(str(root), num_utterances, seed, min_phones, max_phones)
    return str(root), ids


@pytest.fixture(scope="module")
def corpus_a(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("demo_a"), seed=1)


@pytest.fixture(scope="module")
def corpus_b(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("demo_b"), seed=2)


def _utterances(root, ids):
    """[(utt_id, phones, durations, wav)] read back from disk."""
    durations = demo_corpus.read_durations(os.path.join(root, "durations.txt"))
    rows = []
    for utt_id in ids:
        (utt,) = read_label_file(os.path.join(root, "labels", utt_id + ".lab"))
        assert utt.utt_id == utt_id
        wav, rate = soundfile.read(os.path.join(root, "wavs", utt_id + ".wav"), dtype="float32")
        assert rate == SR
        rows.append((utt_id, utt.phones, durations[utt_id], wav))
    return rows


def _check_structure(phones):
    """Asserts sil + syllables + sil, each syllable `[initial] final tone` + (#0|#1|#2|sp), last (#3)?."""
    assert phones[0] == "sil" and phones[-1] == "sil"
    assert "sil" not in phones[1:-1]
    position, body = 0, phones[1:-1]
    while position < len(body):
        if body[position] in INITIALS:
            position += 1
        assert body[position] in FINALS, body
        assert body[position + 1] in demo_corpus.DEMO_TONES, body
        position += 2
        if position == len(body):
            break
        mark = body[position]
        if mark == "#3":
            assert position == len(body) - 1, "#3 only before the final sil"
        else:
            assert mark in ("#0", "#1", "#2", "sp"), body
        position += 1


def test_layout_labels_and_structure(corpus_a):
    root, ids = corpus_a
    assert ids == [f"demo_{index:05d}" for index in range(1, 21)]
    assert sorted(os.listdir(root)) == ["README.txt", "durations.txt", "labels", "wavs"]
    assert sorted(os.listdir(os.path.join(root, "labels"))) == [i + ".lab" for i in ids]
    assert sorted(os.listdir(os.path.join(root, "wavs"))) == [i + ".wav" for i in ids]
    marks = collections.Counter()
    for _, phones, _, _ in _utterances(root, ids):
        _check_structure(phones)
        assert MIN_PHONES <= len(phones) <= MAX_PHONES
        assert not set(phones) & set(ARPABET)
        marks.update(p for p in phones if p in ("#0", "#1", "#2", "#3", "sp"))
    assert marks["#0"] > marks["#1"] > 0 and marks["#2"] > 0 and marks["sp"] > 0 and marks["#3"] > 0
    readme = open(os.path.join(root, "README.txt"), encoding="utf-8").read()
    assert "--seed 1" in readme and "--min_phones 24" in readme


def test_wavs_have_exact_durations_and_class_ranges(corpus_a):
    root, ids = corpus_a
    for utt_id, phones, durations, wav in _utterances(root, ids):
        info = soundfile.info(os.path.join(root, "wavs", utt_id + ".wav"))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert len(durations) == len(phones)
        assert wav.shape == (sum(durations) * HOP,)
        for symbol, frames in zip(phones, durations):
            low, high = demo_corpus.duration_range(symbol)
            assert low <= frames <= high and frames >= 1
        assert 0.85 < np.max(np.abs(wav)) <= 0.9 + 1e-4


def test_course_trim_cuts_nothing(corpus_a):
    root, ids = corpus_a
    for _, _, _, wav in _utterances(root, ids):
        _, (start, end) = librosa.effects.trim(wav, top_db=30, frame_length=512, hop_length=128)
        assert (start, end) == (0, len(wav))


def test_deterministic_and_seed_sensitive(tmp_path, corpus_a):
    root, ids = corpus_a
    again, _ = _make(tmp_path / "again", seed=1)
    match, mismatch, errors = filecmp.cmpfiles(
        root, again, ["README.txt", "durations.txt"] + [f"labels/{i}.lab" for i in ids]
        + [f"wavs/{i}.wav" for i in ids], shallow=False)
    assert not mismatch and not errors and len(match) == 2 + 2 * len(ids)
    lines = open(os.path.join(root, "durations.txt"), encoding="utf-8").read().splitlines()
    other, _ = _make(tmp_path / "other", seed=3, num_utterances=2)
    assert open(os.path.join(other, "durations.txt"), encoding="utf-8").read().splitlines() != lines[:2]
    # A smaller corpus with the same seed is a prefix of the bigger one.
    prefix, _ = _make(tmp_path / "prefix", seed=1, num_utterances=2)
    assert open(os.path.join(prefix, "durations.txt"), encoding="utf-8").read().splitlines() == lines[:2]
    assert filecmp.cmp(os.path.join(prefix, "wavs", "demo_00002.wav"), os.path.join(root, "wavs", "demo_00002.wav"),
                       shallow=False)


def _mean_log_mel(root, ids):
    """{symbol: [average log-mel of the inner frames of each token with >= 4 frames]} (librosa, own STFT)."""
    spectra = collections.defaultdict(list)
    for _, phones, durations, wav in _utterances(root, ids):
        mel = librosa.feature.melspectrogram(y=wav.astype(np.float64), sr=SR, n_fft=2048, hop_length=HOP,
                                             win_length=800, n_mels=80, fmax=8000.0, power=1.0)
        log_mel = np.log(np.maximum(mel, 1e-5)).T
        ends = np.cumsum(durations)
        for symbol, start, end in zip(phones, ends - durations, ends):
            if end - start >= 4:
                spectra[symbol].append(log_mel[start + 1:end - 1].mean(axis=0))
    return spectra


def test_symbol_spectra_are_stable_across_utterances_and_seeds(corpus_a, corpus_b):
    spectra_a, spectra_b = _mean_log_mel(*corpus_a), _mean_log_mel(*corpus_b)
    finals = sorted(set(spectra_a) & set(spectra_b) & set(FINALS))
    assert len(finals) >= 15
    for final in finals:
        assert np.corrcoef(spectra_a[final][0], spectra_b[final][0])[0, 1] > 0.99, final
        if len(spectra_a[final]) > 1:  # two utterances of the same seed
            assert np.corrcoef(spectra_a[final][0], spectra_a[final][1])[0, 1] > 0.99, final
    assert "a" in finals and "i" in finals
    assert np.corrcoef(spectra_a["a"][0], spectra_b["i"][0])[0, 1] < 0.9
    # Every final and initial is recognised across seeds: its nearest spectrum is its own.
    symbols = sorted(set(spectra_a) & set(spectra_b) & set(FINALS + INITIALS))
    means_b = {symbol: np.mean(spectra_b[symbol], axis=0) for symbol in symbols}
    for symbol in symbols:
        mean_a = np.mean(spectra_a[symbol], axis=0)
        nearest = min(symbols, key=lambda other: np.linalg.norm(mean_a - means_b[other]))
        assert nearest == symbol


def test_long_mode_lengths_and_same_spectra(tmp_path, corpus_a):
    root, ids = _make(tmp_path / "long", seed=7, num_utterances=2, min_phones=4 * MIN_PHONES,
                      max_phones=4 * MAX_PHONES)
    spectra_long, spectra_a = _mean_log_mel(root, ids), _mean_log_mel(*corpus_a)
    for _, phones, durations, wav in _utterances(root, ids):
        _check_structure(phones)
        assert 4 * MIN_PHONES <= len(phones) <= 4 * MAX_PHONES
        assert wav.shape == (sum(durations) * HOP,)
    shared = sorted(set(spectra_long) & set(spectra_a) & set(FINALS))
    assert shared
    for final in shared:
        assert np.corrcoef(spectra_long[final][0], spectra_a[final][0])[0, 1] > 0.99


def test_random_phones_hits_every_length():
    rng = np.random.default_rng(0)
    table = demo_corpus.syllable_table()
    lengths = set()
    for _ in range(300):
        phones, text = demo_corpus.random_phones(rng, 4, 9, table)
        _check_structure(phones)
        assert "|" not in text and text
        lengths.add(len(phones))
    assert lengths == set(range(4, 10))


def test_bad_arguments_and_stale_directory(tmp_path):
    with pytest.raises(ValueError, match="min_phones"):
        demo_corpus.make_demo_corpus(str(tmp_path), 1, 0, 3, 10)
    with pytest.raises(ValueError, match="min_phones"):
        demo_corpus.make_demo_corpus(str(tmp_path), 1, 0, 12, 10)
    demo_corpus.make_demo_corpus(str(tmp_path), 2, 0, 6, 8)
    demo_corpus.make_demo_corpus(str(tmp_path), 2, 0, 6, 8)  # re-running the same command is fine
    with pytest.raises(ValueError, match="another corpus"):
        demo_corpus.make_demo_corpus(str(tmp_path), 1, 0, 6, 8)
    assert not [name for _, _, names in os.walk(tmp_path) for name in names if name.endswith(".tmp")]


def test_read_durations_rejects_bad_lines(tmp_path):
    path = tmp_path / "durations.txt"
    path.write_text("a|1 2 3\n\nb|4\n", encoding="utf-8")
    assert demo_corpus.read_durations(str(path)) == {"a": [1, 2, 3], "b": [4]}
    for bad in ("a|1 x\n", "a|1 0\n", "a\n", "|1\n", "a|\n"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(ValueError, match="durations.txt:1"):
            demo_corpus.read_durations(str(path))


def test_cli(tmp_path):
    out_dir = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "datasets.demo_corpus", "--out_dir", str(out_dir), "--num_utterances", "2",
         "--seed", "5", "--min_phones", "10", "--max_phones", "14"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    durations = demo_corpus.read_durations(str(out_dir / "durations.txt"))
    assert sorted(durations) == ["demo_00001", "demo_00002"]
    reference, _ = _make(tmp_path / "api", seed=5, num_utterances=2, min_phones=10, max_phones=14)
    assert filecmp.cmp(os.path.join(reference, "durations.txt"), str(out_dir / "durations.txt"), shallow=False)
    assert filecmp.cmp(os.path.join(reference, "wavs", "demo_00002.wav"), str(out_dir / "wavs" / "demo_00002.wav"),
                       shallow=False)
