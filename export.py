"""Exports a trained Tacotron as a TensorFlow SavedModel (for Python and TensorFlow Serving).

    python export.py --checkpoint_dir=runs/gmm_v2b --output_dir=exported/tacotron/1 [--seed=N]

Signatures: serving_default, serving_seeded and synthesize_wav (see tacotron/export_module.py and
docs/serving.md); assets: phones.txt (line k = symbol of id k, line 0 = "<pad>") and hparams.yaml.
The model is written to a temporary directory beside --output_dir and renamed into place, so an interrupted
export never leaves a half-written model; an existing SavedModel at --output_dir is replaced.
"""
import os
import shutil
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from datasets import fileio
from tacotron.export_module import TacotronExport
from tacotron.export_module import phone_inventory_lines
from tacotron.inference import ModelLoadError
from tacotron.inference import load_model
from tacotron.griffin_lim import griffin_lim_from_hparams

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "A train.py --log_dir (hparams.yaml + checkpoints/).")
flags.DEFINE_string("output_dir", None, "SavedModel directory to write (for TF Serving: <model_base>/<version>).")
flags.DEFINE_integer("seed", None, "Pre-net dropout seed of serving_default and synthesize_wav "
                                   "(default: random_seed of the checkpoint's hparams).")

INT32_MAX = 2 ** 31 - 1
SAVED_MODEL_FILE = "saved_model.pb"


class ExportError(ValueError):
    """The export cannot be written (bad seed, output directory in the way); the message names it."""


def check_output_dir(output_dir):
    """Raises ExportError unless output_dir is absent, an empty directory or a SavedModel to replace."""
    if not os.path.exists(output_dir):
        return
    if not os.path.isdir(output_dir):
        raise ExportError(f"{output_dir}: exists and is not a directory")
    if os.listdir(output_dir) and not os.path.isfile(os.path.join(output_dir, SAVED_MODEL_FILE)):
        raise ExportError(f"{output_dir}: exists, is not empty and is not a SavedModel; refusing to overwrite")


def move_into_place(staging_dir, output_dir):
    """Renames staging_dir to output_dir; an existing SavedModel there is swapped out and removed."""
    check_output_dir(output_dir)
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        old_dir = tempfile.mkdtemp(prefix="." + os.path.basename(output_dir) + ".old.",
                                   dir=os.path.dirname(output_dir))
        os.replace(output_dir, old_dir)
        os.replace(staging_dir, output_dir)
        shutil.rmtree(old_dir, ignore_errors=True)
    else:
        os.replace(staging_dir, output_dir)


def export_saved_model(checkpoint_dir, output_dir, seed=None):
    """Restores the latest checkpoint of a training directory and writes the SavedModel.

    Args:
        checkpoint_dir: a train.py --log_dir.
        output_dir: the SavedModel directory (absent, empty, or an earlier SavedModel that is replaced).
        seed: int32 dropout seed of serving_default and synthesize_wav (default: hparams random_seed).
    Returns:
        (output_dir, checkpoint_path, seed)
    Raises:
        ModelLoadError for a bad training directory, ExportError for a bad seed or output directory.
    """
    output_dir = os.path.abspath(output_dir)
    check_output_dir(output_dir)
    model, hp, checkpoint_path = load_model(checkpoint_dir)
    seed = hp.random_seed if seed is None else seed
    if not 0 <= seed <= INT32_MAX:
        raise ExportError(f"--seed={seed}: must be in [0, {INT32_MAX}]")
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    prefix = "." + os.path.basename(output_dir) + "."
    assets_dir = tempfile.mkdtemp(prefix=prefix + "assets.", dir=parent)
    staging_dir = tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent)
    try:
        phones_path = os.path.join(assets_dir, "phones.txt")
        fileio.write_text(phones_path, "\n".join(phone_inventory_lines()) + "\n")
        hparams_path = os.path.join(assets_dir, "hparams.yaml")
        hp.save(hparams_path)
        module = TacotronExport(model, griffin_lim_from_hparams(hp), seed, phones_path, hparams_path)
        tf.saved_model.save(module, staging_dir, signatures=module.signatures())
        os.chmod(staging_dir, 0o755)  # mkdtemp creates 0700; a model directory is an ordinary output
        move_into_place(staging_dir, output_dir)
    finally:
        shutil.rmtree(assets_dir, ignore_errors=True)
        shutil.rmtree(staging_dir, ignore_errors=True)
    return output_dir, checkpoint_path, seed


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel writer logs every step at INFO
    tf.get_logger().setLevel("ERROR")
    try:
        output_dir, checkpoint_path, seed = export_saved_model(FLAGS.checkpoint_dir, FLAGS.output_dir,
                                                               FLAGS.seed)
    except (ModelLoadError, ExportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Exported {checkpoint_path} to {output_dir} (signatures serving_default, serving_seeded, "
          f"synthesize_wav; seed {seed})", flush=True)


if __name__ == "__main__":
    flags.mark_flags_as_required(["checkpoint_dir", "output_dir"])
    app.run(main)
