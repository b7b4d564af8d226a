"""Corpus preprocessing: course labels + wavs -> trimmed wavs, normalised mels, metadata and a split.

Input (course layout): `label_dir/*.lab`, each holding one or more lines `id|hanzi|phones`; the audio of
utterance `<id>` is `wav_dir/<id>.wav`.

Output in `out_dir` (every file written atomically):
    mels/<id>.npy   float32 [n_frames, acoustic_dim], normalised to [-max_abs_value, max_abs_value]
    wavs/<id>.wav   trimmed audio, 16-bit mono at sample_rate, exactly n_frames * hop_size samples
    metadata.csv    header `id|n_samples|n_frames|n_phones|phones`, one line per utterance sorted by id;
                    phones space-separated without the final "~" (the reader appends it)
    train.txt, valid.txt   one id per line (seeded split)
    hparams.yaml    the hyper-parameters used

Bad input never stops a run: each problem skips its utterance (or label file), is counted under one of
`SKIP_REASONS` and reported as one line naming the file. Utterances whose mel and wav already exist are
reused (lengths read from the file headers) unless `overwrite`, or unless the feature settings differ from
the `hparams.yaml` of the previous run in out_dir (then everything is recomputed).
"""
import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import warnings

import numpy as np
import soundfile
from absl import logging
from tqdm import tqdm

from datasets import audio
from datasets import fileio
from datasets.labels import LabelError
from datasets.labels import list_label_files
from datasets.labels import parse_label_line
from datasets.symbols import EOS
from datasets.symbols import SYMBOLS
from hparams import HParamsError
from hparams import load_hparams

METADATA_HEADER = "id|n_samples|n_frames|n_phones|phones"
# Audio whose peak is below this level (dBFS) is treated as silence: the trimmer cannot trim it.
SILENCE_PEAK_DB = -60.0
SKIP_REASONS = ("missing wav", "unreadable wav", "empty label", "malformed label", "unknown phone",
                "duplicate id", "too long", "silent audio", "processing error")

Skip = collections.namedtuple("Skip", ["reason", "message"])
Done = collections.namedtuple("Done", ["utt_id", "n_samples", "n_frames", "reused"])
Record = collections.namedtuple("Record", ["utt_id", "n_samples", "n_frames", "phones"])


@dataclasses.dataclass
class PreprocessResult:
    """What a run did. `records` are sorted by id; `skipped` counts by reason; `messages` one per skip."""
    records: list
    skipped: collections.Counter
    messages: list
    reused: int
    train_ids: list
    valid_ids: list
    sample_rate: int

    @property
    def num_done(self):
        return len(self.records)

    @property
    def num_skipped(self):
        return sum(self.skipped.values())

    def summary(self):
        """One line: done N, skipped M (by reason), hours of audio, longest utterance."""
        reasons = ", ".join(f"{self.skipped[reason]} {reason}" for reason in SKIP_REASONS
                            if self.skipped[reason])
        skipped = f"skipped {self.num_skipped}" + (f" ({reasons})" if reasons else "")
        hours = sum(record.n_samples for record in self.records) / self.sample_rate / 3600.0
        if self.records:
            longest = max(self.records, key=lambda record: (record.n_frames, record.utt_id))
            longest_text = f"longest {longest.utt_id} ({longest.n_frames} frames)"
        else:
            longest_text = "longest none"
        return (f"done {self.num_done} ({self.reused} reused), {skipped}, {hours:.2f} hours of audio, "
                f"{longest_text}; train {len(self.train_ids)}, valid {len(self.valid_ids)}")


def feature_settings(hp):
    """The plain keyword arguments of `audio.features_from_wav`, read from hparams."""
    return {
        "sample_rate": hp.sample_rate, "n_fft": hp.n_fft, "hop_size": hp.hop_size, "win_size": hp.win_size,
        "n_mels": hp.acoustic_dim, "fmin": hp.fmin, "fmax": hp.fmax, "min_level_db": hp.min_level_db,
        "ref_level_db": hp.ref_level_db, "max_abs_value": hp.max_abs_value, "trim_top_db": hp.trim_top_db,
        "trim_frame_length": hp.trim_fft_size, "trim_hop_length": hp.trim_hop_size,
        "num_silent_frames": hp.num_silent_frames,
    }


def _label_reason(line):
    """Classifies a rejected label line: "unknown phone" if it is well formed but uses a foreign symbol."""
    fields = line.strip().lstrip("\ufeff").split("|")
    if len(fields) == 3 and fields[0].strip() and any(p not in SYMBOLS for p in fields[2].split()):
        return "unknown phone"
    return "malformed label"


