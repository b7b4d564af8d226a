"""Preprocesses a course-layout corpus (labels/*.lab + wavs/*.wav) into mels, trimmed wavs and a split.

    python preprocess.py --label_dir data/labels --wav_dir data/wavs --out_dir data/processed \
        --valid_size 0.05 --n_jobs 4 [--config hparams.yaml] [--hparams key=value,...] [--overwrite]

Each bad input is skipped and reported on one line `error: <file>: <problem> (skipped)`; a final line
summarises the run. Re-running reuses finished utterances unless --overwrite, also after the run was killed.
A failed write (disk full) stops the run with one `error:` line: everything written so far is complete and
the rerun finishes the rest. Exit code 1 when nothing could be processed, the run stopped or could not start
(one `error:` line, see tacotron/cli.py), else 0.
"""
import os

from absl import app
from absl import flags
from absl import logging

from text.labels import LabelError
from datasets.preprocessor import PreprocessStopped
from datasets.preprocessor import preprocess_corpus
from hparams import HParamsError
from hparams import PRESETS
from hparams import load_hparams
from tacotron.cli import fail
from tacotron.cli import warn

FLAGS = flags.FLAGS
flags.DEFINE_string("label_dir", None, "Directory of course label files (*.lab, one or more lines each).")
flags.DEFINE_string("wav_dir", None, "Directory of the wavs, <id>.wav for each utterance id.")
flags.DEFINE_string("out_dir", None, "Output directory (mels/, wavs/, metadata.csv, train/valid.txt).")
flags.DEFINE_float("valid_size", 0.05, "Validation utterances: a count >= 1 or a fraction in (0, 1).")
flags.DEFINE_integer("n_jobs", 0, "Worker processes; 0 = all CPU cores, 1 = in-process.")
flags.DEFINE_string("hparams", "", "Hyper-parameter overrides, e.g. max_acoustic_length=1000.")
flags.DEFINE_string("config", None, "Optional YAML hyper-parameter file (the course's hparams.yaml loads).")
flags.DEFINE_alias("yaml_conf", "config")
flags.DEFINE_enum("preset", "course", list(PRESETS), "Hyper-parameter preset.")
flags.DEFINE_boolean("overwrite", False, "Recompute utterances whose outputs already exist.")
flags.mark_flags_as_required(["label_dir", "wav_dir", "out_dir"])


def main(argv):
    del argv
    n_jobs = FLAGS.n_jobs if FLAGS.n_jobs > 0 else (os.cpu_count() or 1)
    try:
        hp = load_hparams(FLAGS.config, FLAGS.hparams, FLAGS.preset)
        result = preprocess_corpus(FLAGS.label_dir, FLAGS.wav_dir, FLAGS.out_dir, hp,
                                   valid_size=FLAGS.valid_size, n_jobs=n_jobs, overwrite=FLAGS.overwrite,
                                   progress=True, report=warn)
    except (HParamsError, LabelError, ValueError, PreprocessStopped) as error:
        fail(str(error))
    logging.info(result.summary())
    if result.num_done == 0:
        fail("nothing could be processed; no metadata written")


if __name__ == "__main__":
    app.run(main)
