"""Why GMM attention: trains the small preset with each attention mechanism on the demo corpus and scores
how fast it aligns and how far beyond the training lengths it keeps aligning (Battenberg et al. 2019).

    .venv/bin/python benchmarks/attention_benchmark.py            # about 50 minutes on 2 CPU cores
    .venv/bin/python benchmarks/attention_benchmark.py --quick    # the whole pipeline in ~3 minutes (CI)

1. Data (cached in --out_dir): a demo corpus of --num_utterances utterances of 15-40 tokens (train + valid
   split) and held-out "long" sets whose utterances have exactly 1x, 2x, 4x, 8x the token count of the
   longest training utterance (same generator, other seeds and ids), all preprocessed, so every utterance has
   its true per-token durations (datasets/demo_corpus.py).
2. Training: for each mechanism and seed (hparams random_seed), --steps steps of the small preset on the same
   data; every --eval_every steps the teacher-forced accuracy on the valid set gives "steps to align".
3. Scoring (tacotron/alignment_metrics.py) on the valid set and the long sets: teacher-forced accuracy and
   free-running synthesis (reaches the end, skipped / repeated phones, stop token, length ratio, clean).
4. Report: --doc (markdown tables, command, machine, wall time) and PNGs in the folder named like --doc
   without ".md"; results.json in --out_dir.
"""
import json
import os
import platform
import shlex
import shutil
import sys
import time

from absl import app
from absl import flags
import keras
import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from datasets import fileio  # noqa: E402
from datasets.data_reader import dataset_from_hparams  # noqa: E402
from datasets.data_reader import read_metadata  # noqa: E402
from datasets.data_reader import read_split  # noqa: E402
from datasets.demo_corpus import make_demo_corpus  # noqa: E402
from datasets.demo_corpus import read_durations  # noqa: E402
from datasets.preprocessor import preprocess_corpus  # noqa: E402
from text.phones_mix import PAD_ID  # noqa: E402
from text.phones_mix import phones_to_ids  # noqa: E402
from tacotron import alignment_metrics as metrics  # noqa: E402
from tacotron.checkpoints import make_checkpoint  # noqa: E402
from tacotron.run_dir import write_run  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.inference import utterance_seed  # noqa: E402

# Mechanism name -> (attention_type, gmm_version); gmm_version is ignored by the non-GMM mechanisms.
MECHANISMS = {"bahdanau": ("bahdanau", "v2b"), "location_sensitive": ("location_sensitive", "v2b"),
              "gmm_v0": ("gmm", "v0"), "gmm_v1": ("gmm", "v1"), "gmm_v2": ("gmm", "v2"),
              "gmm_v2b": ("gmm", "v2b"), "dca": ("dca", "v2b")}
MULTIPLES = (1, 2, 4, 8)
ALIGNED = 0.8  # teacher-forced valid accuracy that counts as "aligned" ...
IN_A_ROW = 3  # ... at this many evaluations in a row
HOLDS = 0.5    # free-running clean share from which a mechanism "holds" at a length
METRICS = (("tf_accuracy", "TF accuracy"), ("reaches_end", "reaches end"), ("skipped_phones", "skipped/utt"),
           ("repeated_phones", "repeats/utt"), ("stopped", "stop fired"), ("length_ratio", "length ratio"),
           ("clean", "clean"), ("dtw_accuracy", "FR accuracy"))
# Flag values of --quick, used where the flag is not given explicitly.
QUICK = {"mechanisms": ["gmm_v2b", "bahdanau"], "seeds": 1, "steps": 30, "eval_every": 10,
         "num_utterances": 40, "valid_size": 4, "long_utterances": 2, "min_tokens": 8, "max_tokens": 16}

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "/tmp/attention_benchmark", "Scratch directory: corpora, features, runs/ "
                    "(checkpoints), results.json.")
flags.DEFINE_string("doc", "docs/attention_benchmark.md", "Markdown report; PNGs go to the folder without .md.")
flags.DEFINE_list("mechanisms", list(MECHANISMS), f"Mechanisms to compare: {', '.join(MECHANISMS)}.")
flags.DEFINE_integer("seeds", 2, "Training runs per mechanism (random_seed 1, 2, ...).")
flags.DEFINE_integer("steps", 2500, "Training steps per run.")
flags.DEFINE_integer("eval_every", 100, "Teacher-forced valid accuracy every N steps (steps to align).")
flags.DEFINE_integer("num_utterances", 1000, "Utterances of the training corpus (train + valid).")
flags.DEFINE_integer("valid_size", 32, "Held-out valid utterances of the training distribution.")
flags.DEFINE_integer("long_utterances", 8, "Utterances per long set (1x, 2x, 4x, 8x).")
flags.DEFINE_integer("min_tokens", 15, "Fewest tokens of a training utterance.")
flags.DEFINE_integer("max_tokens", 40, "Most tokens of a training utterance.")
flags.DEFINE_bool("quick", False, f"Tiny end-to-end run for CI: {QUICK} unless given.")


