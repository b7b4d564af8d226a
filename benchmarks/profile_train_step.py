"""Where the time of one training step goes: a breakdown by part of the model, plus the op counts of one
decoder step, on the same seeded synthetic batch as train_speed.py.

    .venv/bin/python benchmarks/profile_train_step.py --batch_size 16 --input_length 40 \
        --output_frames 400 --outputs_per_step 2

Each row is its own `tf.function`, timed warm (median of `--steps` after one traced call):
- full step: the trainer's step (forward, losses, gradients, clipping, Adam);
- forward: the model's teacher-forced forward pass and the losses, no gradients;
- forward + gradients: as the step without the optimizer update;
- encoder / decoder loop / post-net, each forward + gradients of a sum of its output with respect to its
  weights and inputs, on inputs of the real shapes;
- decoder loop, tiny widths: the same loop with every width 8 (same steps, same ops): what the
  while-loop machinery and per-op overhead cost, nearly without arithmetic.
Then the ops inside the forward and the gradient while-loop bodies (one decoder step each), by type, and
with `--op_profile N` the N op types that took the most time in one full step, from TensorFlow's profiler
(op time summed over both threads, so it can exceed the wall-clock time when ops overlap).
"""
import collections
import glob
import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags
import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from benchmarks import train_speed  # noqa: E402  (defines --batch_size --input_length --output_frames ...)
from tacotron.losses import loss_config_from  # noqa: E402
from tacotron.losses import tacotron_loss  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.trainer import set_mixed_precision  # noqa: E402

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(train_speed)
flags.DEFINE_integer("top_ops", 12, "Op types listed per loop body.")
flags.DEFINE_integer("op_profile", 0, "Also list the N op types that took the most time in one full step "
                     "(TensorFlow profiler); 0 = off.")

TINY = ("phone_embedding_dim=8,encoder_prenet_units=[8,8],cbhg_bank_size=2,cbhg_bank_filters=8,"
        "cbhg_projection_filters=[8,8],cbhg_highway_units=8,cbhg_highway_layers=1,cbhg_gru_units=4,"
        "decoder_prenet_units=[8,8],decoder_rnn_units=[8,8],attention_dim=8,gmm_hidden_units=8,"
        "postnet_layers=2,postnet_filters=8")


def _wait(outputs):
    """Reads every output (IndexedSlices through their values), so the call has finished."""
    for tensor in tf.nest.flatten(outputs, expand_composites=True):
        tensor.numpy()


def timed(function, *args):
    """Median wall-clock seconds of `function(*args)` over FLAGS.steps warm calls."""
    _wait(function(*args))
    times = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        _wait(function(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gradient_of_sum(layer_call, variables, inputs):
    """A tf.function: forward `layer_call(*inputs)`, then gradients of the sum of its output."""

    @tf.function
    def run(*tensors):
        with tf.GradientTape() as tape:
            tape.watch([t for t in tensors if t.dtype.is_floating])
            output = layer_call(*tensors)
            total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in tf.nest.flatten(output)
                              if t.dtype.is_floating])
        return tape.gradient(total, variables)

    return run


def part_functions(model, batch):
    """name -> (tf.function, args) for the encoder, decoder loop and post-net of `model`."""
    phones, lengths, mel = batch["phones"], batch["input_lengths"], batch["mel"]
    memory = model.encoder(phones, lengths, training=True)
    decoder_call = lambda m, targets: model.decoder(m, lengths, targets, training=True)  # noqa: E731
    postnet_call = lambda frames: model.postnet(frames, training=True)  # noqa: E731
    encoder_call = lambda p: model.encoder(p, lengths, training=True)  # noqa: E731
    return {
        "encoder": (gradient_of_sum(encoder_call, model.encoder.trainable_variables, [phones]), [phones]),
        "decoder loop": (gradient_of_sum(decoder_call, model.decoder.trainable_variables, [memory, mel]),
                         [memory, mel]),
        "post-net": (gradient_of_sum(postnet_call, model.postnet.trainable_variables, [mel]), [mel]),
    }


def loop_bodies(function, args):
    """{body name: Counter of op types} of the while-loop bodies in `function`'s graph."""
    graph = function.get_concrete_function(*args).graph.as_graph_def()
    bodies = {}
    for item in graph.library.function:
        name = item.signature.name
        if "body" in name:
            bodies[name] = collections.Counter(node.op for node in item.node_def)
    return bodies