def collect_utterances(label_dir):
    """Reads every label file line by line; a bad line skips only its utterance.

    Returns:
        (utterances, skips): a list of (utt_id, phones without the final "~", label path) in file order,
        and a list of Skip for empty files, bad lines and repeated ids.
    """
    utterances, skips, seen = [], [], {}
    for path in list_label_files(label_dir):
        try:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            skips.append(Skip("malformed label", f"{path}: unreadable label file ({error})"))
            continue
        lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not lines:
            skips.append(Skip("empty label", f"{path}: empty label file"))
            continue
        for number, line in lines:
            source = path if len(lines) == 1 else f"{path}:{number}"
            try:
                utt_id, _, phones = parse_label_line(line, source=source)
            except LabelError as error:
                skips.append(Skip(_label_reason(line), str(error)))
                continue
            if phones and phones[-1] == EOS:
                phones = phones[:-1]
            if not phones or os.sep in utt_id or utt_id in (".", ".."):
                skips.append(Skip("malformed label", f"{source}: malformed label, unusable id {utt_id!r} "
                                                     "or no phones besides '~'"))
            elif utt_id in seen:
                skips.append(Skip("duplicate id", f"{source}: duplicate utterance id {utt_id} "
                                                  f"(first in {seen[utt_id]}), skipped"))
            else:
                seen[utt_id] = source
                utterances.append((utt_id, phones, path))
    return utterances, skips


def output_paths(out_dir, utt_id):
    """(mel path, wav path) of one utterance in the output directory."""
    return (os.path.join(out_dir, "mels", f"{utt_id}.npy"), os.path.join(out_dir, "wavs", f"{utt_id}.wav"))


def _existing_lengths(mel_path, wav_path, features):
    """(n_samples, n_frames) of an already processed utterance read from the file headers, or None when
    the files are missing or do not match the current settings (then it is recomputed)."""
    if not (os.path.isfile(mel_path) and os.path.isfile(wav_path)):
        return None
    try:
        mel = np.load(mel_path, mmap_mode="r")
        shape, dtype = mel.shape, mel.dtype
        del mel
        info = soundfile.info(wav_path)
    except (OSError, ValueError, RuntimeError):
        return None
    if (len(shape) != 2 or shape[1] != features["n_mels"] or dtype != np.float32 or shape[0] == 0
            or info.samplerate != features["sample_rate"] or info.channels != 1
            or info.frames != shape[0] * features["hop_size"]):
        return None
    return info.frames, shape[0]


def _settings_changed(out_dir, features):
    """True when out_dir holds the hparams.yaml of an earlier run with different feature settings."""
    path = os.path.join(out_dir, "hparams.yaml")
    if not os.path.isfile(path):
        return False
    try:
        return feature_settings(load_hparams(path)) != features
    except HParamsError:
        return True


def process_utterance(utt_id, wav_path, out_dir, features, max_frames, overwrite):
    """Load -> trim -> mel -> align -> write one utterance (runs in a worker process).

    Args:
        utt_id: utterance id; outputs are `out_dir/mels/<id>.npy` and `out_dir/wavs/<id>.wav`.
        wav_path: source audio.
        features: `feature_settings(hp)`.
        max_frames: utterances with more mel frames are skipped.
        overwrite: recompute even if both outputs exist.
    Returns:
        Done(utt_id, n_samples, n_frames, reused) or Skip(reason, message).
    """
    if not os.path.isfile(wav_path):
        return Skip("missing wav", f"{wav_path}: missing wav for utterance {utt_id}")
    mel_path, out_wav_path = output_paths(out_dir, utt_id)
    existing = None if overwrite else _existing_lengths(mel_path, out_wav_path, features)
    if existing is not None:
        n_samples, n_frames = existing
        reused = True
    else:
        try:
            wav = audio.load_wav(wav_path, features["sample_rate"])
        except audio.AudioError as error:
            return Skip("unreadable wav", str(error))
        except (ValueError, RuntimeError) as error:  # e.g. resampling an odd rate
            return Skip("processing error", f"{wav_path}: loading failed ({error})")
        level = audio.peak_db(wav)
        if level < SILENCE_PEAK_DB:
            return Skip("silent audio", f"{wav_path}: silent audio (peak {level:.1f} dBFS, "
                                        f"below {SILENCE_PEAK_DB:.0f})")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="n_fft=.*too large")
                wav, mel = audio.features_from_wav(wav, **features)
        except (ValueError, RuntimeError, FloatingPointError) as error:
            return Skip("processing error", f"{wav_path}: feature extraction failed ({error})")
        n_samples, n_frames = len(wav), mel.shape[0]
        if n_frames == 0:
            return Skip("silent audio", f"{wav_path}: empty audio after trimming (shorter than one hop)")
        reused = False
    if n_frames > max_frames:
        return Skip("too long", f"{wav_path}: utterance {utt_id} has {n_frames} frames, more than "
                                f"max_acoustic_length {max_frames}")
    if not reused:
        fileio.write_npy(mel_path, mel)
        fileio.write_wav(out_wav_path, wav, features["sample_rate"])
    return Done(utt_id, n_samples, n_frames, reused)


