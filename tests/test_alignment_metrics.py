"""Alignment scores on hand-made alignment matrices, against values computed by hand."""
import numpy as np
import pytest

from tacotron import alignment_metrics as metrics


def one_hot_path(path, input_length):
    """[len(path), input_length] alignment attending exactly the tokens in `path`."""
    alignment = np.zeros((len(path), input_length), np.float32)
    alignment[np.arange(len(path)), path] = 1.0
    return alignment


def soft_path(path, input_length, width=0.8):
    """A smooth (Gaussian) alignment around the tokens in `path`, like a real attention row."""
    positions = np.arange(input_length)[None, :]
    rows = np.exp(-0.5 * ((positions - np.asarray(path)[:, None]) / width) ** 2)
    return (rows / rows.sum(axis=1, keepdims=True)).astype(np.float32)


def test_true_phone_per_step_uses_the_middle_frame_and_maps_overshoot_to_eos():
    # ends of the tokens: 3, 5, 10; r = 2, middle frames 1, 3, 5, 7, 9, 11.
    assert metrics.true_phone_per_step([3, 2, 5], 2, 6).tolist() == [0, 1, 2, 2, 2, 3]
    # r = 5: middle frames 2, 7, 12, 17 with ends 6, 7, 9, 17 (token 1 is one frame long and never a middle).
    assert metrics.true_phone_per_step([6, 1, 2, 8], 5, 4).tolist() == [0, 2, 3, 4]
    assert metrics.token_of_frame([6, 1, 2, 8], [0, 5, 6, 7, 8, 9, 16, 17]).tolist() == [0, 0, 1, 2, 2, 3, 3, 4]


def test_attended_phone_is_the_argmax_and_keeps_the_last_value_over_empty_rows():
    alignment = np.array([[0.0, 0.0, 0.0],      # empty first row -> 0
                          [0.1, 0.7, 0.2],
                          [0.0, 0.0, 0.0],      # exactly zero (a lost GMM row) -> previous
                          [1e-9, 0.0, 3e-9],    # below MIN_WEIGHT -> previous
                          [np.nan, 0.0, 0.0],   # NaN -> previous
                          [0.0, 0.2, 0.3]])
    assert metrics.attended_phone(alignment).tolist() == [0, 1, 1, 1, 1, 2]


def test_accuracy_of_a_perfect_diagonal_is_one_and_of_its_reverse_near_zero():
    durations = [2] * 20                       # r = 2: step s lies in token s
    truth = np.arange(20)
    assert metrics.alignment_accuracy(one_hot_path(truth, 21), durations, 2) == 1.0
    assert metrics.alignment_accuracy(soft_path(truth, 21), durations, 2) == 1.0
    # Reversed: attended 20 - s; |20 - 2 s| <= 1 only at s = 10.
    assert metrics.alignment_accuracy(one_hot_path(20 - truth, 21), durations, 2) == pytest.approx(1 / 20)
    # One token late everywhere: right with tolerance 1, wrong with tolerance 0.
    late = one_hot_path(truth + 1, 21)
    assert metrics.alignment_accuracy(late, durations, 2, tolerance=1) == 1.0
    assert metrics.alignment_accuracy(late, durations, 2, tolerance=0) == 0.0


def test_accuracy_scores_only_the_utterances_own_steps():
    durations = [3, 4, 3]                      # 10 frames, r = 5: 2 steps, middles 2 and 7 -> tokens 0, 2
    padded = one_hot_path([0, 2, 0, 0, 0], 4)  # batch padding rows after step 2 are ignored
    assert metrics.alignment_accuracy(padded, durations, 5, tolerance=0) == 1.0
    assert metrics.alignment_accuracy(one_hot_path([3, 3], 4), durations, 5) == 0.5
    with pytest.raises(ValueError, match="1 decoder steps"):
        metrics.alignment_accuracy(one_hot_path([0], 4), durations, 5)


def test_reaches_end_needs_the_last_label_token_or_eos():
    assert metrics.reaches_end(one_hot_path([0, 1, 2, 3, 4], 6), 6)      # 4 = last label token
    assert metrics.reaches_end(one_hot_path([0, 5], 6), 6)               # 5 = "~"
    assert not metrics.reaches_end(one_hot_path([0, 1, 2, 3], 6), 6)
    # Columns beyond input_length (batch padding) are not looked at.
    assert not metrics.reaches_end(one_hot_path([0, 1, 9], 10), 6)


def test_skipped_phones_counts_tokens_passed_by_large_forward_jumps():
    assert metrics.skipped_phones(one_hot_path([0, 1, 2, 3, 4, 5], 8), 8) == 0
    assert metrics.skipped_phones(one_hot_path([0, 1, 4, 5], 8), 8) == 0             # jump of 3 is allowed
    assert metrics.skipped_phones(one_hot_path([0, 1, 2, 7, 7], 8), 8) == 4           # jump 5: tokens 3-6
    assert metrics.skipped_phones(one_hot_path([0, 1, 2, 7], 8), 8, max_jump=5) == 0
    assert metrics.skipped_phones(one_hot_path([5, 6, 7], 8), 8) == 5                 # late start: 0-4
    assert metrics.skipped_phones(soft_path([0, 1, 2, 7, 8, 13], 14), 14) == 4 + 4


