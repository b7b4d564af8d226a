"""Loss functions and the learning-rate schedule against independent NumPy computations."""
import numpy as np
import pytest
import tensorflow as tf

from tacotron import losses
from tacotron.schedule import CourseSchedule
from tacotron.schedule import course_learning_rate


def test_frame_mask_covers_true_frames_only():
    mask = losses.frame_mask(tf.constant([1, 4, 5]), 8).numpy()
    np.testing.assert_array_equal(mask, [[1, 0, 0, 0, 0, 0, 0, 0],
                                         [1, 1, 1, 1, 0, 0, 0, 0],
                                         [1, 1, 1, 1, 1, 0, 0, 0]])


def test_frames_past_the_end_of_the_last_group_count_in_no_loss():
    """The course masks true frames: an utterance of 5 frames with r = 2 is decoded as 6, and the 6th (a
    stop-token positive in the padded targets) adds nothing to any loss term."""
    rng = np.random.default_rng(2)
    mel = rng.normal(size=(1, 6, 3)).astype(np.float32)
    batch = {"mel": mel, "mel_lengths": tf.constant([5]), "stop_targets": np.array([[0, 0, 0, 0, 1, 1]], np.float32)}
    outputs = {"mel_before": mel, "mel_after": mel, "stop_logits": np.full((1, 6), -3.0, np.float32)}
    changed = {"mel_before": mel.copy(), "mel_after": mel.copy(), "stop_logits": outputs["stop_logits"].copy()}
    changed["mel_before"][0, 5] += 10.0
    changed["mel_after"][0, 5] -= 10.0
    changed["stop_logits"][0, 5] = 40.0
    plain = losses.tacotron_loss(batch, outputs, losses.LossConfig(20.0))
    moved = losses.tacotron_loss(batch, changed, losses.LossConfig(20.0))
    for name in plain:
        assert float(plain[name]) == pytest.approx(float(moved[name]), rel=1e-6), name
    assert float(plain["before"]) == 0.0


def test_masked_mse_and_stop_loss_match_numpy():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(2, 6, 3)).astype(np.float32)
    outputs = rng.normal(size=(2, 6, 3)).astype(np.float32)
    logits = rng.normal(size=(2, 6)).astype(np.float32)
    stops = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1]], np.float32)
    lengths = np.array([4, 6])
    mask = np.zeros((2, 6), np.float32)
    mask[0, :4] = 1
    mask[1, :6] = 1
    expected_mse = sum(((outputs[b, :n] - targets[b, :n]) ** 2).mean(-1).sum() for b, n in enumerate(lengths))
    expected_mse /= lengths.sum()
    got = losses.masked_mse(targets, outputs, losses.frame_mask(tf.constant(lengths), 6))
    assert float(got) == pytest.approx(expected_mse, rel=1e-5)
    sigmoid = 1 / (1 + np.exp(-logits))
    per = -(20 * stops * np.log(sigmoid) + (1 - stops) * np.log(1 - sigmoid))
    expected_stop = (per * mask).sum() / mask.sum()
    got = losses.stop_token_loss(stops, logits, tf.constant(mask), 20.0)
    assert float(got) == pytest.approx(expected_stop, rel=1e-5)


def test_padding_does_not_change_the_loss():
    rng = np.random.default_rng(1)
    mel = rng.normal(size=(1, 4, 3)).astype(np.float32)
    out = rng.normal(size=(1, 4, 3)).astype(np.float32)
    batch = {"mel": mel, "mel_lengths": tf.constant([4]), "stop_targets": np.array([[0, 0, 0, 1]], np.float32)}
    outputs = {"mel_before": out, "mel_after": out, "stop_logits": np.zeros((1, 4), np.float32)}
    padded_batch = {"mel": np.pad(mel, [[0, 0], [0, 4], [0, 0]], constant_values=-4.1),
                    "mel_lengths": tf.constant([4]),
                    "stop_targets": np.pad(batch["stop_targets"], [[0, 0], [0, 4]], constant_values=1)}
    garbage = np.pad(out, [[0, 0], [0, 4], [0, 0]], constant_values=99.0)
    padded_outputs = {"mel_before": garbage, "mel_after": garbage,
                      "stop_logits": np.pad(outputs["stop_logits"], [[0, 0], [0, 4]], constant_values=-50.0)}
    plain = losses.tacotron_loss(batch, outputs, losses.LossConfig(20.0))
    padded = losses.tacotron_loss(padded_batch, padded_outputs, losses.LossConfig(20.0))
    for name in plain:
        assert float(plain[name]) == pytest.approx(float(padded[name]), rel=1e-6)


