"""The training directory (train.py's --log_dir): its layout is written and read here only.

    <run>/hparams.yaml             the effective hparams; written only once a resume has restored with them
    <run>/checkpoints/ckpt-<step>  tf.train.CheckpointManager checkpoints (and its `checkpoint` index)
    <run>/plots/                   alignment and mel PNGs of the periodic summaries
    <run>/events.out.tfevents.*    TensorBoard
"""
import os

import tensorflow as tf

import hparams as hparams_lib

HPARAMS_FILE = "hparams.yaml"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "ckpt"
PLOT_DIR = "plots"


def hparams_path(run_dir):
    return os.path.join(run_dir, HPARAMS_FILE)


def checkpoint_dir(run_dir):
    return os.path.join(run_dir, CHECKPOINT_DIR)


def plot_dir(run_dir):
    return os.path.join(run_dir, PLOT_DIR)


def checkpoint_manager(checkpoint, run_dir, max_to_keep):
    """The run's tf.train.CheckpointManager for `checkpoint` (a tf.train.Checkpoint)."""
    return tf.train.CheckpointManager(checkpoint, checkpoint_dir(run_dir), max_to_keep=max_to_keep,
                                      checkpoint_name=CHECKPOINT_NAME)


def latest_checkpoint(run_dir):
    """Path prefix of the run's newest complete checkpoint, or None."""
    return tf.train.latest_checkpoint(checkpoint_dir(run_dir))


def remove_partial_checkpoints(run_dir, step=None):
    """Deletes what an interrupted or failed checkpoint save left: TensorFlow writes `ckpt-N_temp*` and
    lists a checkpoint as the latest only once it is whole, so these are never a checkpoint.
    `step` limits it to that save's leftovers. Returns the removed paths."""
    pattern = f"{CHECKPOINT_NAME}-{'*' if step is None else step}_temp*"
    removed = tf.io.gfile.glob(os.path.join(checkpoint_dir(run_dir), pattern))
    for path in removed:
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    return removed


def load_hparams(run_dir):
    """The run's saved hparams (raises hparams.HParamsError naming the file)."""
    return hparams_lib.load_hparams(hparams_path(run_dir))


def save_hparams(run_dir, hp):
    """Writes the run's hparams.yaml atomically."""
    os.makedirs(run_dir, exist_ok=True)
    hp.save(hparams_path(run_dir))


def write_run(run_dir, hp, checkpoint, step=None):
    """A complete run directory in one go (hparams.yaml and one checkpoint), as train.py leaves it: for
    runs trained elsewhere (the attention benchmark) and for tests."""
    save_hparams(run_dir, hp)
    return checkpoint_manager(checkpoint, run_dir, max_to_keep=1).save(checkpoint_number=step)
