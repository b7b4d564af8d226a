"""Training speed of the course-size model and the small preset, on the same synthetic batch, in one run.

    .venv/bin/python benchmarks/train_speed.py --preset both --batch_size 8 --input_length 40 \
        --output_frames 200 --outputs_per_step 2 --steps 5 --warmup 2

Frames per second = target mel frames in the batch (batch_size x output_frames, padding not counted) /
the median wall-clock seconds of one training step (forward, loss, gradients, Adam update) over `--steps`
timed steps after `--warmup` untimed ones (the first of which traces the step function). The batch is
synthetic and seeded: every utterance has exactly `--input_length` phones (the last one "~") and
`--output_frames` mel frames, so the figures depend only on the sizes, not on a corpus. The defaults are
small (a course batch is 48 utterances of a few hundred frames) so that the course-size model finishes in
a few minutes on 2 CPU cores; frames per second grows with the batch until the device is saturated.
"""
import os
import statistics
import sys
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from tacotron.trainer import MIXED_PRECISIONS  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.trainer import set_mixed_precision  # noqa: E402
from text.phones_mix import NUM_IDS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "both", list(hparams_lib.PRESETS) + ["both"], "Model size(s) to time.")
flags.DEFINE_integer("batch_size", 8, "Utterances per batch (the course trains with 48).")
flags.DEFINE_integer("input_length", 40, "Phones per utterance, including the final '~'.")
flags.DEFINE_integer("output_frames", 200, "Mel frames per utterance (padded to a multiple of r).")
flags.DEFINE_integer("outputs_per_step", 2, "r, mel frames per decoder step (the course recipe uses 2).")
flags.DEFINE_integer("steps", 5, "Timed training steps; the median is reported.")
flags.DEFINE_integer("warmup", 2, "Untimed steps first (the first one traces the step function).")
flags.DEFINE_enum("attention_type", "gmm", list(hparams_lib.ATTENTION_TYPES), "Attention mechanism.")
flags.DEFINE_bool("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_enum("mixed_precision", "none", list(MIXED_PRECISIONS),
                  "Keras mixed-precision policy.")
flags.DEFINE_string("hparams", "", "Extra hparams overrides applied to both presets.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic batch.")


def synthetic_batch(batch_size, input_length, output_frames, outputs_per_step, acoustic_dim, seed):
    """A training batch dict (see tacotron/trainer.py: batch_signature) of equal-length utterances.

    phones [B, input_length] random phone ids ending with "~" (id 1); mel [B, T_out, acoustic_dim] a
    smooth pattern in the normalised range, T_out = output_frames rounded up to a multiple of r (padding
    -4, as the reader pads); stop_targets [B, T_out] 1 from the last real frame on.
    """
    rng = np.random.default_rng(seed)
    t_out = -(-output_frames // outputs_per_step) * outputs_per_step
    phones = rng.integers(2, NUM_IDS, size=(batch_size, input_length)).astype(np.int32)
    phones[:, -1] = 1
    time_axis = np.arange(output_frames)[None, :, None]
    bands = np.arange(acoustic_dim)[None, None, :]
    rates = rng.uniform(0.05, 0.3, size=(batch_size, 1, 1))
    mel = np.full((batch_size, t_out, acoustic_dim), -4.0, np.float32)
    mel[:, :output_frames] = 3.0 * np.sin(rates * time_axis + 0.1 * bands)
    stop = np.zeros((batch_size, t_out), np.float32)
    stop[:, output_frames - 1:] = 1.0
    return {"utt_id": tf.constant([f"synthetic{b}" for b in range(batch_size)]),
            "phones": tf.constant(phones), "input_lengths": tf.fill([batch_size], input_length),
            "mel": tf.constant(mel), "mel_lengths": tf.fill([batch_size], output_frames),
            "stop_targets": tf.constant(stop)}


def preset_hparams(preset):
    overrides = f"attention_type={FLAGS.attention_type},outputs_per_step={FLAGS.outputs_per_step}"
    if FLAGS.hparams:
        overrides += "," + FLAGS.hparams
    return hparams_lib.load_hparams(overrides=overrides, preset=preset)


def time_training(hp, batch, steps, warmup):
    """Returns dict(parameters, first_step, seconds_per_step) for one model trained on `batch`."""
    keras.utils.set_random_seed(hp.random_seed)
    trainer = build_trainer(hp, FLAGS.mixed_precision, FLAGS.jit_compile)
    model, train_step = trainer.model, trainer.train_step
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        float(train_step(batch)["loss"])  # waits for the step to finish
        times.append(time.perf_counter() - start)
    return {"parameters": model.count_params(), "first_step": times[0],
            "seconds_per_step": statistics.median(times[warmup:])}


def main(argv):
    del argv
    if FLAGS.steps < 1 or FLAGS.warmup < 1:
        raise app.UsageError("--steps and --warmup must be at least 1")
    set_mixed_precision(FLAGS.mixed_precision)
    presets = list(hparams_lib.PRESETS) if FLAGS.preset == "both" else [FLAGS.preset]
    frames = FLAGS.batch_size * FLAGS.output_frames
    print(f"synthetic batch: {FLAGS.batch_size} utterances x {FLAGS.input_length} phones -> "
          f"{FLAGS.output_frames} mel frames ({frames} frames per step), r={FLAGS.outputs_per_step}, "
          f"{FLAGS.attention_type} attention, jit_compile={FLAGS.jit_compile}, "
          f"mixed_precision={FLAGS.mixed_precision}; {FLAGS.warmup} warm-up + {FLAGS.steps} timed steps "
          f"(median); {os.cpu_count()} CPUs, TF devices: "
          f"{[device.device_type for device in tf.config.list_logical_devices()]}")
    print("note: small batch and short utterances so the course-size model finishes in minutes on a CPU; "
          "the course trains on batches of 48 utterances of a few hundred frames")
    results = {}
    for preset in presets:
        hp = preset_hparams(preset)
        batch = synthetic_batch(FLAGS.batch_size, FLAGS.input_length, FLAGS.output_frames, hp.outputs_per_step,
                                hp.acoustic_dim, FLAGS.seed)
        result = time_training(hp, batch, FLAGS.steps, FLAGS.warmup)
        result["frames_per_second"] = frames / result["seconds_per_step"]
        results[preset] = result
        print(f"{preset} model ({result['parameters'] / 1e6:.2f} M parameters): "
              f"{result['frames_per_second']:.1f} frames/s, {result['seconds_per_step']:.3f} s/step "
              f"(first step with tracing {result['first_step']:.1f} s)")
    if len(results) == 2:
        ratio = results["small"]["frames_per_second"] / results["course"]["frames_per_second"]
        print(f"small / course training frames per second: {ratio:.2f}x")


if __name__ == "__main__":
    app.run(main)