def setting(name):
    """A flag's value, or its --quick value when --quick is on and the flag was not given."""
    if FLAGS.quick and name in QUICK and not FLAGS[name].present:
        return QUICK[name]
    return FLAGS[name].value


def prepared_corpus(root, num_utterances, seed, tokens, prefix, hp, valid_size):
    """Generates and preprocesses one demo corpus into root/{corpus,features} unless root/done.json says
    that the same one is there. Returns (features dir, {utt_id: durations})."""
    request = {"num_utterances": num_utterances, "seed": seed, "tokens": list(tokens), "prefix": prefix,
               "valid_size": valid_size}
    marker, corpus, features = (os.path.join(root, name) for name in ("done.json", "corpus", "features"))
    done = os.path.isfile(marker) and open(marker, encoding="utf-8").read() == json.dumps(request)
    if not done:
        shutil.rmtree(root, ignore_errors=True)  # scratch: another corpus may be there
        make_demo_corpus(corpus, num_utterances, seed, tokens[0], tokens[1], id_prefix=prefix)
        result = preprocess_corpus(os.path.join(corpus, "labels"), os.path.join(corpus, "wavs"), features,
                                   hp.replace(max_acoustic_length=100000), valid_size, n_jobs=os.cpu_count())
        if result.num_skipped:
            raise RuntimeError(f"{features}: preprocessing skipped utterances: {result.messages[:3]}")
        fileio.write_text(marker, json.dumps(request))
    durations = read_durations(os.path.join(corpus, "durations.txt"))
    for utt_id, record in read_metadata(features).items():  # the truth must survive silence trimming
        if record["n_frames"] != sum(durations[utt_id]):
            raise RuntimeError(f"{features}: {utt_id} has {record['n_frames']} frames, its durations "
                               f"{sum(durations[utt_id])}")
    return features, durations


def eval_batches(features, ids, durations, hp, batch_size):
    """Padded numpy batches: dicts of ids, phones [B, T_in] int32, input_lengths [B], mel [B, T_out, n_mels]
    (T_out a multiple of r), mel_lengths [B], durations (list of B lists)."""
    metadata, r, batches = read_metadata(features), hp.outputs_per_step, []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        phones = [phones_to_ids(metadata[utt_id]["phones"]) for utt_id in chunk]
        mels = [np.load(os.path.join(features, "mels", f"{utt_id}.npy")) for utt_id in chunk]
        t_in, t_out = max(map(len, phones)), -(-max(len(mel) for mel in mels) // r) * r
        batch = {"ids": chunk, "durations": [durations[utt_id] for utt_id in chunk],
                 "phones": np.full((len(chunk), t_in), PAD_ID, np.int32),
                 "input_lengths": np.array([len(p) for p in phones], np.int32),
                 "mel": np.full((len(chunk), t_out, hp.acoustic_dim), -(hp.max_abs_value + 0.1), np.float32),
                 "mel_lengths": np.array([len(mel) for mel in mels], np.int32)}
        for row, (ids_row, mel) in enumerate(zip(phones, mels)):
            batch["phones"][row, :len(ids_row)] = ids_row
            batch["mel"][row, :len(mel)] = mel
        batches.append(batch)
    return batches


def build_data(out_dir, hp):
    """Returns (train features dir, {set name: batches}, {set name: tokens per utterance text})."""
    tokens = (setting("min_tokens"), setting("max_tokens"))
    train_dir, durations = prepared_corpus(os.path.join(out_dir, "train"), setting("num_utterances"), 1,
                                           tokens, "demo", hp, setting("valid_size"))
    longest = max(len(record["phones"]) for record in read_metadata(train_dir).values())
    sets = {"valid": eval_batches(train_dir, read_split(train_dir, "valid"), durations, hp, 16)}
    lengths = {"valid": f"{tokens[0]}-{tokens[1]}"}
    for multiple in MULTIPLES:
        name, count = f"{multiple}x", multiple * longest
        features, durations = prepared_corpus(os.path.join(out_dir, name), setting("long_utterances"),
                                              1000 + multiple, (count, count), f"long{multiple}x", hp, 1)
        sets[name] = eval_batches(features, sorted(read_metadata(features)), durations, hp, 8)
        lengths[name] = str(count)
    return train_dir, sets, lengths


def alignment_functions(model, hp):
    """tf.functions (traced once each): teacher-forced and free-running alignments of a batch."""
    int_matrix, int_vector = tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)

    @tf.function(input_signature=[int_matrix, int_vector, tf.TensorSpec([None, None, hp.acoustic_dim]),
                                  int_vector])
    def forced(phones, input_lengths, mel, mel_lengths):
        return model(phones, input_lengths, mel, mel_lengths, training=False)["alignments"]

    @tf.function(input_signature=[int_matrix, int_vector, int_vector])
    def free(phones, input_lengths, seeds):
        outputs = model.infer(phones, input_lengths, seeds)
        return outputs["alignments"], outputs["mel_lengths"], outputs["hit_max_steps"], outputs["mel"]

    return forced, free


