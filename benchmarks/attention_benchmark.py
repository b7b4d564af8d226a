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
4. Report (benchmarks/attention_report.py): --doc (markdown tables, command, machine, wall time) and PNGs in
   the folder named like --doc without ".md"; results.json in --out_dir.
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
import numpy as np
import tensorflow as tf

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
from tacotron.progress import Progress  # noqa: E402
from tacotron.run_dir import write_run  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.trainer import set_mixed_precision  # noqa: E402
from tacotron.inference import utterance_seed  # noqa: E402
from attention_report import ALIGNED  # noqa: E402  (benchmarks/, the script's own folder)
from mechanisms import MECHANISMS  # noqa: E402
from attention_report import IN_A_ROW  # noqa: E402
from attention_report import MULTIPLES  # noqa: E402
from attention_report import plot_curves  # noqa: E402
from attention_report import plot_grid  # noqa: E402
from attention_report import write_doc  # noqa: E402

DEFAULT_MECHANISMS = list(MECHANISMS)
# Attention window [back, ahead] with which the softmax mechanisms are scored a second time (ESPnet's default
# attention constraint: 1 back, 3 ahead); the "windowed" scores of a run.
WINDOW = [1, 3]
# Flag values of --quick, used where the flag is not given explicitly.
QUICK = {"mechanisms": ["gmm_v2b", "bahdanau"], "seeds": 1, "steps": 30, "eval_every": 10,
         "num_utterances": 40, "valid_size": 4, "long_utterances": 2, "min_tokens": 8, "max_tokens": 16}

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "/tmp/attention_benchmark", "Scratch directory: corpora, features, runs/ "
                    "(checkpoints), results.json, and the report unless --doc is given.")
flags.DEFINE_string("doc", None, "Markdown report; PNGs go to the folder without .md. Default: "
                    "<out_dir>/attention_benchmark.md, so that a quick or partial run never overwrites the published "
                    "report (pass --doc docs/attention_benchmark.md to publish).")
flags.DEFINE_list("mechanisms", DEFAULT_MECHANISMS, f"Mechanisms to compare: {', '.join(MECHANISMS)}.")
flags.DEFINE_string("hparams", "", "Overrides applied to every run after the small preset, e.g. "
                    "\"outputs_per_step=2,start_lr=1e-3\" (for experiments; the report lists them).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_bfloat16"], "Keras precision policy of every run's "
                  "training and synthesis (train.py's flag); the report lists it.")
flags.DEFINE_integer("seeds", 2, "Training runs per mechanism (random_seed 1, 2, ...).")
flags.DEFINE_integer("steps", 2500, "Training steps per run.")
flags.DEFINE_integer("eval_every", 100, "Teacher-forced valid accuracy every N steps (steps to align).")
flags.DEFINE_integer("num_utterances", 1000, "Utterances of the training corpus (train + valid).")
flags.DEFINE_integer("valid_size", 32, "Held-out valid utterances of the training distribution.")
flags.DEFINE_integer("long_utterances", 8, "Utterances per long set (1x, 2x, 4x, 8x).")
flags.DEFINE_integer("min_tokens", 15, "Fewest tokens of a training utterance.")
flags.DEFINE_integer("max_tokens", 40, "Most tokens of a training utterance.")
flags.DEFINE_bool("stop_when_aligned", False, "End a run once it is aligned (for experiments that only want "
                  "steps to align; its later scores then come from fewer steps).")
flags.DEFINE_bool("report_only", False, "Rewrite the report from --out_dir's results.json and its runs' pictures.npz "
                  "(after changing the report's code) without training.")
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


def alignment_functions(model, hp, window=None):
    """tf.functions (traced once each): teacher-forced and free-running alignments of a batch; the free-running
    one with the attention window `window` ([back, ahead], [] = off, None = the hparam's)."""
    int_matrix, int_vector = tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)

    @tf.function(input_signature=[int_matrix, int_vector, tf.TensorSpec([None, None, hp.acoustic_dim]),
                                  int_vector])
    def forced(phones, input_lengths, mel, mel_lengths):
        return model(phones, input_lengths, mel, mel_lengths, training=False)["alignments"]

    @tf.function(input_signature=[int_matrix, int_vector, int_vector])
    def free(phones, input_lengths, seeds):
        outputs = model.infer(phones, input_lengths, seeds, attention_window=window)
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


def score_sets(forced, free, sets, r, seed):
    """Teacher-forced and free-running scores of every set: ({set name: summary}, {set name: (first
    teacher-forced alignment, first free-running alignment)})."""
    summaries, pictures = {}, {}
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
        summaries[name] = summary
        pictures[name] = (forced_cut[0], free_cut[0])
    return summaries, pictures


