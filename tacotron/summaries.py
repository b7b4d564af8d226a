"""TensorBoard summaries and the PNGs written beside them during training."""
import os

import numpy as np
import tensorflow as tf

from tacotron.plotting import alignment_png
from tacotron.plotting import mel_comparison_png
from tacotron.plotting import write_png


def _image(png_bytes):
    return tf.image.decode_png(png_bytes, channels=4)[None]


def write_scalars(writer, step, prefix, values):
    """values: dict name -> float."""
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.scalar(f"{prefix}/{name}", float(value))


def write_teacher_forced(writer, step, plot_dir, batch, outputs, index=0):
    """Alignment and predicted-vs-target mel images for one utterance of a batch; also PNG files.

    Returns the alignment PNG path.
    """
    utt_id = batch["utt_id"][index].numpy().decode()
    input_length = int(batch["input_lengths"][index])
    frames = int(batch["mel_lengths"][index])
    r = outputs["mel_after"].shape[1] // outputs["alignments"].shape[1]
    steps = -(-frames // r)
    alignment = alignment_png(outputs["alignments"][index].numpy(), title=f"{utt_id} step {step}",
                              input_length=input_length, output_steps=steps)
    mel = mel_comparison_png(outputs["mel_after"][index, :frames].numpy(),
                             batch["mel"][index, :frames].numpy(), title=utt_id)
    with writer.as_default(step=step):
        tf.summary.image("train/alignment", _image(alignment))
        tf.summary.image("train/mel", _image(mel))
    os.makedirs(plot_dir, exist_ok=True)
    path = os.path.join(plot_dir, f"alignment_step{step:07d}.png")
    write_png(path, alignment)
    write_png(os.path.join(plot_dir, "alignment_latest.png"), alignment)
    return path


def write_free_running(writer, step, plot_dir, infer, vocoder, phones, input_length, utt_id, sample_rate,
                       seed, outputs_per_step):
    """Synthesises one validation utterance free-running; alignment image and Griffin-Lim audio.

    Args:
        infer, vocoder: tacotron.synthesis.infer_function(model) and vocoder_function(hp).
        phones: [T_in] int32 ids of the utterance.
    Returns:
        dict(frames, hit_max_steps).
    """
    result = infer(tf.constant(phones[None], tf.int32), tf.constant([input_length], tf.int32),
                   tf.constant([seed], tf.int32))
    frames = int(result["mel_lengths"][0])
    r = outputs_per_step
    alignment = alignment_png(result["alignments"][0].numpy(), title=f"{utt_id} free-running step {step}",
                              input_length=input_length, output_steps=-(-frames // r))
    wav, _ = vocoder(result["mel"][:, :frames], tf.constant([frames], tf.int32))
    with writer.as_default(step=step):
        tf.summary.image("synthesis/alignment", _image(alignment))
        tf.summary.audio("synthesis/griffin_lim", wav[:, :, None], sample_rate=sample_rate)
        tf.summary.scalar("synthesis/frames", frames)
    write_png(os.path.join(plot_dir, "free_running_latest.png"), alignment)
    return {"frames": frames, "hit_max_steps": bool(result["hit_max_steps"][0])}


def mean_of(dicts):
    """Averages a list of dicts of scalars."""
    return {name: float(np.mean([float(d[name]) for d in dicts])) for name in dicts[0]}