def tf_accuracies(forced, batch, r):
    """Teacher-forced accuracy of every utterance of a batch, and their alignments [T_dec, T_in] (cut)."""
    alignments = forced(batch["phones"], batch["input_lengths"], batch["mel"], batch["mel_lengths"]).numpy()
    scores, cut = [], []
    for row, durations in enumerate(batch["durations"]):
        steps = metrics.num_steps_of(sum(durations), r)
        cut.append(alignments[row, :steps, :batch["input_lengths"][row]])
        scores.append(metrics.alignment_accuracy(cut[-1], durations, r))
    return scores, cut


def free_running(free, batch, r, seed):
    """Free-running scores (dicts) of every utterance of a batch, and their alignments (cut)."""
    seeds = np.array([utterance_seed(seed, utt_id) for utt_id in batch["ids"]], np.int32)
    outputs = [value.numpy() for value in free(batch["phones"], batch["input_lengths"], seeds)]
    scores, cut = [], []
    for row, (alignment, frames, hit_max, mel) in enumerate(zip(*outputs)):
        length, durations = batch["input_lengths"][row], batch["durations"][row]
        generated, recorded = mel[:max(frames, 1)], batch["mel"][row, :batch["mel_lengths"][row]]
        path = librosa.sequence.dtw(X=generated.T, Y=recorded.T, metric="euclidean")[1]
        matched = metrics.matched_frames_from_path(path, len(generated))
        cut.append(alignment[:metrics.num_steps_of(frames, r), :length])
        scores.append(metrics.score_free_running(alignment, length, frames, hit_max, durations, r, matched))
    return scores, cut