def train_and_score(mechanism, seed, hp, train_dir, sets, progress):
    """One run: trains, tracks valid accuracy, scores every set. Returns (result dict, first alignments).

    progress: a tacotron.progress.Progress over all runs' steps; this run's steps start at progress.done.
    """
    hp = hp.replace(random_seed=seed, **MECHANISMS[mechanism])
    keras.utils.set_random_seed(seed)
    set_mixed_precision(FLAGS.mixed_precision)  # per run: the clear_session() that ends a run resets it
    trainer = build_trainer(hp, FLAGS.mixed_precision)
    model, train_step = trainer.model, trainer.train_step
    forced, free = alignment_functions(model, hp)
    r, steps, history, diverged_at = hp.outputs_per_step, setting("steps"), [], None
    iterator = iter(dataset_from_hparams(train_dir, "train", hp, training=True))
    start, offset, accuracy = time.perf_counter(), progress.done, float("nan")
    eval_seconds = 0.0
    for step in range(1, steps + 1):
        loss = float(train_step(next(iterator))["loss"])
        if not np.isfinite(loss):
            diverged_at = step
            break
        if step % setting("eval_every") == 0 or step == steps:
            eval_start = time.perf_counter()
            accuracy = float(np.mean([a for batch in sets["valid"] for a in tf_accuracies(forced, batch, r)[0]]))
            history.append((step, accuracy))
            eval_seconds += time.perf_counter() - eval_start
        progress.update(offset + step, run=f"{mechanism} seed {seed}", step=step, loss=f"{loss:.3f}",
                        accuracy=f"{accuracy:.2f}")
        if FLAGS.stop_when_aligned and metrics.steps_to_align(history, ALIGNED, IN_A_ROW) is not None:
            progress.total -= steps - step  # the steps this run skips
            break
    train_seconds = time.perf_counter() - start - eval_seconds
    run_dir = run_path(FLAGS.out_dir, mechanism, seed)  # a train.py-style --log_dir
    write_run(run_dir, hp, make_checkpoint(model))
    result = {"mechanism": mechanism, "seed": seed, "history": history, "diverged_at": diverged_at,
              "steps_to_align": metrics.steps_to_align(history, ALIGNED, IN_A_ROW), "trained_steps": step,
              "train_seconds": train_seconds,
              "seconds_per_step": train_seconds / max(step, 1), "final_loss": loss, "sets": {},
              "parameters": model.count_params(), "policy": model.dtype_policy.name}
    result["sets"], pictures = score_sets(forced, free, sets, r, seed)
    if hp.attention_type != "gmm":  # the same weights, synthesising with the attention window
        result["windowed"], _ = score_sets(forced, alignment_functions(model, hp, WINDOW)[1], sets, r, seed)
    result["total_seconds"] = time.perf_counter() - start
    keras.backend.clear_session()
    return result, pictures


def main(argv):
    del argv
    start = time.perf_counter()
    unknown = [name for name in setting("mechanisms") if name not in MECHANISMS]
    if unknown:
        raise app.UsageError(f"unknown mechanisms {unknown}; choose from {', '.join(MECHANISMS)}")
    hp = hparams_lib.load_hparams(preset="small", overrides=FLAGS.hparams)
    doc = FLAGS.doc or os.path.join(FLAGS.out_dir, "attention_benchmark.md")
    if FLAGS.report_only:
        info, by_mechanism, lengths, pictures = load_results(FLAGS.out_dir)
        report(doc, info, by_mechanism, lengths, pictures)
        return
    train_dir, sets, lengths = build_data(FLAGS.out_dir, hp)
    data_seconds = time.perf_counter() - start
    by_mechanism, pictures = {}, {}
    runs = [(mechanism, seed) for mechanism in setting("mechanisms") for seed in range(1, setting("seeds") + 1)]
    settings = {name: setting(name) for name in ("steps", "eval_every", "num_utterances", "valid_size",
                                                  "long_utterances", "min_tokens", "max_tokens")}
    settings.update(hparams=FLAGS.hparams, window=WINDOW)
    if FLAGS.mixed_precision != "none":  # a setting only when on, so that earlier float32 runs are still reused
        settings.update(mixed_precision=FLAGS.mixed_precision)
    done = {run: load_run(FLAGS.out_dir, *run, settings) for run in runs}
    progress = Progress(sum(done[run] is None for run in runs) * setting("steps"), "benchmark", "step",
                        stream=sys.stdout)
    for mechanism, seed in runs:
        if done[(mechanism, seed)] is not None:  # a finished run of an interrupted benchmark
            result, first = done[(mechanism, seed)]
            progress.write(f"{mechanism} seed {seed}: kept from {run_path(FLAGS.out_dir, mechanism, seed)}")
        else:
            result, first = train_and_score(mechanism, seed, hp, train_dir, sets, progress)
            save_run(FLAGS.out_dir, result, first, settings)
        by_mechanism.setdefault(mechanism, []).append(result)
        pictures.setdefault(mechanism, first)
        progress.write(f"{mechanism} seed {seed}: steps to align {result['steps_to_align']}, clean "
                       f"{[round(s['clean'], 2) for s in result['sets'].values()]}, "
                       f"{(time.perf_counter() - start) / 60:.1f} min so far")
    progress.close()
    runs = [run for runs in by_mechanism.values() for run in runs]
    info = {"steps": setting("steps"), "seeds": setting("seeds"), "eval_every": setting("eval_every"),
            "num_utterances": setting("num_utterances"), "long_utterances": setting("long_utterances"),
            "out_dir": FLAGS.out_dir, "hparams": FLAGS.hparams, "window": WINDOW,
            "parameters": f"{runs[0]['parameters'] / 1e6:.2f} M",
            "command": " ".join([".venv/bin/python benchmarks/attention_benchmark.py"]
                                + [shlex.quote(arg) for arg in sys.argv[1:]]),
            "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
                       f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
            "seconds_per_step": float(np.mean([run["seconds_per_step"] for run in runs])),
            "data_minutes": data_seconds / 60,
            "wall_minutes": data_seconds / 60 + sum(run["total_seconds"] for run in runs) / 60}
    save_results(FLAGS.out_dir, info, runs, lengths)
    report(doc, info, by_mechanism, lengths, pictures)


