"""Time of the decoder LSTMs alone, per decoder step: the floor under free-running synthesis.

    .venv/bin/python benchmarks/lstm_step_speed.py --batch_sizes 1,16 --precision both --repeats 5

Runs the course-size StackedZoneoutLSTM (two layers of 1024 units on a 768-wide input: the pre-net's 256
plus the 512-wide context) for --steps steps in a tf.while_loop, the way free-running decoding does
(inference zoneout, fused kernels made once before the loop, float32 states unit-major), and prints the
fastest of --repeats warm runs per batch size and precision. With r frames per step of hop/sample_rate
seconds each, ms per step / (r * 12.5 ms) is the real-time factor these products alone would cost
(course features: hop 200 at 16 kHz).
"""
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from modules.rnn_cells import StackedZoneoutLSTM  # noqa: E402  (after the sys.path line, to run as a script)

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes to time.")
flags.DEFINE_enum("precision", "both", ["float32", "bfloat16", "both"], "Precision of the products.")
flags.DEFINE_integer("steps", 200, "Decoder steps per run (200 = 400 frames at r = 2).")
flags.DEFINE_integer("repeats", 5, "Timed runs of each setting; the fastest is reported.")
flags.DEFINE_integer("outputs_per_step", 2, "r, for the real-time factor.")

UNITS, INPUT_WIDTH, FRAME_SECONDS = [1024, 1024], 768, 200 / 16000


def make_run(stack, precision, steps):
    """A tf.function running `steps` steps of `stack` on a fixed input [B, INPUT_WIDTH]."""

    @tf.function
    def run(inputs):
        kernels = stack.fused_kernels(precision)
        states = stack.loop_states(stack.get_initial_state(tf.shape(inputs)[0]), kernels)

        def body(step, states, total):
            output, states = stack(inputs * tf.cast(step + 1, inputs.dtype), states, training=False,
                                   fused_kernels=kernels)
            return step + 1, states, total + output[0, 0]

        return tf.while_loop(lambda step, *_: step < steps, body, (0, states, tf.constant(0.0)))[2]

    return run


def main(_):
    stack = StackedZoneoutLSTM(units=UNITS, zoneout_rate=0.1)
    stack.build((None, INPUT_WIDTH))
    precisions = ["float32", "bfloat16"] if FLAGS.precision == "both" else [FLAGS.precision]
    rng = np.random.default_rng(0)
    print(f"decoder LSTMs {UNITS} on a {INPUT_WIDTH}-wide input, {FLAGS.steps} steps, fastest of {FLAGS.repeats}")
    for batch_size in (int(b) for b in FLAGS.batch_sizes):
        inputs = tf.constant(rng.standard_normal((batch_size, INPUT_WIDTH)).astype(np.float32) * 0.01)
        runs = {precision: make_run(stack, precision, FLAGS.steps) for precision in precisions}
        for run in runs.values():
            float(run(inputs))  # trace and warm up
        best = {precision: float("inf") for precision in precisions}
        for _ in range(FLAGS.repeats):  # interleaved, so a noisy moment hits every setting alike
            for precision, run in runs.items():
                start = time.perf_counter()
                float(run(inputs))
                best[precision] = min(best[precision], time.perf_counter() - start)
        for precision in precisions:
            ms = best[precision] / FLAGS.steps * 1e3
            floor = ms / 1e3 / (FLAGS.outputs_per_step * FRAME_SECONDS)
            print(f"batch {batch_size:3d} {precision:9s}: {ms:6.2f} ms per step -> RTF of the LSTMs alone "
                  f"{floor:.3f} (batch throughput: {floor / batch_size:.4f} per utterance)")


if __name__ == "__main__":
    app.run(main)