def train_and_score(mechanism, seed, hp, train_dir, sets):
    """One run: trains, tracks valid accuracy, scores every set. Returns (result dict, first alignments)."""
    attention_type, gmm_version = MECHANISMS[mechanism]
    hp = hp.replace(attention_type=attention_type, gmm_version=gmm_version, random_seed=seed)
    keras.utils.set_random_seed(seed)
    trainer = build_trainer(hp)
    model, train_step = trainer.model, trainer.train_step
    forced, free = alignment_functions(model, hp)
    r, steps, history, diverged_at = hp.outputs_per_step, setting("steps"), [], None
    iterator = iter(dataset_from_hparams(train_dir, "train", hp, training=True))
    start = time.perf_counter()
    eval_seconds = 0.0
    for step in range(1, steps + 1):
        loss = float(train_step(next(iterator))["loss"])
        if not np.isfinite(loss):
            diverged_at = step
            break
        if step % setting("eval_every") == 0 or step == steps:
            eval_start = time.perf_counter()
            accuracy = np.mean([a for batch in sets["valid"] for a in tf_accuracies(forced, batch, r)[0]])
            history.append((step, float(accuracy)))
            print(f"{mechanism} seed {seed} step {step}: loss {loss:.3f}, valid TF accuracy {accuracy:.3f}",
                  flush=True)
            eval_seconds += time.perf_counter() - eval_start
    train_seconds = time.perf_counter() - start - eval_seconds
    run_dir = os.path.join(FLAGS.out_dir, "runs", f"{mechanism}_seed{seed}")  # a train.py-style --log_dir
    write_run(run_dir, hp, make_checkpoint(model))
    result = {"mechanism": mechanism, "seed": seed, "history": history, "diverged_at": diverged_at,
              "steps_to_align": metrics.steps_to_align(history, ALIGNED, IN_A_ROW),
              "train_seconds": train_seconds,
              "seconds_per_step": train_seconds / max(step, 1), "final_loss": loss, "sets": {},
              "parameters": model.count_params()}
    pictures = {}
    for name, batches in sets.items():
        accuracies, free_scores, forced_cut, free_cut = [], [], [], []
        for batch in batches:
            scores, cut = tf_accuracies(forced, batch, r)
            accuracies += scores
            forced_cut += cut
            scores, cut = free_running(free, batch, r, seed)
            free_scores += scores
            free_cut += cut
        summary = {"tf_accuracy": float(np.mean(accuracies))}
        for key in ("reaches_end", "skipped_phones", "repeated_phones", "stopped", "length_ratio", "clean",
                    "dtw_accuracy"):
            summary[key] = float(np.mean([scores[key] for scores in free_scores]))
        summary["hit_max_steps"] = int(sum(not scores["stopped"] for scores in free_scores))
        summary["utterances"] = [dict(scores, tf_accuracy=accuracy, max_attended=int(np.max(
            metrics.attended_phone(cut))), input_length=int(cut.shape[1]), steps=int(cut.shape[0]))
            for scores, accuracy, cut in zip(free_scores, accuracies, free_cut)]
        result["sets"][name] = summary
        pictures[name] = (forced_cut[0], free_cut[0])
    result["total_seconds"] = time.perf_counter() - start
    keras.backend.clear_session()
    return result, pictures


def cell(values, digits=2):
    """Mean over seeds +- half their range (the interval covers every seed)."""
    mean, half = float(np.mean(values)), float(np.max(values) - np.min(values)) / 2.0
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def steps_cell(runs, steps):
    """Steps to align of every seed, '>N' for a run that never aligned (N = its trained steps)."""
    return " / ".join(f"{run['steps_to_align']}" if run["steps_to_align"] else f">{steps}" for run in runs)


def values(runs, name, key):
    return [run["sets"][name][key] for run in runs]


def holds_up_to(runs):
    """Largest multiple up to which the mean clean share stays >= HOLDS (0 when it fails at 1x)."""
    longest = 0
    for multiple in MULTIPLES:
        if np.mean(values(runs, f"{multiple}x", "clean")) < HOLDS:
            break
        longest = multiple
    return longest


def num_aligned(runs):
    return sum(run["steps_to_align"] is not None for run in runs)


def paper_rows(by_mechanism, steps):
    """(paper's finding, measured here, verdict) for the mechanisms that were run."""
    rows, last = [], MULTIPLES[-1]
    for name, claim, agrees in (
            ("bahdanau", "content-based: errors rise as soon as inputs exceed the training length",
             lambda n: n < 2),
            ("location_sensitive", "location-sensitive: fails around 3x the training length", lambda n: n == 2),
            ("gmm_v2b", "GMM V2b: holds over the whole tested range", lambda n: n == last),
            ("dca", "DCA: holds over the whole tested range", lambda n: n == last)):
        runs = by_mechanism.get(name)
        if runs and not num_aligned(runs):
            rows.append((claim, f"{name} never aligned in {steps} steps", "not testable here"))
        elif runs:
            measured = (f"{name} holds up to {holds_up_to(runs)}x (clean share at {last}x: "
                        f"{cell(values(runs, f'{last}x', 'clean'))})")
            rows.append((claim, measured, "agrees" if agrees(holds_up_to(runs)) else "differs"))
    for name in ("gmm_v2b", "dca"):
        if name in by_mechanism:
            runs = by_mechanism[name]
            rows.append((f"{name}: aligns quickly and consistently", f"steps to align {steps_cell(runs, steps)}",
                         "agrees" if num_aligned(runs) == len(runs) else "differs"))

    def mean_steps(name):
        return np.mean([run["steps_to_align"] or steps + 1 for run in by_mechanism[name]])

    for name in ("gmm_v0", "gmm_v1"):
        if name in by_mechanism and "gmm_v2b" in by_mechanism:
            measured = (f"steps to align {steps_cell(by_mechanism[name], steps)} "
                        f"(V2b: {steps_cell(by_mechanism['gmm_v2b'], steps)})")
            rows.append((f"{name}: often fails to align or aligns late", measured,
                         "agrees" if mean_steps(name) > mean_steps("gmm_v2b") else "differs"))
    return rows


