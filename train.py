"""Trains the Tacotron on the output of preprocess.py.

    python train.py --data_dir=features --log_dir=runs/gmm --preset=small --hparams="gmm_version=v2b"

Resumes automatically from the latest checkpoint in --log_dir (step counter, learning-rate schedule and the
order of the training batches continue exactly). TensorBoard: `tensorboard --logdir runs`.
"""
import math
import os
import signal
import threading
import time

from absl import app
from absl import flags
import keras
import tensorflow as tf

import hparams as hparams_lib
from datasets.data_reader import DataError
from datasets.data_reader import dataset_from_hparams
from tacotron import run_dir
from tacotron import summaries
from tacotron.checkpoints import CheckpointMismatchError
from tacotron.checkpoints import make_checkpoint
from tacotron.checkpoints import restore
from tacotron.cli import fail
from tacotron.progress import Progress
from tacotron.synthesis import infer_function
from tacotron.synthesis import vocoder_function
from tacotron.trainer import MIXED_PRECISIONS
from tacotron.trainer import build_trainer
from tacotron.trainer import set_mixed_precision

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "preprocess.py output (metadata.csv, train.txt, valid.txt, mels/).")
# --log_dir (checkpoints, TensorBoard events, hparams.yaml, plots) is absl's own flag of that name, which
# absl.logging defines; we use it as the training directory.
flags.DEFINE_string("config", None, "hparams YAML (flat or course-sectioned; the course's hparams.yaml loads).")
flags.DEFINE_alias("yaml_conf", "config")
flags.DEFINE_string("hparams", "", 'Overrides, e.g. "batch_size=16,attention_type=gmm,gmm_version=v2b".')
flags.DEFINE_enum("preset", "course", hparams_lib.PRESETS, "Model size preset: course or small (CPU).")
flags.DEFINE_integer("max_steps", None, "Stop at this global step (default: total_training_steps).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_enum("mixed_precision", "none", list(MIXED_PRECISIONS),
                  "Keras mixed-precision policy; mixed_bfloat16 trains fastest on CPUs with AMX (README, "
                  "Training notes).")
flags.DEFINE_integer("valid_batches", 4, "Validation batches per summary (0 = none).")
flags.DEFINE_float("explode_loss", 1e4, "A loss above this (or NaN/inf) stops training with an error.")
flags.DEFINE_float("progress_seconds", 30.0, "Without a terminal: seconds between plain progress lines (a terminal "
                   "gets a progress bar).", lower_bound=0.0)
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


def restore_or_start(trainer, hp, log_dir):
    """The step counter, the checkpoint manager, and the restored state of the latest complete checkpoint.

    Raises TrainingError when that checkpoint does not fit these hparams (naming the ones that differ from
    the run's hparams.yaml); nothing in the run directory is written before that check.
    """
    # The step counter is only touched by the Python loop: a plain (not mirrored) variable.
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    checkpoint = make_checkpoint(trainer.model, trainer.optimizer, step)
    manager = run_dir.checkpoint_manager(checkpoint, log_dir, hp.keep_checkpoint_max)
    run_dir.remove_partial_checkpoints(log_dir)  # a save cut short by a kill
    if manager.latest_checkpoint:
        try:
            restore(checkpoint, manager.latest_checkpoint)
        except CheckpointMismatchError as error:
            raise TrainingError(f"{error}{clash_note(hp, log_dir)}") from None
    return step, manager


def save_checkpoint(manager, log_dir, step):
    """Saves checkpoint `step`; a failed write (disk full, ...) is a TrainingError naming the checkpoint
    that stays the latest complete one (TensorFlow writes a checkpoint to temporary names and lists it
    as the latest only once it is whole)."""
    try:
        manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as error:
        run_dir.remove_partial_checkpoints(log_dir, step)
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1]
        raise TrainingError(f"{manager.directory}: saving the checkpoint of step {step} failed ({reason}); "
                            f"the latest complete checkpoint is {manager.latest_checkpoint}") from None


