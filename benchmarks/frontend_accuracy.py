"""Accuracy and speed of the Mandarin front-end (text/frontend.py) against annotated course labels.

    .venv/bin/python benchmarks/frontend_accuracy.py                    # the 50 Biaobei sample sentences
    .venv/bin/python benchmarks/frontend_accuracy.py --quick            # 10 sentences (a test runs this)
    .venv/bin/python benchmarks/frontend_accuracy.py --show_errors      # and every wrong sentence

For every label file the sentence (field 2) goes through the front-end and its phones are compared with
the annotated ones (field 3):

- PER, phone error rate: Levenshtein distance between the reference and predicted sequences of initials,
  finals, tones and erhua tokens (prosody marks, sil and sp removed), summed over the sentences, divided
  by the number of reference tokens;
- sentence error rate: sentences whose sequence differs at all;
- prosody boundaries, on the sentences whose syllable counts agree: precision and recall of the positions
  between syllables that carry a prosodic-word boundary or stronger (#1, #2, #3, sp), and of those that
  carry a phrase boundary or stronger (#2, #3, sp);
- speed: sentences per second through `Frontend.pronounce` (resources loaded beforehand; loading time is
  printed apart).
"""
import collections
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from text.frontend import Frontend  # noqa: E402  (after the sys.path line, to run as a script)
from text.labels import list_label_files  # noqa: E402
from text.labels import read_label_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LABEL_DIR = os.path.join(ROOT, "..", "shared", "data", "biaobei_sample", "labels")
NOT_SCORED = frozenset(["sil", "sp", "#0", "#1", "#2", "#3", "~"])
WORD_MARKS = frozenset(["#1", "#2", "#3", "sp"])
PHRASE_MARKS = frozenset(["#2", "#3", "sp"])
QUICK_SENTENCES = 10

Scores = collections.namedtuple("Scores", [
    "sentences", "reference_tokens", "errors", "wrong_sentences", "word_boundary", "phrase_boundary",
    "compared_prosody", "seconds"])
# Precision / recall counts of one boundary kind.
BoundaryCounts = collections.namedtuple("BoundaryCounts", ["true_positive", "predicted", "reference"])


def scored_tokens(phones):
    """The tokens PER is computed over: initials, finals, tones, erhua (no marks, sil, sp or "~")."""
    return [phone for phone in phones if phone not in NOT_SCORED]


