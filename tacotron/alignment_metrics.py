"""Alignment scores from attention matrices alone (pure NumPy), against the demo corpus's ground truth.

Shapes (documented once here):
    alignment: [T_dec, T_in] attention weights of one utterance, decoder steps x encoder steps (a row of
        `Tacotron.infer(...)["alignments"]` or of the teacher-forced `outputs["alignments"]`). Rows beyond
        the utterance's own decoder steps and columns beyond its input length must be cut by the caller,
        except where a function takes `input_length` (then the columns are cut here).
    durations: [N] ints, mel frames of each label token, in order (`datasets.demo_corpus.read_durations`).
        The model input is the N label tokens plus "~", so T_in = N + 1 and token N is "~".

The attended phone of a decoder step is the argmax of its row. For GMM attention that is the argmax of the
mixture alignment (the sum of the K Gaussians evaluated at the encoder positions); the mixture means are not
needed. A GMM row can be exactly zero everywhere (a very narrow component between two integer positions, or
all means beyond the end): such a row says nothing about where attention is, so it keeps the previous step's
attended phone (the first step: phone 0) instead of the argmax 0 of an all-zero row.

Two modes are scored (the functions do not know which mode produced a matrix; the caller picks):
- teacher forced: the decoder is fed the true audio, so its timing follows the recording and each step has a
  true phone -> `alignment_accuracy`;
- free running: the model's own timing -> `reaches_end`, `skipped_phones`, `repeated_phones`, plus the
  stop-token outcome and the generated length in `score_free_running`, and `free_running_accuracy`, which
  finds each generated frame's true phone by dynamic time warping of the generated mel onto the recorded one.
"""
import numpy as np

# A row whose largest weight is below this is "unattended" (see the module docstring).
MIN_WEIGHT = 1e-6


def true_phone_per_step(durations, outputs_per_step, num_steps):
    """The index of the token whose frames contain each decoder step's middle frame.

    Decoder step s emits frames [s r, (s + 1) r); its middle frame is s r + r // 2. Steps whose middle frame
    lies past the last frame (the padding up to a multiple of r, or free-running overshoot) get index N, the
    "~" token.

    Args:
        durations: [N] frames per token.
        outputs_per_step: r, frames per decoder step.
        num_steps: decoder steps to label.
    Returns:
        [num_steps] int64 in [0, N].
    """
    middles = np.arange(num_steps, dtype=np.int64) * outputs_per_step + outputs_per_step // 2
    return token_of_frame(durations, middles)


def token_of_frame(durations, frames):
    """The index of the token containing each recorded frame; frames past the end get N ("~").

    Args:
        frames: [F] int frame indices.
    Returns:
        [F] int64 in [0, N].
    """
    ends = np.cumsum(np.asarray(durations, dtype=np.int64))
    return np.searchsorted(ends, np.asarray(frames, dtype=np.int64), side="right")


def attended_phone(alignment, min_weight=MIN_WEIGHT):
    """The attended encoder step of each decoder step: the row argmax; a row whose weights are all below
    `min_weight` keeps the previous step's value (0 at the first step).

    Returns:
        [T_dec] int64.
    """
    alignment = np.asarray(alignment, dtype=np.float64)
    attended = np.argmax(alignment, axis=1) if alignment.shape[1] else np.zeros(len(alignment), np.int64)
    attended = attended.astype(np.int64)
    previous = 0
    for step in range(len(attended)):
        if alignment.shape[1] == 0 or not np.max(alignment[step]) >= min_weight:  # also catches NaN rows
            attended[step] = previous
        previous = attended[step]
    return attended


