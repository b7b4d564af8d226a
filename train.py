"""Trains the Tacotron on the output of preprocess.py.

    python train.py --data_dir=features --log_dir=runs/gmm --preset=small --hparams="gmm_version=v2b"

Resumes automatically from the latest checkpoint in --log_dir (step counter and learning-rate schedule
continue exactly). TensorBoard: `tensorboard --logdir runs`.
"""
import math
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import keras
import tensorflow as tf

import hparams as hparams_lib
from datasets.data_reader import DataError
from datasets.data_reader import dataset_from_hparams
from tacotron import summaries
from tacotron.checkpoints import CheckpointMismatchError
from tacotron.checkpoints import make_checkpoint
from tacotron.checkpoints import restore
from tacotron.model import create_model
from tacotron.synthesis import infer_function
from tacotron.synthesis import vocoder_function
from tacotron.trainer import create_optimizer
from tacotron.trainer import make_eval_step
from tacotron.trainer import make_train_step
from tacotron.trainer import trainable_variables

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "preprocess.py output (metadata.csv, train.txt, valid.txt, mels/).")
# --log_dir (checkpoints, TensorBoard events, hparams.yaml, plots) is absl's own flag of that name, which
# absl.logging defines; we use it as the training directory.
flags.DEFINE_string("config", None, "hparams YAML (flat or course-sectioned).")
flags.DEFINE_string("hparams", "", 'Overrides, e.g. "batch_size=16,attention_type=gmm,gmm_version=v2b".')
flags.DEFINE_enum("preset", "course", hparams_lib.PRESETS, "Model size preset: course or small (CPU).")
flags.DEFINE_integer("max_steps", None, "Stop at this global step (default: total_training_steps).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_float16", "mixed_bfloat16"],
                  "Keras mixed-precision policy.")