def num_valid(num_utterances, valid_size):
    """Validation set size: a count (>= 1) or a fraction (0 < f < 1) of the utterances, kept so that at
    least one training utterance remains and, with two or more utterances, at least one validates."""
    if valid_size <= 0 or (valid_size >= 1 and valid_size != int(valid_size)):
        raise ValueError(f"valid_size must be a count >= 1 or a fraction in (0, 1), got {valid_size!r}")
    if num_utterances < 2:
        return 0
    wanted = int(valid_size) if valid_size >= 1 else int(round(valid_size * num_utterances))
    return min(max(wanted, 1), num_utterances - 1)


def split_ids(ids, valid_size, seed):
    """Seeded train/valid split of utterance ids -> (train ids sorted, valid ids sorted)."""
    ordered = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(ordered))
    count = num_valid(len(ordered), valid_size)
    valid = sorted(ordered[index] for index in order[:count])
    chosen = set(valid)
    return [utt_id for utt_id in ordered if utt_id not in chosen], valid


def metadata_text(records):
    """The metadata.csv contents for records sorted by id."""
    lines = [METADATA_HEADER]
    for record in records:
        lines.append(f"{record.utt_id}|{record.n_samples}|{record.n_frames}|{len(record.phones)}|"
                     f"{' '.join(record.phones)}")
    return "\n".join(lines) + "\n"


def _run_jobs(jobs, out_dir, features, max_frames, overwrite, n_jobs, progress):
    """Yields the Done/Skip of every (utt_id, wav_path) job, in-process or over `n_jobs` processes."""
    bar = tqdm(total=len(jobs), desc="preprocess", unit="utt", disable=not progress)
    try:
        workers = min(n_jobs, len(jobs))
        if workers <= 1:
            for utt_id, wav_path in jobs:
                yield process_utterance(utt_id, wav_path, out_dir, features, max_frames, overwrite)
                bar.update(1)
            return
        # "spawn": safe even when the caller has TensorFlow (and its threads) loaded.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
            futures = [executor.submit(process_utterance, utt_id, wav_path, out_dir, features, max_frames,
                                       overwrite) for utt_id, wav_path in jobs]
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
                bar.update(1)
    finally:
        bar.close()


def preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size, n_jobs=1, overwrite=False,
                      progress=False):
    """Preprocesses a course-layout corpus into `out_dir` (see the module docstring for the files).

    Args:
        label_dir, wav_dir: the corpus.
        out_dir: output directory (created).
        hp: HParams (features, max_acoustic_length, random_seed).
        valid_size: validation utterances, a count >= 1 or a fraction in (0, 1).
        n_jobs: worker processes (1 = in this process).
        overwrite: recompute utterances whose outputs already exist.
        progress: show a tqdm progress bar.
    Returns:
        PreprocessResult. Each skip is also logged as one warning line. When nothing could be processed,
        no metadata, split or hparams file is written.
    Raises:
        ValueError for an invalid valid_size or an out_dir whose wavs/ is the source wav_dir;
        LabelError when label_dir does not exist.
    """
    num_valid(2, valid_size)  # validates valid_size before any work
    if os.path.realpath(os.path.join(out_dir, "wavs")) == os.path.realpath(wav_dir):
        raise ValueError(f"{out_dir}: out_dir/wavs is the source wav_dir; choose another out_dir")
    features = feature_settings(hp)
    if not overwrite and _settings_changed(out_dir, features):
        logging.warning("%s: feature settings differ from the previous run; recomputing every utterance",
                        os.path.join(out_dir, "hparams.yaml"))
        overwrite = True
    utterances, skips = collect_utterances(label_dir)
    for skip in skips:
        logging.warning(skip.message)
    phones_by_id = {utt_id: phones for utt_id, phones, _ in utterances}
    jobs = [(utt_id, os.path.join(wav_dir, f"{utt_id}.wav")) for utt_id, _, _ in utterances]
    done = []
    for outcome in _run_jobs(jobs, out_dir, features, hp.max_acoustic_length, overwrite, n_jobs, progress):
        if isinstance(outcome, Skip):
            logging.warning(outcome.message)
            skips.append(outcome)
        else:
            done.append(outcome)
    records = sorted((Record(item.utt_id, item.n_samples, item.n_frames, phones_by_id[item.utt_id])
                      for item in done), key=lambda record: record.utt_id)
    train_ids, valid_ids = split_ids([record.utt_id for record in records], valid_size, hp.random_seed)
    if records:
        fileio.write_text(os.path.join(out_dir, "metadata.csv"), metadata_text(records))
        fileio.write_text(os.path.join(out_dir, "train.txt"), "".join(f"{i}\n" for i in train_ids))
        fileio.write_text(os.path.join(out_dir, "valid.txt"), "".join(f"{i}\n" for i in valid_ids))
        hp.save(os.path.join(out_dir, "hparams.yaml"))
    return PreprocessResult(
        records=records, skipped=collections.Counter(skip.reason for skip in skips),
        messages=[skip.message for skip in skips], reused=sum(item.reused for item in done),
        train_ids=train_ids, valid_ids=valid_ids, sample_rate=hp.sample_rate)