def num_steps_of(num_frames, outputs_per_step):
    """Decoder steps that emit `num_frames` frames at r = `outputs_per_step`: ceil(frames / r)."""
    return -(-int(num_frames) // int(outputs_per_step))


def alignment_accuracy(alignment, durations, outputs_per_step, tolerance=1):
    """Share of decoder steps whose attended phone is within `tolerance` tokens of the true phone.

    For teacher-forced alignments, where the decoder's timing follows the recording. Only the utterance's
    own ceil(sum(durations) / r) steps are scored; `alignment` may have more rows (batch padding) but not
    fewer.

    Returns:
        float in [0, 1].
    """
    alignment = np.asarray(alignment)
    num_steps = num_steps_of(np.sum(durations), outputs_per_step)
    if alignment.shape[0] < num_steps:
        raise ValueError(f"alignment has {alignment.shape[0]} decoder steps, the durations need {num_steps}")
    attended = attended_phone(alignment[:num_steps])
    truth = true_phone_per_step(durations, outputs_per_step, num_steps)
    return float(np.mean(np.abs(attended - truth) <= tolerance))


def free_running_accuracy(alignment, matched_frames, durations, outputs_per_step, tolerance=1):
    """Share of free-running decoder steps whose attended phone is within `tolerance` tokens of the phone
    that the generated audio of that step matches in the recording.

    The generated and the recorded mel are aligned by dynamic time warping (DTW, computed by the caller);
    a step's middle generated frame (or the last generated frame) gives its recorded frame, and so its true
    phone. High when the audio says the attended phones and the attended phones follow the text in order;
    low when attention jumps around, or the decoder ignores it.

    Args:
        alignment: the free-running alignment; its first ceil(len(matched_frames) / r) rows are scored.
        matched_frames: [T_gen] int, the recorded frame that DTW matched to each generated frame.
    Returns:
        float in [0, 1].
    """
    matched_frames = np.asarray(matched_frames, dtype=np.int64)
    num_steps = num_steps_of(len(matched_frames), outputs_per_step)
    middles = np.minimum(np.arange(num_steps) * outputs_per_step + outputs_per_step // 2, len(matched_frames) - 1)
    truth = token_of_frame(durations, matched_frames[middles])
    attended = attended_phone(np.asarray(alignment)[:num_steps])
    return float(np.mean(np.abs(attended - truth) <= tolerance))


def matched_frames_from_path(path, num_generated):
    """For each generated frame, the first recorded frame a DTW path matches to it.

    Args:
        path: [P, 2] int (generated frame, recorded frame) pairs of a DTW path, in any order, covering every
            generated frame (as `librosa.sequence.dtw(...)[1]` with X = generated, Y = recorded).
        num_generated: T_gen.
    Returns:
        [T_gen] int64.
    """
    path = np.asarray(path, dtype=np.int64)
    matched = np.full(num_generated, np.iinfo(np.int64).max)
    np.minimum.at(matched, path[:, 0], path[:, 1])
    return matched


def focus_rate(alignment):
    """Mean over decoder steps of the largest attention weight (1 = every step attends one token only; a
    uniform alignment over N tokens gives 1 / N). Needs no durations, so it scores recordings too.

    Args:
        alignment: [T_dec, T_in] cut to the true lengths.
    """
    alignment = np.asarray(alignment, dtype=np.float64)
    return float(np.mean(np.max(alignment, axis=1))) if alignment.size else 0.0


def reaches_end(alignment, input_length):
    """Whether the attention gets to the end: the attended phone is >= input_length - 2 (the last label
    token or "~") at some decoder step."""
    attended = attended_phone(np.asarray(alignment)[:, :input_length])
    return bool(np.any(attended >= input_length - 2))


def skipped_phones(alignment, input_length, max_jump=3):
    """Tokens jumped over: the sum of (jump - 1) over the forward jumps of the attended phone by more than
    `max_jump` tokens in one decoder step.

    Short tokens (a 1-frame #0, a 2-frame tone) are legitimately passed within one step at r = 5, so only a
    jump larger than `max_jump` counts; then every token strictly between the two attended ones counts as
    skipped. The first step is compared with a virtual position -1, so attention that starts late (first
    attended phone >= max_jump) also skips the tokens before it. Tokens after the last attended one are not
    counted here (see `reaches_end`).

    Returns:
        int >= 0.
    """
    attended = attended_phone(np.asarray(alignment)[:, :input_length])
    jumps = np.diff(np.concatenate([[-1], attended]))
    return int(np.sum(jumps[jumps > max_jump] - 1))


def repeated_phones(alignment, input_length=None, min_backward=2):
    """Times attention goes back: the number of decoder steps at which the attended phone moves backward
    by `min_backward` tokens or more (a 1-token wobble between neighbours is not counted)."""
    alignment = np.asarray(alignment)
    if input_length is not None:
        alignment = alignment[:, :input_length]
    jumps = np.diff(attended_phone(alignment))
    return int(np.sum(jumps <= -min_backward))


def length_ratio(generated_frames, durations):
    """Generated frames / the recording's frames (sum of durations)."""
    return float(generated_frames) / float(np.sum(durations))


def score_alignment(alignment, input_length, max_jump=3, min_backward=2):
    """The alignment-only free-running scores of one utterance.

    Returns:
        dict(reaches_end bool, skipped_phones int, repeated_phones int).
    """
    return {"reaches_end": reaches_end(alignment, input_length),
            "skipped_phones": skipped_phones(alignment, input_length, max_jump),
            "repeated_phones": repeated_phones(alignment, input_length, min_backward)}


def score_free_running(alignment, input_length, generated_frames, hit_max_steps, durations, outputs_per_step,
                       matched_frames=None, max_jump=3, min_backward=2, ratio_range=(0.67, 1.5)):
    """All free-running scores of one synthesised utterance.

    Args:
        alignment: the free-running alignment; only its first ceil(generated_frames / r) rows are scored.
        input_length: T_in (label tokens + "~").
        generated_frames: mel frames produced (`mel_lengths`).
        hit_max_steps: True when decoding ended at the step limit, not by the stop token.
        durations: the recording's frames per token (only their sum is used).
        outputs_per_step: r.
        matched_frames: optional [generated_frames] DTW match of the generated frames in the recording
            (see `free_running_accuracy`).
        ratio_range: (low, high) bounds of an acceptable length ratio.
    Returns:
        `score_alignment`'s dict plus stopped (the stop token ended decoding), length_ratio (generated /
        recorded frames), clean (reaches the end, no skip, no repeat, stopped, length ratio in range) and,
        with matched_frames, dtw_accuracy (`free_running_accuracy`).
    """
    steps = num_steps_of(generated_frames, outputs_per_step)
    scores = score_alignment(np.asarray(alignment)[:max(steps, 1)], input_length, max_jump, min_backward)
    scores["stopped"] = not bool(hit_max_steps)
    scores["length_ratio"] = length_ratio(generated_frames, durations)
    scores["clean"] = bool(scores["reaches_end"] and scores["skipped_phones"] == 0
                           and scores["repeated_phones"] == 0 and scores["stopped"]
                           and ratio_range[0] <= scores["length_ratio"] <= ratio_range[1])
    if matched_frames is not None:
        scores["dtw_accuracy"] = free_running_accuracy(alignment, matched_frames, durations, outputs_per_step)
    return scores


def steps_to_align(history, threshold, consecutive=1):
    """The first training step from which the validation score is >= threshold at `consecutive`
    evaluations in a row (1: the first step that passes; more ignores a passing blip, e.g. an attention
    prior that happens to march at the right speed early in training).

    Args:
        history: [(step, score)] in any order (sorted here by step).
    Returns:
        int step, or None when no run of passing evaluations is long enough.
    """
    ordered = sorted(history)
    for index in range(len(ordered) - consecutive + 1):
        if all(score >= threshold for _, score in ordered[index:index + consecutive]):
            return int(ordered[index][0])
    return None