flags.DEFINE_integer("valid_batches", 4, "Validation batches per summary (0 = none).")
flags.DEFINE_float("explode_loss", 1e4, "A loss above this (or NaN/inf) stops training with an error.")
flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into N logical devices and mirror training across them "
                     "(exercises the multi-GPU MirroredStrategy path on a machine without GPUs).")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite or exploding loss)."""


def pick_strategy(cpu_replicas=0):
    """MirroredStrategy when more than one GPU is visible (or `cpu_replicas` > 1), else the default one."""
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(cpu_replicas)])
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def build_training(hp, log_dir, mixed_precision, jit_compile, strategy):
    """Model, optimizer, checkpoint manager (restored) and the step functions."""
    with strategy.scope():
        model = create_model(hp)
        optimizer = create_optimizer(hp, mixed_precision)
        variables = trainable_variables(model, hp.retrain_decoder_only)
        optimizer.build(variables)
    # The step counter is only touched by the Python loop: a plain (not mirrored) variable.
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    checkpoint = make_checkpoint(model, optimizer, step)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(log_dir, "checkpoints"),
                                         max_to_keep=hp.keep_checkpoint_max, checkpoint_name="ckpt")
    if manager.latest_checkpoint:
        try:
            restore(checkpoint, manager.latest_checkpoint)
        except CheckpointMismatchError as error:
            raise TrainingError(str(error)) from None
        logging.info("Resumed from %s at step %d", manager.latest_checkpoint, int(step))
    train_step = make_train_step(model, optimizer, variables, hp.outputs_per_step, hp.cross_entropy_pos_weight,
                                 hp.acoustic_dim, jit_compile=jit_compile, strategy=strategy)
    eval_step = make_eval_step(model, hp.outputs_per_step, hp.cross_entropy_pos_weight, hp.acoustic_dim)
    return model, step, manager, train_step, eval_step


def summarize(hp, log_dir, writer, global_step, infer, eval_step, valid_dataset, valid_batches, vocoder):
    """Validation losses, images and one free-running synthesis."""
    plot_dir = os.path.join(log_dir, "plots")
    losses, first = [], None
    for batch in valid_dataset.take(max(valid_batches, 1)):
        batch_losses, outputs = eval_step(batch)
        losses.append(batch_losses)
        if first is None:
            first = (batch, outputs)
    summaries.write_scalars(writer, global_step, "valid", summaries.mean_of(losses))
    batch, outputs = first
    path = summaries.write_teacher_forced(writer, global_step, plot_dir, batch, outputs)
    length = int(batch["input_lengths"][0])
    synthesis = summaries.write_free_running(
        writer, global_step, plot_dir, infer, vocoder, batch["phones"][0, :length].numpy(), length,
        batch["utt_id"][0].numpy().decode(), hp.sample_rate, hp.random_seed, hp.outputs_per_step)
    logging.info("step %d: valid loss %.4f, alignment %s, free-running %d frames%s", global_step,
                 summaries.mean_of(losses)["loss"], path, synthesis["frames"],
                 " (hit max steps)" if synthesis["hit_max_steps"] else "")


def train(hp, data_dir, log_dir, max_steps, mixed_precision="none", jit_compile=False, valid_batches=4,
          explode_loss=1e4, cpu_replicas=0):
    """The training loop. Returns the final global step."""
    os.makedirs(log_dir, exist_ok=True)
    keras.utils.set_random_seed(hp.random_seed)
    if mixed_precision != "none":
        keras.mixed_precision.set_global_policy(mixed_precision)
    hp.save(os.path.join(log_dir, "hparams.yaml"))
    strategy = pick_strategy(cpu_replicas)
    model, step, manager, train_step, eval_step = build_training(hp, log_dir, mixed_precision, jit_compile,
                                                                  strategy)
    train_dataset = dataset_from_hparams(data_dir, "train", hp, training=True)
    if strategy.num_replicas_in_sync > 1:
        train_dataset = strategy.experimental_distribute_dataset(train_dataset)
    valid_dataset = dataset_from_hparams(data_dir, "valid", hp, training=False)
    writer = tf.summary.create_file_writer(log_dir)
    infer, vocoder = infer_function(model), vocoder_function(hp)
    average, last_saved = None, int(step)
    iterator = iter(train_dataset)
    try:
        while int(step) < max_steps:
            batch = next(iterator)
            start = time.perf_counter()
            results = {name: float(value) for name, value in train_step(batch).items()}
            seconds = time.perf_counter() - start
            global_step = int(step.assign_add(1))
            loss = results["loss"]
            if not math.isfinite(loss) or loss > explode_loss:
                raise TrainingError(
                    f"step {global_step}: loss is {loss} (NaN, inf or above --explode_loss={explode_loss}); "
                    f"stopped without saving, last good checkpoint: {manager.latest_checkpoint}")
            average = loss if average is None else 0.95 * average + 0.05 * loss
            frames = sum(int(tf.reduce_sum(lengths))
                         for lengths in strategy.experimental_local_results(batch["mel_lengths"]))
            print(f"step {global_step:7d}  {seconds:6.3f} s/step  loss {loss:.4f}  avg loss {average:.4f}  "
                  f"{frames / seconds:9.0f} frames/s", flush=True)
            if global_step % hp.save_summary_steps == 0:
                summaries.write_scalars(writer, global_step, "train", results)
                if valid_batches > 0:
                    summarize(hp, log_dir, writer, global_step, infer, eval_step, valid_dataset, valid_batches,
                              vocoder)
            if global_step % hp.save_checkpoints_steps == 0:
                manager.save(checkpoint_number=global_step)
                last_saved = global_step
    except KeyboardInterrupt:
        logging.warning("Interrupted at step %d: saving a checkpoint.", int(step))
    if int(step) != last_saved:
        manager.save(checkpoint_number=int(step))
    if valid_batches > 0 and int(step) % hp.save_summary_steps != 0:
        summarize(hp, log_dir, writer, int(step), infer, eval_step, valid_dataset, valid_batches, vocoder)
    writer.flush()
    print(f"Finished at step {int(step)}; checkpoint {manager.latest_checkpoint}", flush=True)
    return int(step)


def main(argv):
    del argv
    if not FLAGS.log_dir:
        raise app.UsageError("--log_dir is required (the training directory)")
    try:
        hp = hparams_lib.load_hparams(FLAGS.config, FLAGS.hparams, FLAGS.preset)
        max_steps = FLAGS.max_steps if FLAGS.max_steps is not None else hp.total_training_steps
        train(hp, FLAGS.data_dir, FLAGS.log_dir, max_steps, FLAGS.mixed_precision, FLAGS.jit_compile,
              FLAGS.valid_batches, FLAGS.explode_loss, FLAGS.cpu_replicas)
    except (TrainingError, hparams_lib.HParamsError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
