"""Does an attention mechanism learn on real speech? Trains the small preset on preprocessed recordings (the
Biaobei sample: 46 training utterances) with each mechanism and draws the teacher-forced alignment of one
training utterance, with durations-free scores of every training utterance.

    .venv/bin/python preprocess.py --label_dir ../shared/data/biaobei_sample/labels \\
        --wav_dir ../shared/data/biaobei_sample/wavs --out_dir /tmp/biaobei --valid_size 4
    .venv/bin/python benchmarks/real_speech_alignment.py --data_dir /tmp/biaobei --steps 2000 \\
        --mechanisms gmm_v2b,location_sensitive,location_sensitive+guided --out docs/attention_benchmark/biaobei

50 utterances cannot generalise, so this scores training utterances: a clean teacher-forced diagonal there
says that the mechanism learns on real audio, nothing more. Scores (tacotron/alignment_metrics.py, on the
teacher-forced alignments cut to the true lengths, mean over the training utterances): focus (mean largest
weight per step), reaches end, skipped tokens and backward jumps per utterance.
Writes <out>.png (one panel per mechanism) and <out>.json.
"""
import json
import os
import sys

from absl import app
from absl import flags
import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from datasets import fileio  # noqa: E402
from datasets.data_reader import dataset_from_hparams  # noqa: E402
from tacotron import alignment_metrics as metrics  # noqa: E402
from tacotron.progress import Progress  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from mechanisms import MECHANISMS  # noqa: E402  (benchmarks/, the script's own folder)

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "preprocess.py output of the recordings.")
flags.DEFINE_list("mechanisms", ["gmm_v2b", "location_sensitive", "location_sensitive+guided"],
                  f"Mechanisms: {', '.join(MECHANISMS)}.")
flags.DEFINE_integer("steps", 2000, "Training steps per mechanism.")
flags.DEFINE_integer("seed", 1, "random_seed of every run.")
flags.DEFINE_string("hparams", "", "Overrides after the small preset and the mechanism's hparams.")
flags.DEFINE_string("out", "/tmp/real_speech_alignment", "Writes <out>.png and <out>.json.")
flags.mark_flag_as_required("data_dir")


def training_alignments(trainer, data_dir, hp):
    """Teacher-forced alignments [T_dec, T_in] (cut to the true lengths) of every training utterance, with ids."""
    r, found = hp.outputs_per_step, []
    for batch in dataset_from_hparams(data_dir, "train", hp, training=False):
        _, outputs = trainer.eval_step(batch)
        alignments = outputs["alignments"].numpy()
        for row, utt_id in enumerate(batch["utt_id"].numpy()):
            steps = metrics.num_steps_of(int(batch["mel_lengths"][row]), r)
            found.append((utt_id.decode(), alignments[row, :steps, :int(batch["input_lengths"][row])]))
    return sorted(found)


def scores(alignments):
    """Mean durations-free scores over utterances."""
    rows = [dict(metrics.score_alignment(alignment, alignment.shape[1]), focus=metrics.focus_rate(alignment))
            for _, alignment in alignments]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


def main(argv):
    del argv
    results, panels = {}, []
    progress = Progress(len(FLAGS.mechanisms) * FLAGS.steps, "real speech", "step", stream=sys.stdout)
    for mechanism in FLAGS.mechanisms:
        hp = hparams_lib.load_hparams(preset="small", overrides=FLAGS.hparams).replace(
            random_seed=FLAGS.seed, **MECHANISMS[mechanism])
        keras.utils.set_random_seed(FLAGS.seed)
        trainer = build_trainer(hp)
        iterator = iter(dataset_from_hparams(FLAGS.data_dir, "train", hp, training=True))
        offset = progress.done
        for step in range(1, FLAGS.steps + 1):
            loss = float(trainer.train_step(next(iterator))["loss"])
            progress.update(offset + step, run=mechanism, loss=f"{loss:.3f}")
        alignments = training_alignments(trainer, FLAGS.data_dir, hp)
        results[mechanism] = dict(scores(alignments), steps=FLAGS.steps, final_loss=loss,
                                  utterances=len(alignments))
        progress.write(f"{mechanism}: {results[mechanism]}")
        panels.append((mechanism, alignments[0]))
        keras.backend.clear_session()
    progress.close()
    figure, axes = plt.subplots(1, len(panels), squeeze=False, figsize=(4.2 * len(panels), 3.2))
    for axis, (mechanism, (utt_id, alignment)) in zip(axes[0], panels):
        axis.imshow(alignment.T, aspect="auto", origin="lower", interpolation="none", cmap="viridis")
        axis.set_title(f"{mechanism}, {utt_id} (focus {metrics.focus_rate(alignment):.2f})", fontsize=9)
        axis.set_xlabel("decoder step")
        axis.set_ylabel("encoder step (phone)")
    figure.tight_layout()
    with fileio.atomic_path(FLAGS.out + ".png") as temp_path:
        figure.savefig(temp_path, format="png", dpi=72)
    plt.close(figure)
    fileio.write_text(FLAGS.out + ".json", json.dumps({"hparams": FLAGS.hparams, "results": results}, indent=1))
    print(f"wrote {FLAGS.out}.png and {FLAGS.out}.json", flush=True)


if __name__ == "__main__":
    app.run(main)
