"""Tacotron losses (course values): masked MSE before/after the post-net and a weighted stop-token loss, plus
an optional guided attention loss (Tachibana et al. 2018; not in the course).

Pure functions; tests call them directly.
"""
import collections

import tensorflow as tf


def frame_mask(mel_lengths, max_frames):
    """1.0 over each utterance's true frames, 0.0 over padding (the course's `compute_mask`): the frames the
    decoder emits past an utterance's end to fill its last group of r count in no loss.

    Args:
        mel_lengths: [B] int32 true frame counts.
        max_frames: T_out (scalar).
    Returns:
        [B, T_out] float32.
    """
    return tf.sequence_mask(mel_lengths, max_frames, dtype=tf.float32)


def masked_mse(targets, outputs, mask):
    """Mean squared error over the masked frames.

    Args:
        targets, outputs: [B, T_out, n_mels]; mask: [B, T_out].
    Returns:
        scalar float32.
    """
    squared = tf.square(tf.cast(outputs, tf.float32) - tf.cast(targets, tf.float32))
    per_frame = tf.reduce_mean(squared, axis=-1)
    return tf.reduce_sum(per_frame * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def stop_token_loss(stop_targets, stop_logits, mask, pos_weight):
    """Masked sigmoid cross-entropy with positive weight `pos_weight` (course: 20).

    Args:
        stop_targets: [B, T_out] 0/1; stop_logits: [B, T_out]; mask: [B, T_out].
    """
    losses = tf.nn.weighted_cross_entropy_with_logits(
        labels=tf.cast(stop_targets, tf.float32), logits=tf.cast(stop_logits, tf.float32),
        pos_weight=pos_weight)
    return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def guided_attention_penalty(input_lengths, decoder_lengths, max_input, max_decoder, sigma):
    """Tachibana et al. 2018's penalty matrix W[i, j] = 1 - exp(-(j / N - i / T)^2 / (2 sigma^2)) for decoder
    step i < T and encoder step j < N of each utterance (T, N its true lengths), 0 elsewhere.

    Args:
        input_lengths: [B] int32 N; decoder_lengths: [B] int32 T.
        max_input: T_in; max_decoder: T_dec (scalars).
        sigma: width of the penalty-free band around the diagonal (0.4 in ESPnet, Coqui, TensorFlowTTS).
    Returns:
        [B, T_dec, T_in] float32.
    """
    n = tf.cast(input_lengths, tf.float32)[:, None, None]
    t = tf.cast(decoder_lengths, tf.float32)[:, None, None]
    j = tf.cast(tf.range(max_input), tf.float32)[None, None, :]
    i = tf.cast(tf.range(max_decoder), tf.float32)[None, :, None]
    penalty = 1.0 - tf.exp(-tf.square(j / n - i / t) / (2.0 * sigma * sigma))
    valid = (tf.sequence_mask(decoder_lengths, max_decoder, dtype=tf.float32)[:, :, None]
             * tf.sequence_mask(input_lengths, max_input, dtype=tf.float32)[:, None, :])
    return penalty * valid


def guided_attention_loss(alignments, input_lengths, decoder_lengths, sigma):
    """Attention mass away from the diagonal j / N = i / T, per true decoder step: sum over j and the true
    steps i of alignments * W, divided by the number of true decoder steps. A row of a softmax alignment
    sums to 1, so the loss lies in [0, 1) and does not shrink as inputs grow (ESPnet and Tachibana average
    over the N * T cells instead, which is this value / N). Padding rows and columns contribute nothing.

    Args:
        alignments: [B, T_dec, T_in] attention weights of every decoder step.
        input_lengths: [B] int32; decoder_lengths: [B] int32 true decoder steps (ceil(frames / r)).
        sigma: see guided_attention_penalty.
    Returns:
        scalar float32.
    """
    shape = tf.shape(alignments)
    penalty = guided_attention_penalty(input_lengths, decoder_lengths, shape[2], shape[1], sigma)
    total = tf.reduce_sum(tf.cast(alignments, tf.float32) * penalty)
    return total / tf.maximum(tf.cast(tf.reduce_sum(decoder_lengths), tf.float32), 1.0)


# The loss settings; field names are the hparam names (loss_config_from(hp)).
LossConfig = collections.namedtuple(
    "LossConfig", ["cross_entropy_pos_weight", "guided_attention_weight", "guided_attention_sigma"],
    defaults=[0.0, 0.4])


def loss_config_from(hp):
    """The LossConfig of an HParams."""
    return LossConfig(*(getattr(hp, field) for field in LossConfig._fields))


def tacotron_loss(batch, outputs, config):
    """All loss terms for one batch.

    Args:
        batch: dict with mel [B, T_out, n_mels], mel_lengths [B], stop_targets [B, T_out], and input_lengths
            [B] when the guided attention loss is on.
        outputs: dict with mel_before [B, T_out, n_mels], mel_after (same), stop_logits [B, T_out], and
            alignments [B, T_dec, T_in] (T_out = r * T_dec) when the guided attention loss is on.
        config: LossConfig.
    Returns:
        dict(loss, before, after, stop) of scalars, and "guided" (unweighted) when its weight is > 0.
    """
    mask = frame_mask(batch["mel_lengths"], tf.shape(batch["mel"])[1])
    before = masked_mse(batch["mel"], outputs["mel_before"], mask)
    after = masked_mse(batch["mel"], outputs["mel_after"], mask)
    stop = stop_token_loss(batch["stop_targets"], outputs["stop_logits"], mask, config.cross_entropy_pos_weight)
    terms = {"loss": before + after + stop, "before": before, "after": after, "stop": stop}
    if config.guided_attention_weight > 0:
        r = tf.shape(batch["mel"])[1] // tf.shape(outputs["alignments"])[1]
        decoder_lengths = (tf.cast(batch["mel_lengths"], tf.int32) + r - 1) // r
        terms["guided"] = guided_attention_loss(outputs["alignments"], batch["input_lengths"], decoder_lengths,
                                                config.guided_attention_sigma)
        terms["loss"] += config.guided_attention_weight * terms["guided"]
    return terms
