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
from tacotron.run_dir import write_run  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.inference import utterance_seed  # noqa: E402
from attention_report import ALIGNED  # noqa: E402  (benchmarks/, the script's own folder)
from attention_report import IN_A_ROW  # noqa: E402
from attention_report import MULTIPLES  # noqa: E402
from attention_report import plot_curves  # noqa: E402
from attention_report import plot_grid  # noqa: E402
from attention_report import write_doc  # noqa: E402

# Mechanism name -> (attention_type, gmm_version); gmm_version is ignored by the non-GMM mechanisms.
MECHANISMS = {"bahdanau": ("bahdanau", "v2b"), "location_sensitive": ("location_sensitive", "v2b"),
              "gmm_v0": ("gmm", "v0"), "gmm_v1": ("gmm", "v1"), "gmm_v2": ("gmm", "v2"),
              "gmm_v2b": ("gmm", "v2b"), "dca": ("dca", "v2b")}
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
