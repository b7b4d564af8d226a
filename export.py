"""Exports a trained Tacotron as a TensorFlow SavedModel (for Python and TensorFlow Serving).

    python export.py --checkpoint_dir=runs/gmm_v2b --output_dir=exported/tacotron/1 [--seed=N]

Signatures: serving_default, serving_seeded and synthesize_wav (see tacotron/export_module.py and
docs/serving.md); assets: phones.txt (line k = symbol of id k, line 0 = "<pad>") and hparams.yaml.
The model is written to a temporary directory beside --output_dir (`.<name>.XXXXXXXX.tmp`) and moved into
place with `datasets.fileio.replace_directory`: even when the export is killed, --output_dir holds either
the previous SavedModel or the new one, never a half-written one, and a first export leaves either no
--output_dir or a complete one. The next export removes what a killed one left beside --output_dir.
Errors are one `error:` line (tacotron/cli.py), exit code 1.
"""
import os
import shutil
import tempfile

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from datasets import fileio
from modules.attention_names import INFERENCE_PRECISIONS
from tacotron.cli import fail
from tacotron.export_module import TacotronExport
from tacotron.export_module import phone_inventory_lines
from tacotron.inference import ModelLoadError
from tacotron.inference import load_model
from tacotron.inference import parse_window
from tacotron.griffin_lim import griffin_lim_from_hparams

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "A train.py --log_dir (hparams.yaml + checkpoints/).")
flags.DEFINE_string("output_dir", None, "SavedModel directory to write (for TF Serving: <model_base>/<version>).")
flags.DEFINE_integer("seed", None, "Pre-net dropout seed of serving_default and synthesize_wav "
                                   "(default: random_seed of the checkpoint's hparams).")
flags.DEFINE_enum("precision", None, list(INFERENCE_PRECISIONS),
                  "Fix the decoder LSTMs' and post-net's precision in the SavedModel: float32 or bfloat16 "
                  "(faster, slightly different mels; default: the run's hparam inference_precision).")
flags.DEFINE_string("attention_window", None, "Fix the synthesis attention window in the SavedModel: \"BACK,AHEAD\" "
                    "(e.g. 1,3) or off (default: the run's hparam attention_window). Not for GMM attention.")
flags.DEFINE_bool("griffin_lim_xla", False, "Compile the synthesize_wav signature's Griffin-Lim with XLA (as "
                  "synthesize.py --griffin_lim_xla; the serving binary must have XLA's CPU/GPU JIT).")

INT32_MAX = 2 ** 31 - 1
SAVED_MODEL_FILE = "saved_model.pb"


class ExportError(ValueError):
    """The export cannot be written (bad seed, output directory in the way, disk full); the message names
    it."""


def check_output_dir(output_dir):
    """Raises ExportError unless output_dir is absent, an empty directory or a SavedModel to replace."""
    if not os.path.exists(output_dir):
        return
    if not os.path.isdir(output_dir):
        raise ExportError(f"{output_dir}: exists and is not a directory")
    if os.listdir(output_dir) and not os.path.isfile(os.path.join(output_dir, SAVED_MODEL_FILE)):
        raise ExportError(f"{output_dir}: exists, is not empty and is not a SavedModel; refusing to overwrite")


def move_into_place(staging_dir, output_dir):
    """Moves the complete SavedModel staging_dir to output_dir; an existing SavedModel there is replaced in
    one step (see `fileio.replace_directory`)."""
    check_output_dir(output_dir)
    fileio.replace_directory(staging_dir, output_dir)


def clean_up_killed_export(output_dir):
    """Repairs what a killed export left: puts a previous SavedModel moved aside back at output_dir (only
    where directories cannot be swapped in one step) and deletes the temporary directories beside it."""
    fileio.restore_directory(output_dir)
    fileio.remove_stale_temps(os.path.dirname(output_dir), target=os.path.basename(output_dir))


def export_saved_model(checkpoint_dir, output_dir, seed=None, attention_window=None, precision=None,
                       griffin_lim_xla=False):
    """Restores the latest checkpoint of a training directory and writes the SavedModel.

    Args:
        checkpoint_dir: a train.py --log_dir.
        output_dir: the SavedModel directory (absent, empty, or an earlier SavedModel that is replaced).
        seed: int32 dropout seed of serving_default and synthesize_wav (default: hparams random_seed).
        attention_window: None (the run's hparam), [] (off) or [back, ahead], fixed in the SavedModel.
        precision: None (the run's hparam inference_precision), "float32" or "bfloat16", fixed in the SavedModel.
        griffin_lim_xla: synthesize_wav's Griffin-Lim compiled by XLA (tacotron.griffin_lim.griffin_lim_xla).
    Returns:
        (output_dir, checkpoint_path, seed)
    Raises:
        ModelLoadError for a bad training directory, ExportError for a bad seed or output directory or a
        SavedModel that TensorFlow cannot write, OSError (naming the file) for other failed writes. On any
        error or kill the previous SavedModel at output_dir, if any, is unchanged.
    """
    output_dir = os.path.abspath(output_dir)
    clean_up_killed_export(output_dir)
    check_output_dir(output_dir)
    model, hp, checkpoint_path = load_model(checkpoint_dir, attention_window=attention_window,
                                            inference_precision=precision)
    seed = hp.random_seed if seed is None else seed
    if not 0 <= seed <= INT32_MAX:
        raise ExportError(f"--seed={seed}: must be in [0, {INT32_MAX}]")
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(output_dir)
    assets_dir = tempfile.mkdtemp(prefix=fileio.temp_prefix(name, "assets"), suffix=fileio.TEMP_SUFFIX,
                                  dir=parent)
    staging_dir = tempfile.mkdtemp(prefix=fileio.temp_prefix(name), suffix=fileio.TEMP_SUFFIX, dir=parent)
    try:
        phones_path = os.path.join(assets_dir, "phones.txt")
        fileio.write_text(phones_path, "\n".join(phone_inventory_lines()) + "\n")
        hparams_path = os.path.join(assets_dir, "hparams.yaml")
        hp.save(hparams_path)
        module = TacotronExport(model, griffin_lim_from_hparams(hp, griffin_lim_xla), seed, phones_path,
                                hparams_path)
        try:
            tf.saved_model.save(module, staging_dir, signatures=module.signatures())
        except tf.errors.OpError as error:  # e.g. the disk is full
            raise ExportError(f"{output_dir}: cannot write the SavedModel ({str(error).splitlines()[0]}); "
                              "the previous model, if any, is unchanged") from None
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
        window = None if FLAGS.attention_window is None else parse_window(FLAGS.attention_window)
        output_dir, checkpoint_path, seed = export_saved_model(FLAGS.checkpoint_dir, FLAGS.output_dir,
                                                               FLAGS.seed, window, FLAGS.precision,
                                                               FLAGS.griffin_lim_xla)
    except (ModelLoadError, ExportError, ValueError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"{fileio.write_error_line(error)}; the previous model, if any, is unchanged")
    print(f"Exported {checkpoint_path} to {output_dir} (signatures serving_default, serving_seeded, "
          f"synthesize_wav; seed {seed})", flush=True)


if __name__ == "__main__":
    flags.mark_flags_as_required(["checkpoint_dir", "output_dir"])
    app.run(main)