def test_repeated_phones_counts_backward_jumps_of_two_or_more():
    assert metrics.repeated_phones(one_hot_path([0, 1, 2, 3, 1, 2, 3, 4], 6)) == 1
    assert metrics.repeated_phones(one_hot_path([0, 1, 0, 1, 2, 1, 2], 6)) == 0        # 1-token wobble
    assert metrics.repeated_phones(one_hot_path([0, 2, 4, 2, 4, 0, 1], 6)) == 2
    assert metrics.repeated_phones(one_hot_path([0, 1, 2, 3, 1, 2, 3, 4], 6), min_backward=3) == 0


def test_score_alignment_and_free_running_summary():
    diagonal = soft_path(np.arange(11), 11)    # 10 label tokens + "~"
    assert metrics.score_alignment(diagonal, 11) == {"reaches_end": True, "skipped_phones": 0,
                                                     "repeated_phones": 0}
    durations = [5] * 10                       # 50 recorded frames
    scores = metrics.score_free_running(diagonal, 11, 50, False, durations, 5)
    assert scores == {"reaches_end": True, "skipped_phones": 0, "repeated_phones": 0, "stopped": True,
                      "length_ratio": 1.0, "clean": True}
    assert not metrics.score_free_running(diagonal, 11, 50, True, durations, 5)["clean"]       # no stop
    assert metrics.score_free_running(diagonal, 11, 80, False, durations, 5)["length_ratio"] == 1.6
    assert not metrics.score_free_running(diagonal, 11, 80, False, durations, 5)["clean"]      # too long
    # Only the generated steps are scored: 20 frames = 4 steps, which do not reach the end.
    short = metrics.score_free_running(diagonal, 11, 20, False, durations, 5)
    assert not short["reaches_end"] and not short["clean"]
    skipping = soft_path([0, 1, 2, 7, 8, 9, 10], 11)
    assert not metrics.score_free_running(skipping, 11, 35, False, durations, 5)["clean"]


def test_matched_frames_take_the_first_recorded_frame_of_each_generated_frame():
    path = np.array([[3, 5], [2, 3], [2, 4], [1, 1], [1, 2], [0, 0]])   # librosa order: end to start
    assert metrics.matched_frames_from_path(path, 4).tolist() == [0, 1, 3, 5]


def test_free_running_accuracy_follows_the_dtw_match():
    durations = [2] * 10                       # 20 recorded frames, token k = frames 2k, 2k + 1
    r = 2
    # Generated twice as slowly (40 frames): generated frame i matches recorded frame i // 2, so step s
    # (middle frame 2 s + 1) says token s // 2.
    matched = np.arange(40) // 2
    follows = soft_path(np.arange(20) // 2, 11)
    assert metrics.free_running_accuracy(follows, matched, durations, r) == 1.0
    # Attention that ran ahead at the recorded speed: step s attends min(s, 10); within 1 of s // 2 only at
    # s = 0, 1, 2 (differences 0, 1, 1) and s = 18, 19 (10 - 9 = 1).
    ahead = one_hot_path(np.minimum(np.arange(20), 10), 11)
    assert metrics.free_running_accuracy(ahead, matched, durations, r) == pytest.approx(5 / 20)
    scores = metrics.score_free_running(follows, 11, 40, False, durations, r, matched_frames=matched)
    assert scores["dtw_accuracy"] == 1.0 and scores["length_ratio"] == 2.0 and not scores["clean"]


def test_steps_to_align_is_the_first_evaluation_at_or_above_the_threshold():
    history = [(300, 0.7), (100, 0.5), (400, 0.9), (200, 0.8)]
    assert metrics.steps_to_align(history, 0.8) == 200       # sorted by step; equality passes
    assert metrics.steps_to_align(history, 0.85) == 400
    assert metrics.steps_to_align(history, 0.95) is None
    assert metrics.steps_to_align([], 0.5) is None
    # Three passing evaluations in a row: the blip at 200 does not count, 400-600 do.
    history = [(100, 0.5), (200, 0.85), (300, 0.7), (400, 0.9), (500, 0.8), (600, 0.95), (700, 0.6)]
    assert metrics.steps_to_align(history, 0.8, consecutive=3) == 400
    assert metrics.steps_to_align(history, 0.8, consecutive=4) is None
    assert metrics.steps_to_align(history, 0.8, consecutive=1) == 200


def test_length_ratio_and_steps():
    assert metrics.length_ratio(30, [10, 5]) == 2.0
    assert metrics.num_steps_of(11, 5) == 3 and metrics.num_steps_of(10, 5) == 2


def test_focus_rate_is_one_for_hard_and_one_over_n_for_uniform_alignments():
    hard = np.eye(5)[[0, 0, 1, 2, 3, 4]]
    assert metrics.focus_rate(hard) == pytest.approx(1.0)
    assert metrics.focus_rate(np.full((7, 4), 0.25)) == pytest.approx(0.25)
    assert metrics.focus_rate(np.array([[0.5, 0.5, 0.0], [0.1, 0.8, 0.1]])) == pytest.approx(0.65)