def findings(by_mechanism, steps):
    """One line per mechanism, read off the numbers (so that it stays true when the benchmark is rerun)."""
    lines, last = [], f"{MULTIPLES[-1]}x"
    for name, runs in by_mechanism.items():
        aligned = [str(run["steps_to_align"]) for run in runs if run["steps_to_align"] is not None]
        if not aligned:
            lines.append(f"- **{name}** did not align in {steps} steps with any seed (teacher-forced valid "
                         f"accuracy {cell(values(runs, 'valid', 'tf_accuracy'))}); its long-input scores show an "
                         "untrained attention, not length generalisation.")
            continue
        clean = ", ".join(f"{set_name} {cell(values(runs, set_name, 'clean'))}" for set_name in runs[0]["sets"])
        lines.append(
            f"- **{name}** aligned in {len(aligned)} of {len(runs)} runs (after {', '.join(aligned)} steps). "
            f"Free running it holds up to {holds_up_to(runs)}x (clean share {clean}). Teacher-forced accuracy "
            f"goes from {cell(values(runs, 'valid', 'tf_accuracy'))} (valid) to "
            f"{cell(values(runs, last, 'tf_accuracy'))} ({last}), free-running accuracy from "
            f"{cell(values(runs, 'valid', 'dtw_accuracy'))} to {cell(values(runs, last, 'dtw_accuracy'))}.")
    return lines


