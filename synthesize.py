"""Synthesises course label files, a phone string or Chinese text with a trained Tacotron and Griffin-Lim.

    python synthesize.py --checkpoint_dir=runs/gmm --label_dir=labels --output_dir=out --batch_size=8
    python synthesize.py --saved_model=export/gmm --phones="sil n i 3 #0 h ao 3 sil" --output_dir=out
    python synthesize.py --checkpoint_dir=runs/gmm --text="今天是2024年3月5日，天气很好。" --output_dir=out
    python synthesize.py --saved_model=export/gmm --text_file=sentences.txt --output_dir=out

Text goes through the Mandarin front-end (text/frontend.py); a sentence's id is 000001 (--utt_id to
change it), a text file's sentences are 000001, 000002, ... in line order. A character or word the
front-end cannot read is reported in one line and skipped; the rest is spoken.

Writes per utterance <id>.npy (mel [frames, 80]), <id>.wav (16-bit, frames x hop samples),
<id>_alignment.npy ([decoder steps, phones]) and <id>_alignment.png, and prints one summary line per
utterance plus a total on stdout. A bad label line or file is reported in one `error: ... (skipped)` line and
skipped; the exit code is non-zero (one `error:` line, tacotron/cli.py) only when nothing could be
synthesised, the model cannot be loaded, or an output cannot be written (disk full: the run stops, every
utterance written so far is whole, the failing one leaves no file).

Progress (tacotron/progress.py): on a terminal a tqdm bar on stderr (utterances done / total, time left)
with the summary lines printed above it; when stderr is not a terminal (CI, a log file) no bar but one plain
progress line every 30 s and one at the end, so the log stays readable.
"""
import sys

from absl import app
from absl import flags

import hparams as hparams_lib
from modules.attention_names import INFERENCE_PRECISIONS
from text.labels import LabelError
from tacotron import synthesis
from tacotron.cli import fail
from tacotron.cli import warn
from tacotron.inference import ModelLoadError
from tacotron.inference import parse_window
from tacotron.progress import Progress
from tacotron.progress import write_above

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "A train.py --log_dir (latest checkpoint and its hparams.yaml).")
flags.DEFINE_string("saved_model", None, "A SavedModel directory written by export.py.")
flags.DEFINE_string("label_dir", None, "Synthesise every *.lab file of this directory.")
flags.DEFINE_list("labels", None, "Comma-separated label files (each may hold several lines).")
flags.DEFINE_string("phones", None, 'One phone string, e.g. "sil n i 3 #0 h ao 3 sil".')
flags.DEFINE_string("text", None, 'One Chinese sentence, e.g. "今天天气很好。" (read by text/frontend.py).')
flags.DEFINE_string("text_file", None, "A UTF-8 text file, one sentence a line (ids 000001, ... in order).")
flags.DEFINE_string("utt_id", None, "Utterance id (output file name) of --phones (default: phones) or --text "
                    "(default: 000001).")
flags.DEFINE_string("output_dir", None, "Where the .npy, .wav and alignment files go.")
flags.DEFINE_integer("batch_size", 1, "Utterances per batch (sorted by length).", lower_bound=1)
flags.DEFINE_integer("seed", None, "Pre-net dropout seed of the run (default: hparams random_seed).")
flags.DEFINE_integer("griffin_lim_iters", None, "Griffin-Lim iterations (default: hparams).", lower_bound=1)
flags.DEFINE_bool("wav", None, "Write Griffin-Lim wavs (default: the model's hparam synthesize_wave, true "
                  "unless a config such as the course's hparams.yaml sets it false).")
flags.DEFINE_string("attention_window", None, "Synthesis with a checkpoint: attend only from BACK tokens before to "
                    "AHEAD after the previous step's peak, as \"BACK,AHEAD\" (e.g. 1,3), or off (default: the "
                    "hparam attention_window). Not for GMM attention.")
flags.DEFINE_enum("precision", None, list(INFERENCE_PRECISIONS),
                  "Synthesis with a checkpoint: float32, or bfloat16 for the decoder LSTMs and the post-net "
                  "(faster, slightly different mels; default: the run's hparam inference_precision).")
flags.DEFINE_bool("griffin_lim_xla", False, "Run Griffin-Lim compiled by XLA: about a fifth faster once compiled, "
                  "but each new bucket of frame counts compiles first (~0.15 s); pays off over many utterances.")
flags.DEFINE_bool("no_wav", False, "Skip Griffin-Lim: write mels and alignments only (same as --nowav).")


def synthesize_all(synthesizer, utterances, output_dir, batch_size):
    """Synthesises and writes every utterance under a progress bar; prints a summary line for each.

    Returns the Results without their arrays. Raises synthesis.SynthesisStopped when an output cannot be
    written (the failing utterance leaves no file, see synthesis.write_result).
    """
    done = []
    progress = Progress(len(utterances), "synthesize", "utterance")
    try:
        for result in synthesizer.synthesize(utterances, batch_size):
            try:
                synthesis.write_result(output_dir, result, synthesizer.hp.sample_rate)
            except OSError as error:
                raise synthesis.SynthesisStopped(error, len(done), len(utterances)) from error
            done.append(result._replace(mel=None, alignment=None, wav=None))
            write_above(synthesis.summary_line(result), sys.stdout)
            progress.update(len(done))
    finally:
        progress.close()
    return done


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if (FLAGS.checkpoint_dir is None) == (FLAGS.saved_model is None):
        fail("give exactly one of --checkpoint_dir or --saved_model")
    inputs = (FLAGS.label_dir, FLAGS.labels, FLAGS.phones, FLAGS.text, FLAGS.text_file)
    if sum(value is not None for value in inputs) != 1:
        fail("give exactly one of --label_dir, --labels, --phones, --text or --text_file")
    try:
        utterances, problems = synthesis.collect_utterances(
            FLAGS.label_dir, FLAGS.labels, FLAGS.phones, FLAGS.utt_id, text=FLAGS.text, text_file=FLAGS.text_file)
    except LabelError as error:
        fail(str(error))
    for problem in problems:
        warn(problem)
    if not utterances:
        fail("nothing to synthesise")
    try:
        window = None if FLAGS.attention_window is None else parse_window(FLAGS.attention_window)
        synthesizer = synthesis.load_synthesizer(FLAGS.checkpoint_dir, FLAGS.saved_model, FLAGS.seed,
                                                 FLAGS.griffin_lim_iters,
                                                 with_wav=False if FLAGS.no_wav else FLAGS.wav,
                                                 attention_window=window, precision=FLAGS.precision,
                                                 griffin_lim_xla=FLAGS.griffin_lim_xla)
    except (ModelLoadError, hparams_lib.HParamsError, ValueError) as error:
        fail(str(error))
    synthesizer.prepare()
    try:
        done = synthesize_all(synthesizer, utterances, FLAGS.output_dir, FLAGS.batch_size)
    except synthesis.SynthesisStopped as error:
        fail(str(error))
    print(synthesis.total_line(done, len(problems)), flush=True)


if __name__ == "__main__":
    flags.mark_flags_as_required(["output_dir"])
    app.run(main)