def test_course_schedule():
    kwargs = dict(start_lr=2e-4, end_lr=2e-6, start_decay=25000, decay_steps=25000, decay_rate=0.5)
    expected = {0: 2e-4, 24999: 2e-4, 25000: 2e-4, 49999: 2e-4, 50000: 1e-4, 75000: 5e-5,
                400000: max(2e-4 * 0.5 ** 15, 2e-6)}
    schedule = CourseSchedule(**kwargs)
    for step, value in expected.items():
        assert float(course_learning_rate(step, **kwargs)) == pytest.approx(value, rel=1e-5)
        assert float(schedule(step)) == pytest.approx(value, rel=1e-5)
    assert CourseSchedule(**schedule.get_config()).get_config() == schedule.get_config()


def _diagonal(steps, tokens):
    """A hard alignment [steps, tokens] that walks the diagonal: step i attends token floor(i * tokens / steps)."""
    alignment = np.zeros((steps, tokens), np.float32)
    alignment[np.arange(steps), (np.arange(steps) * tokens) // steps] = 1.0
    return alignment


def test_guided_attention_penalty_matches_numpy():
    sigma = 0.4
    got = losses.guided_attention_penalty(tf.constant([3, 5]), tf.constant([4, 2]), 5, 4, sigma).numpy()
    for b, (n, t) in enumerate([(3, 4), (5, 2)]):
        for i in range(4):
            for j in range(5):
                want = 1 - np.exp(-(j / n - i / t) ** 2 / (2 * sigma ** 2)) if i < t and j < n else 0.0
                assert got[b, i, j] == pytest.approx(want, abs=1e-6), (b, i, j)


def test_guided_attention_loss_is_small_on_the_diagonal_and_large_off_it():
    steps, tokens = 40, 20
    lengths, steps_t = tf.constant([tokens]), tf.constant([steps])
    diagonal = _diagonal(steps, tokens)
    anti = diagonal[::-1]
    uniform = np.full((steps, tokens), 1.0 / tokens, np.float32)
    cost = {name: float(losses.guided_attention_loss(a[None], lengths, steps_t, 0.4))
            for name, a in (("diagonal", diagonal), ("anti", anti), ("uniform", uniform))}
    assert cost["diagonal"] < 0.005  # within one token of j / N = i / T on every step
    assert cost["anti"] > 0.5 and cost["uniform"] > 0.1
    assert cost["diagonal"] < cost["uniform"] < cost["anti"]


def test_guided_attention_loss_ignores_padding():
    """Padding rows (decoder steps past the end) and columns (padded tokens) contribute nothing, whatever they
    hold, and an utterance's loss does not change when it is padded into a longer batch."""
    rng = np.random.default_rng(3)
    alignment = rng.dirichlet(np.ones(6), size=9).astype(np.float32)          # [9 steps, 6 tokens]
    alone = float(losses.guided_attention_loss(alignment[None], tf.constant([6]), tf.constant([9]), 0.4))
    padded = np.pad(alignment, [[0, 5], [0, 4]])
    padded[9:, :] = 1.0     # garbage in the padding rows ...
    padded[:, 6:] = 7.0     # ... and columns
    got = float(losses.guided_attention_loss(padded[None], tf.constant([6]), tf.constant([9]), 0.4))
    assert got == pytest.approx(alone, rel=1e-6)
    # In a batch with a longer utterance the same utterance costs the same (per-step mean over both).
    other = _diagonal(14, 10)
    batch = np.stack([padded, other])
    both = float(losses.guided_attention_loss(batch, tf.constant([6, 10]), tf.constant([9, 14]), 0.4))
    other_alone = float(losses.guided_attention_loss(other[None], tf.constant([10]), tf.constant([14]), 0.4))
    assert both == pytest.approx((alone * 9 + other_alone * 14) / 23, rel=1e-5)


def test_tacotron_loss_adds_the_weighted_guided_term():
    rng = np.random.default_rng(4)
    mel = rng.normal(size=(1, 8, 3)).astype(np.float32)
    batch = {"mel": mel, "mel_lengths": tf.constant([7]), "input_lengths": tf.constant([5]),
             "stop_targets": np.array([[0] * 6 + [1, 1]], np.float32)}
    alignments = rng.dirichlet(np.ones(5), size=4).astype(np.float32)[None]   # r = 2: 4 decoder steps
    outputs = {"mel_before": mel, "mel_after": mel, "stop_logits": np.zeros((1, 8), np.float32),
               "alignments": alignments}
    off = losses.tacotron_loss(batch, outputs, losses.LossConfig(20.0))
    on = losses.tacotron_loss(batch, outputs, losses.LossConfig(20.0, 2.5, 0.4))
    assert "guided" not in off
    want = float(losses.guided_attention_loss(alignments, tf.constant([5]), tf.constant([4]), 0.4))
    assert float(on["guided"]) == pytest.approx(want, rel=1e-6) and want > 0
    assert float(on["loss"]) == pytest.approx(float(off["loss"]) + 2.5 * want, rel=1e-6)