def op_times(function, *args):
    """{op type: (milliseconds, calls)} of one call of `function`, from a TensorFlow profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # TensorFlow's own copy of the trace format
    with tempfile.TemporaryDirectory() as log_dir:
        tf.profiler.experimental.start(log_dir)
        _wait(function(*args))
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        (path,) = glob.glob(os.path.join(log_dir, "**", "*.xplane.pb"), recursive=True)
        with open(path, "rb") as trace:
            space.ParseFromString(trace.read())
    times, calls = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if line.name == "python":  # the caller's events; ops run on the executor's threads
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # op events are "name:Type", executor events "A::B"
                    op_type = name.rsplit(":", 1)[1]
                    if "__inference" in op_type:  # the whole function's event, not an op
                        continue
                    times[op_type] += event.duration_ps / 1e9
                    calls[op_type] += 1
    return {op_type: (milliseconds, calls[op_type]) for op_type, milliseconds in times.items()}


def build(overrides):
    hp = hparams_lib.load_hparams(overrides=overrides, preset=FLAGS.preset)
    keras.utils.set_random_seed(hp.random_seed)
    trainer = build_trainer(hp, FLAGS.mixed_precision, FLAGS.jit_compile)
    batch = train_speed.synthetic_batch(FLAGS.batch_size, FLAGS.input_length, FLAGS.output_frames, hp.outputs_per_step,
                            hp.acoustic_dim, FLAGS.seed)
    return hp, trainer, batch


def main(argv):
    del argv
    if FLAGS.preset == "both":
        raise app.UsageError("--preset must be course or small here")
    set_mixed_precision(FLAGS.mixed_precision)
    overrides = f"attention_type={FLAGS.attention_type},outputs_per_step={FLAGS.outputs_per_step}"
    if FLAGS.hparams:
        overrides += "," + FLAGS.hparams
    hp, trainer, batch = build(overrides)
    model = trainer.model
    frames = FLAGS.batch_size * FLAGS.output_frames
    steps = -(-FLAGS.output_frames // hp.outputs_per_step)
    print(f"{FLAGS.preset} model, {model.count_params() / 1e6:.2f} M parameters; batch {FLAGS.batch_size} x "
          f"{FLAGS.input_length} phones -> {FLAGS.output_frames} frames, r={hp.outputs_per_step} "
          f"({steps} decoder steps), {FLAGS.attention_type}, {FLAGS.mixed_precision}; median of "
          f"{FLAGS.steps} warm calls")
    loss_config = loss_config_from(hp)
    numeric = {name: value for name, value in batch.items() if name != "utt_id"}

    def forward(b):
        outputs = model(b["phones"], b["input_lengths"], b["mel"], b["mel_lengths"], training=True)
        return tacotron_loss(b, outputs, loss_config)["loss"]

    @tf.function
    def forward_only(b):
        return forward(b)

    @tf.function
    def forward_and_gradients(b):
        with tf.GradientTape() as tape:
            loss = forward(b)
        return tape.gradient(loss, trainer.variables)

    rows = [("full step", timed(trainer.train_step, batch)),
            ("forward", timed(forward_only, numeric)),
            ("forward + gradients", timed(forward_and_gradients, numeric))]
    parts = part_functions(model, numeric)
    for name, (function, args) in parts.items():
        rows.append((name + " (fwd + grad)", timed(function, *args)))
    _, tiny_trainer, tiny_batch = build(overrides + "," + TINY)
    tiny_parts = part_functions(tiny_trainer.model, {k: v for k, v in tiny_batch.items() if k != "utt_id"})
    rows.append(("decoder loop, tiny widths (fwd + grad)", timed(*_unpack(tiny_parts["decoder loop"]))))
    full = rows[0][1]
    print(f"{'part':<40} {'seconds':>8} {'share of step':>14}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds:8.3f} {seconds / full:13.0%}")
    print(f"training throughput: {frames / full:.0f} frames/s")
    function, args = parts["decoder loop"]
    for name, counts in sorted(loop_bodies(function, args).items()):
        total = sum(counts.values())
        top = ", ".join(f"{op} {n}" for op, n in counts.most_common(FLAGS.top_ops))
        print(f"loop body {name[:60]}: {total} ops; {top}")
    if FLAGS.op_profile:
        profile = op_times(trainer.train_step, batch)
        print("op types by time in one full step (profiler; op time, both threads):")
        for op_type, (milliseconds, calls) in sorted(profile.items(), key=lambda item: -item[1][0])[
                :FLAGS.op_profile]:
            print(f"  {op_type:<36} {milliseconds:9.1f} ms {calls:7d} calls")


def _unpack(pair):
    function, args = pair
    return (function, *args)


if __name__ == "__main__":
    FLAGS.set_default("preset", "course")
    FLAGS.set_default("batch_size", 16)
    FLAGS.set_default("output_frames", 400)
    FLAGS.set_default("steps", 3)
    app.run(main)