class StopRequest:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a request that the loop honours between steps.

    A KeyboardInterrupt raised while TensorFlow is inside a step or the input pipeline can crash the process
    (seen: a segmentation fault in the iterator), so the signal only sets `requested` (the signal's name);
    the loop then stops, and the run saves a checkpoint and exits cleanly. Outside the main thread (where
    Python cannot install handlers) nothing is installed.
    """

    def __init__(self):
        self.requested = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)

    def _handle(self, number, frame):
        del frame
        self.requested = signal.Signals(number).name

    def release(self):
        """Puts the previous handlers back."""
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}


def clash_note(hp, log_dir):
    """Names the hparams that differ from the run's saved hparams.yaml (empty when there is none)."""
    path = run_dir.hparams_path(log_dir)
    if not os.path.isfile(path):
        return ""
    try:
        saved = run_dir.load_hparams(log_dir).values()
    except hparams_lib.HParamsError:
        return ""
    differing = sorted(name for name, value in hp.values().items() if saved.get(name) != value)
    if not differing:
        return ""
    return f"; hparams that differ from {path}: {', '.join(differing)}"


def summarize(hp, log_dir, writer, global_step, infer, eval_step, valid_dataset, valid_batches, vocoder):
    """Validation losses, images and one free-running synthesis. Returns a one-line summary."""
    plot_dir = run_dir.plot_dir(log_dir)
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
    ending = " (hit max steps)" if synthesis["hit_max_steps"] else ""
    return (f"step {global_step}: valid loss {summaries.mean_of(losses)['loss']:.4f}, alignment {path}, "
            f"free-running {synthesis['frames']} frames{ending}")


def train(hp, data_dir, log_dir, max_steps, mixed_precision="none", jit_compile=False, valid_batches=4,
          explode_loss=1e4, cpu_replicas=0, progress_stream=None, progress_seconds=30.0):
    """The training loop. Returns the final global step."""
    keras.utils.set_random_seed(hp.random_seed)
    set_mixed_precision(mixed_precision)
    strategy = pick_strategy(cpu_replicas)
    trainer = build_trainer(hp, mixed_precision, jit_compile, strategy)
    step, manager = restore_or_start(trainer, hp, log_dir)
    first_step = int(step)
    # The data order is a function of the global step: a resumed run continues it exactly.
    train_dataset = dataset_from_hparams(data_dir, "train", hp, training=True, start_step=first_step)
    if strategy.num_replicas_in_sync > 1:
        train_dataset = strategy.experimental_distribute_dataset(train_dataset)
    valid_dataset = dataset_from_hparams(data_dir, "valid", hp, training=False)
    # Written only once the checkpoint (if any) has restored with these hparams and the data is readable:
    # a failed start leaves the run directory as it was.
    run_dir.save_hparams(log_dir, hp)
    progress = Progress(max_steps, "train", "step", initial=first_step, stream=progress_stream,
                        interval=progress_seconds)
    if manager.latest_checkpoint:
        progress.write(f"resumed from {manager.latest_checkpoint} at step {first_step} (learning rate and "
                       f"data order continue)")
    writer = tf.summary.create_file_writer(log_dir)
    infer, vocoder = infer_function(trainer.model), vocoder_function(hp)
    average, last_saved = None, first_step
    iterator = iter(train_dataset)
    stop = StopRequest()
    try:
        while int(step) < max_steps and not stop.requested:
            batch = next(iterator)
            start = time.perf_counter()
            results = {name: float(value) for name, value in trainer.train_step(batch).items()}
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
            progress.update(global_step, loss=f"{average:.4f}", frames_per_s=f"{frames / seconds:.0f}")
            if global_step % hp.save_summary_steps == 0:
                summaries.write_scalars(writer, global_step, "train", results)
                if valid_batches > 0:
                    progress.write(summarize(hp, log_dir, writer, global_step, infer, trainer.eval_step,
                                             valid_dataset, valid_batches, vocoder))
            if global_step % hp.save_checkpoints_steps == 0:
                save_checkpoint(manager, log_dir, global_step)
                last_saved = global_step
    finally:
        stop.release()
        progress.close()
    if stop.requested:
        print(f"interrupted ({stop.requested}) at step {int(step)}: saving a checkpoint", flush=True)
    if int(step) != last_saved:
        save_checkpoint(manager, log_dir, int(step))
    if valid_batches > 0 and int(step) % hp.save_summary_steps != 0:
        print(summarize(hp, log_dir, writer, int(step), infer, trainer.eval_step, valid_dataset, valid_batches,
                        vocoder), flush=True)
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
              FLAGS.valid_batches, FLAGS.explode_loss, FLAGS.cpu_replicas, progress_seconds=FLAGS.progress_seconds)
    except (TrainingError, hparams_lib.HParamsError, DataError) as error:
        fail(error)


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
