"""benchmarks/frontend_accuracy.py: its metric functions, its --quick run, and the front-end's phone error
rate on the Biaobei sample (skipped when the sample is absent)."""
import os
import re
import subprocess
import sys

import pytest

from benchmarks import frontend_accuracy as benchmark
from conftest import BIAOBEI_SAMPLE
from conftest import ROOT
from text.frontend import Frontend
from text.frontend import Pronunciation
from text.labels import Utterance
from text.labels import list_label_files
from text.labels import read_labels

LABEL_DIR = os.path.join(BIAOBEI_SAMPLE, "labels")
needs_sample = pytest.mark.skipif(not os.path.isdir(LABEL_DIR), reason="Biaobei sample not present")


@pytest.mark.parametrize("reference, hypothesis, distance", [
    ("", "", 0), ("abc", "abc", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3),
    ("abc", "acb", 2), ("abcd", "abd", 1),
])
def test_edit_distance(reference, hypothesis, distance):
    assert benchmark.edit_distance(list(reference), list(hypothesis)) == distance
    assert benchmark.edit_distance(list(hypothesis), list(reference)) == distance


def test_scored_tokens_drop_marks_and_silences():
    phones = "sil l iou 4 #0 uan 1 #0 xr 5 #2 d ou 1 sp d ei 3 #1 d uo 2 #3 a 1 sil ~".split()
    assert benchmark.scored_tokens(phones) == "l iou 4 uan 1 xr 5 d ou 1 d ei 3 d uo 2 a 1".split()


def test_boundaries_and_precision_recall():
    reference = "sil a 1 #0 b a 2 #1 c a 3 #2 d a 4 sp e 1 sil".split()
    predicted = "sil a 1 #1 b a 2 #0 c a 3 #1 d a 4 sp e 1 sil".split()
    assert benchmark.boundaries(reference) == ["#0", "#1", "#2", "sp"]
    assert benchmark.boundaries("sil HH AX L OW #1 n i 3 sil".split()) == []  # English has no tone token
    assert benchmark.boundaries("sil n i 3 #1 HH AX L OW #1 h ao 3 sil".split()) == ["#1"]
    words = benchmark.boundary_counts(benchmark.boundaries(reference), benchmark.boundaries(predicted),
                                      benchmark.WORD_MARKS)
    assert words == benchmark.BoundaryCounts(true_positive=2, predicted=3, reference=3)
    assert benchmark.precision_recall(words) == (2 / 3, 2 / 3)
    phrases = benchmark.boundary_counts(benchmark.boundaries(reference), benchmark.boundaries(predicted),
                                        benchmark.PHRASE_MARKS)
    assert benchmark.precision_recall(phrases) == (1.0, 0.5)
    assert benchmark.precision_recall(benchmark.BoundaryCounts(0, 0, 0)) == (1.0, 1.0)
    with pytest.raises(ValueError):
        benchmark.boundary_counts(["#1"], [], benchmark.WORD_MARKS)


def test_evaluate_counts_errors_sentences_and_boundaries():
    answers = {"甲": "sil a 1 #1 b a 2 sil".split(), "乙": "sil a 1 #0 b a 3 #0 c a 1 sil".split()}

    class Stub:
        """Stands in for text.frontend.Frontend: fixed phones per sentence."""

        def pronounce(self, text):
            return Pronunciation(answers[text], [], text)

    utterances = [Utterance("1", "甲", "sil a 1 #1 b a 2 sil".split()),
                  Utterance("2", "乙", "sil a 1 #1 b a 2 sil".split())]
    seen = []
    scores = benchmark.evaluate(Stub(), utterances, lambda u, p, d: seen.append((u.utt_id, d)))
    assert scores.sentences == 2 and scores.reference_tokens == 10
    assert scores.errors == 4  # "3" for "2", and "c a 1" inserted
    assert scores.wrong_sentences == 1 and seen == [("1", 0), ("2", 4)]
    assert scores.compared_prosody == 1  # the second sentence has another syllable count
    assert scores.word_boundary == benchmark.BoundaryCounts(1, 1, 1)
    lines = benchmark.report(scores, load_seconds=1.0)
    assert lines[1].startswith("PER                  40.00 %  (4 errors / 10 tokens)")
    assert lines[2].startswith("sentence errors      1 / 2")


@needs_sample
def test_per_on_the_biaobei_sample_is_at_most_1_5_percent():
    utterances, problems = read_labels(list_label_files(LABEL_DIR))
    assert problems == [] and len(utterances) == 50
    scores = benchmark.evaluate(Frontend(), utterances)
    per = scores.errors / scores.reference_tokens
    assert per <= 0.015, f"PER {per:.4f}"
    assert scores.wrong_sentences <= 20
    precision, recall = benchmark.precision_recall(scores.word_boundary)
    assert precision > 0.75 and recall > 0.75


@needs_sample
def test_quick_run_prints_its_figures():
    script = os.path.join(ROOT, "benchmarks", "frontend_accuracy.py")
    process = subprocess.run([sys.executable, script, "--quick"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert process.returncode == 0, process.stderr
    assert re.search(r"^sentences +10$", process.stdout, re.MULTILINE)
    assert re.search(r"^PER +\d+\.\d\d %  \(\d+ errors / \d+ tokens\)$", process.stdout, re.MULTILINE)
    assert re.search(r"^speed +\d+\.\d sentences/s", process.stdout, re.MULTILINE)


def test_missing_label_dir_is_one_error_line(tmp_path):
    process = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "frontend_accuracy.py"),
                              f"--label_dir={tmp_path / 'none'}"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert process.returncode == 1
    assert process.stderr.strip() == f"error: {tmp_path / 'none'}: label directory does not exist"
