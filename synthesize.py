"""Synthesises course label files (or a phone string) with a trained Tacotron and Griffin-Lim.

    python synthesize.py --checkpoint_dir=runs/gmm --label_dir=labels --output_dir=out --batch_size=8
    python synthesize.py --saved_model=export/gmm --phones="sil n i 3 #0 h ao 3 sil" --output_dir=out

Writes per utterance <id>.npy (mel [frames, 80]), <id>.wav (16-bit, frames x hop samples),
<id>_alignment.npy ([decoder steps, phones]) and <id>_alignment.png, and prints one summary line per
utterance plus a total. A bad label file is reported and skipped; the exit code is non-zero only when
nothing could be synthesised or the model cannot be loaded.
"""
import sys

from absl import app
from absl import flags

import hparams as hparams_lib
from datasets.labels import LabelError
from tacotron import synthesis
from tacotron.inference import ModelLoadError

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "A train.py --log_dir (latest checkpoint and its hparams.yaml).")
flags.DEFINE_string("saved_model", None, "A SavedModel directory written by export.py.")
flags.DEFINE_string("label_dir", None, "Synthesise every *.lab file of this directory.")
flags.DEFINE_list("labels", None, "Comma-separated label files (each may hold several lines).")
flags.DEFINE_string("phones", None, 'One phone string, e.g. "sil n i 3 #0 h ao 3 sil".')
flags.DEFINE_string("utt_id", "phones", "Utterance id (output file name) of --phones.")
flags.DEFINE_string("output_dir", None, "Where the .npy, .wav and alignment files go.")
flags.DEFINE_integer("batch_size", 1, "Utterances per batch (sorted by length).", lower_bound=1)
flags.DEFINE_integer("seed", None, "Pre-net dropout seed of the run (default: hparams random_seed).")
flags.DEFINE_integer("griffin_lim_iters", None, "Griffin-Lim iterations (default: hparams).", lower_bound=1)
flags.DEFINE_bool("no_wav", False, "Skip Griffin-Lim: write mels and alignments only.")


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if (FLAGS.checkpoint_dir is None) == (FLAGS.saved_model is None):
        fail("give exactly one of --checkpoint_dir or --saved_model")
    if sum(value is not None for value in (FLAGS.label_dir, FLAGS.labels, FLAGS.phones)) != 1:
        fail("give exactly one of --label_dir, --labels or --phones")
    try:
        utterances, problems = synthesis.collect_utterances(FLAGS.label_dir, FLAGS.labels, FLAGS.phones,
                                                            FLAGS.utt_id)
    except LabelError as error:
        fail(error)
    for problem in problems:
        print(f"error: {problem} (skipped)", file=sys.stderr)
    if not utterances:
        fail("nothing to synthesise")
    try:
        synthesizer = synthesis.load_synthesizer(FLAGS.checkpoint_dir, FLAGS.saved_model, FLAGS.seed,
                                                 FLAGS.griffin_lim_iters, with_wav=not FLAGS.no_wav)
    except (ModelLoadError, hparams_lib.HParamsError) as error:
        fail(error)
    synthesizer.prepare()
    done = []
    for result in synthesizer.synthesize(utterances, FLAGS.batch_size):
        synthesis.write_result(FLAGS.output_dir, result, synthesizer.hp.sample_rate)
        print(synthesis.summary_line(result), flush=True)
        done.append(result._replace(mel=None, alignment=None, wav=None))
    print(synthesis.total_line(done, len(problems)), flush=True)


if __name__ == "__main__":
    flags.mark_flags_as_required(["output_dir"])
    app.run(main)