def table(header, rows):
    return (["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in rows] + [""])


def save(figure, path):
    with fileio.atomic_path(path) as temp_path:
        figure.savefig(temp_path, format="png", dpi=72)
    plt.close(figure)


def plot_grid(pictures, lengths, mode, path):
    """Alignments (mechanism x set) of the first utterance of each set, first seed; mode 0 = teacher forced,
    1 = free running."""
    rows, columns = list(pictures), list(lengths)
    figure, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                                figsize=(2.6 * len(columns), 1.9 * len(rows)))
    for row, mechanism in enumerate(rows):
        for column, name in enumerate(columns):
            axes[row, column].imshow(pictures[mechanism][name][mode].T, aspect="auto", origin="lower",
                                     interpolation="none", cmap="viridis")
            axes[row, column].set_title(f"{mechanism}, {name} ({lengths[name]} tok)", fontsize=8)
            axes[row, column].tick_params(labelsize=6)
    figure.supxlabel("decoder step")
    figure.supylabel("encoder step (phone)")
    figure.tight_layout()
    save(figure, path)


def plot_curves(by_mechanism, image_dir):
    """Scores vs input length (mean over seeds, bars = range), and valid accuracy vs training step."""
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    keys = (("tf_accuracy", "teacher-forced accuracy"), ("clean", "free-running clean share"),
            ("dtw_accuracy", "free-running accuracy (DTW)"))
    for mechanism, runs in by_mechanism.items():
        for axis, (key, _) in zip(axes, keys):
            scores = np.array([values(runs, f"{m}x", key) for m in MULTIPLES])  # [lengths, seeds]
            mean = scores.mean(axis=1)
            axis.errorbar(MULTIPLES, mean, yerr=[mean - scores.min(axis=1), scores.max(axis=1) - mean],
                          marker="o", capsize=3, label=mechanism)
    for axis, (_, title) in zip(axes, keys):
        axis.set_xscale("log", base=2)
        axis.set_xticks(MULTIPLES, [f"{m}x" for m in MULTIPLES])
        axis.set(ylim=(-0.05, 1.05), xlabel="input length / longest training input", title=title)
    axes[0].legend(fontsize=8)
    save(figure, os.path.join(image_dir, "scores_vs_length.png"))
    figure, axis = plt.subplots(figsize=(7, 4))
    for mechanism, runs in by_mechanism.items():
        usable = min(len(run["history"]) for run in runs)
        accuracy = np.mean([[score for _, score in run["history"][:usable]] for run in runs], axis=0)
        axis.plot([step for step, _ in runs[0]["history"][:usable]], accuracy, label=mechanism)
    axis.axhline(ALIGNED, color="gray", linestyle=":")
    axis.set(xlabel="training step", ylabel="teacher-forced valid accuracy")
    axis.legend(fontsize=8)
    save(figure, os.path.join(image_dir, "accuracy_vs_step.png"))


# Prose of the report; markdown joins the lines of a paragraph. Filled with str.format(**info).
INTRO = """Generated by `benchmarks/attention_benchmark.py` (rerun it rather than editing). Each mechanism is
trained the same way (small preset, {parameters} parameters, r = 5, batch 16, the same data and {steps} steps,
seeds 1..{seeds}) on the generated demo corpus ({num_utterances} utterances of {valid_tokens} tokens), then
scored on held-out utterances of the training lengths (`valid`) and on {long_utterances} utterances each with
{multiples} the tokens of the longest training utterance ({long_tokens} tokens). A cell is the mean over seeds
± half their range (the interval covers every seed).

- Command: `{command}`
- Machine: {machine}
- Wall time: {wall_minutes:.1f} min (data {data_minutes:.1f} min), {seconds_per_step:.3f} s/step on average"""
DEFINITIONS = """Metrics (`tacotron/alignment_metrics.py`). **Teacher forced** (the decoder is fed the recorded
mel, so its timing follows the recording): *TF accuracy* = share of decoder steps whose attended phone (the row
argmax of the alignment; for GMM of the mixture alignment) is within ±1 token of the phone that contains the
step's middle frame. *Steps to align* = first evaluation (every {eval_every} steps) from which the TF accuracy on
the valid set is ≥ {aligned} at {in_a_row} evaluations in a row; `>{steps}` = never. **Free running** (synthesis
as in `synthesize.py`, pre-net dropout on, seeded per utterance): *reaches end* = the attended phone gets to the
last label token or `~`; *skipped/utt* = tokens jumped over by forward jumps of more than 3 tokens in one step
(short tokens are legitimately passed within one 5-frame step); *repeats/utt* = backward jumps by 2 tokens or
more; *stop fired* = the stop token ended decoding (else the step limit did, 20 frames per input token);
*length ratio* = generated / recorded frames; *clean* = reaches the end, no skip, no repeat, stop fired and
length ratio in [0.67, 1.5]; *FR accuracy* = like TF accuracy, with the true phone of each generated frame found
by dynamic time warping of the generated mel onto the recorded one. A mechanism *holds* at a length when its
mean clean share there is ≥ {holds}."""
READING = """Reading the two modes: teacher forcing imposes the recording's timing on the decoder, so an
attention whose own pace is slightly off drifts further from the audio the longer the input. A low
teacher-forced accuracy on long inputs together with clean free running means that the attention keeps its own
steady pace (and the generated audio follows it), not that it got lost. Free running is what synthesis does;
*FR accuracy* checks that the generated audio says the attended phones, in the text's order."""
CAVEATS = """Why this can differ from the paper (Battenberg et al. 2019): a small model trained for minutes (the
paper trained full-size models on real speech far longer and judged long utterances by listening and speech
recognition), synthetic Mandarin-like audio whose tokens have fixed spectra and durations, r = 5,
{long_utterances} utterances per long set and {seeds} seed(s) per mechanism. A mechanism that has not aligned
after these steps may still align later (`--mechanisms bahdanau,location_sensitive --steps 10000` tells).

## Runs

Checkpoints and `results.json` (the scores of every utterance) are in `{out_dir}`;
`synthesize.py --checkpoint_dir {out_dir}/runs/<mechanism>_seed<k>` synthesises with one of them.
"""


def write_doc(path, by_mechanism, lengths, info):
    """The markdown report (see the module docstring)."""
    steps, images, names = info["steps"], os.path.basename(os.path.splitext(path)[0]), list(lengths)
    last = f"{MULTIPLES[-1]}x"
    info = dict(info, valid_tokens=lengths["valid"], multiples=", ".join(names[1:]), aligned=ALIGNED,
                long_tokens=", ".join(lengths[name] for name in names[1:]), in_a_row=IN_A_ROW, holds=HOLDS)
    lines = ["# Attention benchmark: why GMM attention", "", INTRO.format(**info), "", "## Summary", ""]
    lines += table(["mechanism", "steps to align (per seed)", "TF accuracy valid", f"TF accuracy {last}"]
                   + [f"clean {name}" for name in ["valid"] + names[2:]],
                   [[mechanism, steps_cell(runs, steps)]
                    + [cell(values(runs, name, "tf_accuracy")) for name in ("valid", last)]
                    + [cell(values(runs, name, "clean")) for name in ["valid"] + names[2:]]
                    for mechanism, runs in by_mechanism.items()])
    lines += [DEFINITIONS.format(**info), ""]
    for name in names:
        lines += [f"## {name}: {lengths[name]} tokens", ""]
        lines += table(["mechanism"] + [title for _, title in METRICS] + ["hit max steps (all seeds)"],
                       [[mechanism] + [cell(values(runs, name, key)) for key, _ in METRICS]
                        + [str(sum(values(runs, name, "hit_max_steps")))]
                        for mechanism, runs in by_mechanism.items()])
    lines += ["## Pictures", "", "Free-running alignments (first utterance of each set, seed 1):", "",
              f"![free-running alignments]({images}/alignments_free_running.png)", "",
              "Teacher-forced alignments of the same utterances:", "",
              f"![teacher-forced alignments]({images}/alignments_teacher_forced.png)", "",
              "Scores vs input length:", "", f"![scores vs length]({images}/scores_vs_length.png)", "",
              "Teacher-forced valid accuracy while training (mean over seeds):", "",
              f"![accuracy vs step]({images}/accuracy_vs_step.png)", "", "## What the numbers show", ""]
    lines += findings(by_mechanism, steps) + ["", READING, "", "### Compared with the paper", ""]
    lines += table(["paper", "here", "verdict"], paper_rows(by_mechanism, steps))
    lines += [CAVEATS.format(**info)]
    lines += table(["mechanism", "seed", "s/step", "train min", "final loss", "diverged at"],
                   [[run["mechanism"], str(run["seed"]), f"{run['seconds_per_step']:.3f}",
                     f"{run['train_seconds'] / 60:.1f}", f"{run['final_loss']:.3f}",
                     str(run["diverged_at"] or "-")]
                    for runs in by_mechanism.values() for run in runs])
    fileio.write_text(path, "\n".join(lines))


def main(argv):
    del argv
    start = time.perf_counter()
    unknown = [name for name in setting("mechanisms") if name not in MECHANISMS]
    if unknown:
        raise app.UsageError(f"unknown mechanisms {unknown}; choose from {', '.join(MECHANISMS)}")
    hp = hparams_lib.load_hparams(preset="small")
    train_dir, sets, lengths = build_data(FLAGS.out_dir, hp)
    data_seconds = time.perf_counter() - start
    by_mechanism, pictures = {}, {}
    for mechanism in setting("mechanisms"):
        for seed in range(1, setting("seeds") + 1):
            result, first = train_and_score(mechanism, seed, hp, train_dir, sets)
            by_mechanism.setdefault(mechanism, []).append(result)
            pictures.setdefault(mechanism, first)
            print(f"{mechanism} seed {seed}: steps to align {result['steps_to_align']}, clean "
                  f"{[round(s['clean'], 2) for s in result['sets'].values()]}, "
                  f"{(time.perf_counter() - start) / 60:.1f} min so far", flush=True)
    image_dir = os.path.splitext(FLAGS.doc)[0]
    os.makedirs(image_dir, exist_ok=True)
    plot_grid(pictures, lengths, 1, os.path.join(image_dir, "alignments_free_running.png"))
    plot_grid(pictures, lengths, 0, os.path.join(image_dir, "alignments_teacher_forced.png"))
    plot_curves(by_mechanism, image_dir)
    runs = [run for runs in by_mechanism.values() for run in runs]
    info = {"steps": setting("steps"), "seeds": setting("seeds"), "eval_every": setting("eval_every"),
            "num_utterances": setting("num_utterances"), "long_utterances": setting("long_utterances"),
            "out_dir": FLAGS.out_dir, "parameters": f"{runs[0]['parameters'] / 1e6:.2f} M",
            "command": " ".join([".venv/bin/python benchmarks/attention_benchmark.py"]
                                + [shlex.quote(arg) for arg in sys.argv[1:]]),
            "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
                       f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
            "seconds_per_step": float(np.mean([run["seconds_per_step"] for run in runs])),
            "data_minutes": data_seconds / 60, "wall_minutes": (time.perf_counter() - start) / 60}
    fileio.write_text(os.path.join(FLAGS.out_dir, "results.json"), json.dumps({"info": info, "runs": runs}))
    write_doc(FLAGS.doc, by_mechanism, lengths, info)
    print(f"wrote {FLAGS.doc} and {image_dir}/*.png in {info['wall_minutes']:.1f} min", flush=True)


if __name__ == "__main__":
    app.run(main)