def edit_distance(reference, hypothesis):
    """Levenshtein distance (substitutions, insertions, deletions all cost 1) between two sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def boundaries(phones):
    """The mark after each syllable but the last: a syllable ends at a tone digit; "" when no mark follows
    (e.g. between an English word and a syllable). Returns a list of marks, one per syllable boundary."""
    marks, seen_syllable, current = [], False, ""
    for phone in phones:
        if phone[:1].isdigit():
            if seen_syllable:
                marks.append(current)
            seen_syllable, current = True, ""
        elif phone.startswith("#") or phone == "sp":
            current = phone
    return marks


def boundary_counts(reference_marks, predicted_marks, kinds):
    """BoundaryCounts of the positions whose mark is in `kinds` (both mark lists of the same length)."""
    if len(reference_marks) != len(predicted_marks):
        raise ValueError("mark lists of different lengths")
    reference = {k for k, mark in enumerate(reference_marks) if mark in kinds}
    predicted = {k for k, mark in enumerate(predicted_marks) if mark in kinds}
    return BoundaryCounts(len(reference & predicted), len(predicted), len(reference))


def add_counts(first, second):
    return BoundaryCounts(*(a + b for a, b in zip(first, second)))


def precision_recall(counts):
    """(precision, recall) of BoundaryCounts (1.0 for an empty denominator)."""
    precision = counts.true_positive / counts.predicted if counts.predicted else 1.0
    recall = counts.true_positive / counts.reference if counts.reference else 1.0
    return precision, recall


def evaluate(frontend, utterances, on_sentence=None):
    """Scores the front-end on labelled utterances.

    Args:
        frontend: a text.frontend.Frontend.
        utterances: text.labels.Utterance list (text and reference phones).
        on_sentence: optional callable(utterance, predicted phones, distance) for reporting.
    Returns:
        Scores.
    """
    reference_tokens = errors = wrong = compared = 0
    word = phrase = BoundaryCounts(0, 0, 0)
    seconds = 0.0
    for utterance in utterances:
        start = time.perf_counter()
        predicted = frontend.pronounce(utterance.text).phones
        seconds += time.perf_counter() - start
        reference = scored_tokens(utterance.phones)
        distance = edit_distance(reference, scored_tokens(predicted))
        reference_tokens += len(reference)
        errors += distance
        wrong += distance > 0
        reference_marks, predicted_marks = boundaries(utterance.phones), boundaries(predicted)
        if len(reference_marks) == len(predicted_marks):
            compared += 1
            word = add_counts(word, boundary_counts(reference_marks, predicted_marks, WORD_MARKS))
            phrase = add_counts(phrase, boundary_counts(reference_marks, predicted_marks, PHRASE_MARKS))
        if on_sentence is not None:
            on_sentence(utterance, predicted, distance)
    return Scores(len(utterances), reference_tokens, errors, wrong, word, phrase, compared, seconds)


def report(scores, load_seconds):
    """The figures as printable lines."""
    per = scores.errors / max(scores.reference_tokens, 1)
    word_p, word_r = precision_recall(scores.word_boundary)
    phrase_p, phrase_r = precision_recall(scores.phrase_boundary)
    speed = scores.sentences / scores.seconds if scores.seconds else float("inf")
    return [
        f"sentences            {scores.sentences}",
        f"PER                  {100 * per:.2f} %  ({scores.errors} errors / {scores.reference_tokens} tokens)",
        f"sentence errors      {scores.wrong_sentences} / {scores.sentences} "
        f"({100 * scores.wrong_sentences / max(scores.sentences, 1):.0f} %)",
        f"word boundaries      precision {100 * word_p:.1f} %  recall {100 * word_r:.1f} %  "
        f"(#1 #2 #3 sp; {scores.compared_prosody} sentences with matching syllable counts)",
        f"phrase boundaries    precision {100 * phrase_p:.1f} %  recall {100 * phrase_r:.1f} %  (#2 #3 sp)",
        f"speed                {speed:.1f} sentences/s  (resources loaded in {load_seconds:.1f} s)",
    ]


FLAGS = flags.FLAGS


def _define_flags():
    """The script's flags (defined when it runs, so that tests can import the metric functions)."""
    flags.DEFINE_string("label_dir", DEFAULT_LABEL_DIR, "Directory of course *.lab files (id|text|phones).")
    flags.DEFINE_bool("quick", False, f"Only the first {QUICK_SENTENCES} label files.")
    flags.DEFINE_bool("show_errors", False, "Print reference and prediction of every wrong sentence.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    label_dir = os.path.normpath(FLAGS.label_dir)
    if not os.path.isdir(label_dir):
        print(f"error: {label_dir}: label directory does not exist", file=sys.stderr)
        sys.exit(1)
    paths = list_label_files(label_dir)[:QUICK_SENTENCES if FLAGS.quick else None]
    utterances = [utterance for path in paths for utterance in read_label_file(path)]
    if not utterances:
        print(f"error: {label_dir}: no labelled sentences", file=sys.stderr)
        sys.exit(1)
    start = time.perf_counter()
    frontend = Frontend()
    frontend.pronounce("预热 warm up")  # loads the tagger's and the dictionary's lazy parts
    load_seconds = time.perf_counter() - start

    def show(utterance, predicted, distance):
        if FLAGS.show_errors and distance:
            print(f"{utterance.utt_id} {utterance.text}  ({distance} errors)\n"
                  f"  ref  {' '.join(utterance.phones)}\n  pred {' '.join(predicted)}")

    scores = evaluate(frontend, utterances, show)
    print(f"front-end accuracy on {label_dir}")
    for line in report(scores, load_seconds):
        print(line)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
