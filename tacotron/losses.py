"""Tacotron losses (course values): masked MSE before/after the post-net and a weighted stop-token loss.

Pure functions; tests call them directly.
"""
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


def tacotron_loss(batch, outputs, pos_weight):
    """All loss terms for one batch.

    Args:
        batch: dict with mel [B, T_out, n_mels], mel_lengths [B], stop_targets [B, T_out].
        outputs: dict with mel_before [B, T_out, n_mels], mel_after (same), stop_logits [B, T_out].
    Returns:
        dict(loss, before, after, stop) of scalars.
    """
    mask = frame_mask(batch["mel_lengths"], tf.shape(batch["mel"])[1])
    before = masked_mse(batch["mel"], outputs["mel_before"], mask)
    after = masked_mse(batch["mel"], outputs["mel_after"], mask)
    stop = stop_token_loss(batch["stop_targets"], outputs["stop_logits"], mask, pos_weight)
    return {"loss": before + after + stop, "before": before, "after": after, "stop": stop}