def run_path(out_dir, mechanism, seed):
    """The run's directory: a train.py-style --log_dir, plus result.json and pictures.npz."""
    return os.path.join(out_dir, "runs", f"{mechanism}_seed{seed}")


def save_run(out_dir, result, first, settings):
    """Writes one finished run's scores and pictures, so that an interrupted benchmark resumes after it."""
    path = run_path(out_dir, result["mechanism"], result["seed"])
    with fileio.atomic_path(os.path.join(path, "pictures.npz")) as temp_path:
        with open(temp_path, "wb") as handle:  # a file object: savez would add ".npz" to a name
            np.savez_compressed(handle, **{f"{name}|{mode}": pair[mode] for name, pair in first.items()
                                           for mode in (0, 1)})
    fileio.write_text(os.path.join(path, "result.json"), json.dumps({"settings": settings, "result": result}))


def read_pictures(path):
    """The {set name: [teacher-forced, free-running alignment]} that save_run wrote in a run's folder."""
    first = {}
    with np.load(os.path.join(path, "pictures.npz")) as arrays:
        for key in arrays.files:
            name, mode = key.split("|")
            first.setdefault(name, [None, None])[int(mode)] = arrays[key]
    return first


def load_run(out_dir, mechanism, seed, settings):
    """(result, pictures) of a run saved with the same settings, else None."""
    path = run_path(out_dir, mechanism, seed)
    try:
        with open(os.path.join(path, "result.json"), encoding="utf-8") as handle:
            saved = json.load(handle)
        if saved["settings"] != json.loads(json.dumps(settings)):
            return None
        return saved["result"], read_pictures(path)
    except (OSError, ValueError, KeyError):
        return None


def save_results(out_dir, info, runs, lengths):
    """results.json in out_dir: the scores of every run (their pictures stay in each run's folder)."""
    fileio.write_text(os.path.join(out_dir, "results.json"),
                      json.dumps({"info": info, "runs": runs, "lengths": lengths}))


def load_results(out_dir):
    """What save_results and save_run wrote: (info, {mechanism: runs}, lengths, {mechanism: first run's
    pictures})."""
    with open(os.path.join(out_dir, "results.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    by_mechanism, pictures = {}, {}
    for run in saved["runs"]:
        by_mechanism.setdefault(run["mechanism"], []).append(run)
        if run["mechanism"] not in pictures:
            pictures[run["mechanism"]] = read_pictures(run_path(out_dir, run["mechanism"], run["seed"]))
    return saved["info"], by_mechanism, saved["lengths"], pictures


def report(doc, info, by_mechanism, lengths, pictures):
    """Writes the markdown report and its pictures (the folder named like `doc` without .md)."""
    image_dir = os.path.splitext(doc)[0]
    os.makedirs(image_dir, exist_ok=True)
    plot_grid(pictures, lengths, 1, os.path.join(image_dir, "alignments_free_running.png"))
    plot_grid(pictures, lengths, 0, os.path.join(image_dir, "alignments_teacher_forced.png"))
    plot_curves(by_mechanism, image_dir)
    write_doc(doc, by_mechanism, lengths, info)
    print(f"wrote {doc} and {image_dir}/*.png", flush=True)


if __name__ == "__main__":
    app.run(main)
