"""Corpus preprocessing: course labels + wavs -> trimmed wavs, normalised mels, metadata and a split.

Input (course layout): `label_dir/*.lab`, each holding one or more lines `id|hanzi|phones`; the audio of
utterance `<id>` is `wav_dir/<id>.wav`.

Output in `out_dir` (every file written atomically, see datasets/fileio.py):
    mels/<id>.npy   float32 [n_frames, acoustic_dim], normalised to [-max_abs_value, max_abs_value]
    wavs/<id>.wav   trimmed audio, 16-bit mono at sample_rate, exactly n_frames * hop_size samples
    metadata.csv    header `id|n_samples|n_frames|n_phones|phones`, one line per utterance sorted by id;
                    phones space-separated without the final "~" (the reader appends it)
    train.txt, valid.txt   one id per line (seeded split)
    hparams.yaml    the hyper-parameters used (written before the first feature: it records the settings
                    that the features in mels/ and wavs/ were made with)

Bad input never stops a run: each problem skips its utterance (or label file), is counted under one of
`SKIP_REASONS` and reported as one line naming the file. Utterances whose mel and wav already exist are
reused (lengths read from the file headers) unless `overwrite`, or unless the feature settings differ from
the `hparams.yaml` of the previous run in out_dir (then the old features are deleted and recomputed).

A run can be killed at any moment (SIGKILL included) and rerun: every file is whole or absent, worker
processes die with the main process (Linux), the rerun deletes the temporary files a killed run left and
reuses every finished utterance. `train.txt`, `valid.txt` and then `metadata.csv` are written last, each
atomically, so a killed run leaves either the previous run's versions or the new ones.

A failed write (disk full, no permission) or a worker that dies (out of memory) stops the run at once with
`PreprocessStopped`: a full disk would fail every following utterance too. Nothing half-written is left,
no metadata is written, and the rerun after space is freed finishes the rest.
"""
import collections
import concurrent.futures
import concurrent.futures.process
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import warnings

import numpy as np
import soundfile
from absl import logging

from datasets import audio
from datasets import fileio
from text.labels import list_label_files
from text.labels import read_labels
from hparams import HParamsError
from hparams import load_hparams
from tacotron.progress import Progress

METADATA_HEADER = "id|n_samples|n_frames|n_phones|phones"
# Audio whose peak is below this level (dBFS) is treated as silence: the trimmer cannot trim it.
SILENCE_PEAK_DB = -60.0
SKIP_REASONS = ("missing wav", "unreadable wav", "empty label", "malformed label", "unknown phone",
                "duplicate id", "too long", "silent audio", "processing error")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

Skip = collections.namedtuple("Skip", ["reason", "message"])
Done = collections.namedtuple("Done", ["utt_id", "n_samples", "n_frames", "reused"])
Record = collections.namedtuple("Record", ["utt_id", "n_samples", "n_frames", "phones"])


class PreprocessStopped(RuntimeError):
    """The run stopped early: an output could not be written (disk full, no permission) or a worker process
    died. Everything written so far is complete and the next run reuses it; the message says what failed."""


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
        "ref_level_db": hp.ref_level_db, "max_abs_value": hp.max_abs_value, "min_db": hp.min_db,
        "trim_top_db": hp.trim_top_db,
        "trim_frame_length": hp.trim_fft_size, "trim_hop_length": hp.trim_hop_size,
        "num_silent_frames": hp.num_silent_frames,
    }


def collect_utterances(label_dir):
    """Reads every label file with the project's one label reader (`text.labels.read_labels`); a bad line
    skips only its utterance.

    Returns:
        (utterances, skips): the text.labels.Utterance list in file order (phones without a final "~"),
        and one Skip per unreadable or empty file, bad line and repeated id (the LabelError's reason).
    """
    utterances, problems = read_labels(list_label_files(label_dir))
    return utterances, [Skip(problem.reason, str(problem)) for problem in problems]


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


def _discard_features(out_dir):
    """Deletes the mels and wavs of an earlier run (made with other feature settings)."""
    for sub, ending in (("mels", ".npy"), ("wavs", ".wav")):
        directory = os.path.join(out_dir, sub)
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if name.endswith(ending):
                    os.remove(os.path.join(directory, name))


def _worker_init(parent_pid):
    """Runs first in each worker process: the worker is killed when the main process dies (Linux
    PR_SET_PDEATHSIG), so that a killed run leaves no worker writing behind the next run's back."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (AttributeError, OSError):  # not Linux: a worker ends when it finds its job queue closed
        pass
    if os.getppid() != parent_pid:  # the main process died before prctl
        os._exit(1)


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
    Raises:
        OSError naming the file when an output cannot be written (the mel is written before the wav, and an
        utterance counts as done only when both exist, so a failure between them is recomputed).
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
    """Yields the Done/Skip of every (utt_id, wav_path) job, in-process or over `n_jobs` processes.

    The first exception of a job (a failed write) is raised at once; jobs not yet started are cancelled.
    """
    bar = Progress(len(jobs), "preprocess", "utterance") if progress else None
    try:
        workers = min(n_jobs, len(jobs))
        if workers <= 1:
            for number, (utt_id, wav_path) in enumerate(jobs, start=1):
                yield process_utterance(utt_id, wav_path, out_dir, features, max_frames, overwrite)
                if bar is not None:
                    bar.update(number)
            return
        # "spawn": safe even when the caller has TensorFlow (and its threads) loaded.
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
            initargs=(os.getpid(),))
        try:
            futures = [executor.submit(process_utterance, utt_id, wav_path, out_dir, features, max_frames,
                                       overwrite) for utt_id, wav_path in jobs]
            for number, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                yield future.result()
                if bar is not None:
                    bar.update(number)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()


def _stopped_message(error, num_done, num_jobs):
    """One line: what failed, how far the run got, and that what was done is kept."""
    if isinstance(error, OSError):
        what = fileio.write_error_line(error)
    elif isinstance(error, concurrent.futures.process.BrokenProcessPool):
        what = "a worker process died (killed, or out of memory?)"
    else:
        what = str(error)
    if num_done == num_jobs:
        return f"{what}; stopped after all {num_jobs} utterances, before the split and metadata were written"
    return (f"{what}; stopped after {num_done} of {num_jobs} utterances, no metadata written; every file "
            "written so far is complete and a rerun reuses it")


def preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size, n_jobs=1, overwrite=False,
                      progress=False, report=None):
    """Preprocesses a course-layout corpus into `out_dir` (see the module docstring for the files).

    Args:
        label_dir, wav_dir: the corpus.
        out_dir: output directory (created).
        hp: HParams (features, max_acoustic_length, random_seed).
        valid_size: validation utterances, a count >= 1 or a fraction in (0, 1).
        n_jobs: worker processes (1 = in this process).
        overwrite: recompute utterances whose outputs already exist.
        progress: show progress on stderr (tacotron/progress.py: a bar on a terminal, else a line every
            30 s and one at the end).
        report: called with the one-line message of each skipped input (default: a logged warning).
    Returns:
        PreprocessResult. When nothing could be processed, no metadata or split file is written.
    Raises:
        ValueError for an invalid valid_size or an out_dir whose wavs/ is the source wav_dir;
        LabelError when label_dir does not exist; PreprocessStopped when an output cannot be written or a
        worker dies (the run stops; see the module docstring).
    """
    report = report if report is not None else logging.warning
    num_valid(2, valid_size)  # validates valid_size before any work
    if os.path.realpath(os.path.join(out_dir, "wavs")) == os.path.realpath(wav_dir):
        raise ValueError(f"{out_dir}: out_dir/wavs is the source wav_dir; choose another out_dir")
    features = feature_settings(hp)
    utterances, skips = collect_utterances(label_dir)
    for skip in skips:
        report(skip.message)
    phones_by_id = {utterance.utt_id: utterance.phones for utterance in utterances}
    jobs = [(utterance.utt_id, os.path.join(wav_dir, f"{utterance.utt_id}.wav")) for utterance in utterances]
    done = []
    try:
        for directory in (out_dir, os.path.join(out_dir, "mels"), os.path.join(out_dir, "wavs")):
            fileio.remove_stale_temps(directory)  # left by a killed run
        if jobs:
            if _settings_changed(out_dir, features):  # also with overwrite: a killed run must not mix them
                logging.warning("%s: feature settings differ from the previous run; recomputing every "
                                "utterance", os.path.join(out_dir, "hparams.yaml"))
                _discard_features(out_dir)
            hp.save(os.path.join(out_dir, "hparams.yaml"))
        for outcome in _run_jobs(jobs, out_dir, features, hp.max_acoustic_length, overwrite, n_jobs,
                                 progress):
            if isinstance(outcome, Skip):
                report(outcome.message)
                skips.append(outcome)
            else:
                done.append(outcome)
    except (OSError, concurrent.futures.process.BrokenProcessPool) as error:
        raise PreprocessStopped(_stopped_message(error, len(done), len(jobs))) from error
    records = sorted((Record(item.utt_id, item.n_samples, item.n_frames, phones_by_id[item.utt_id])
                      for item in done), key=lambda record: record.utt_id)
    train_ids, valid_ids = split_ids([record.utt_id for record in records], valid_size, hp.random_seed)
    if records:
        try:
            fileio.write_text(os.path.join(out_dir, "train.txt"), "".join(f"{i}\n" for i in train_ids))
            fileio.write_text(os.path.join(out_dir, "valid.txt"), "".join(f"{i}\n" for i in valid_ids))
            fileio.write_text(os.path.join(out_dir, "metadata.csv"), metadata_text(records))
        except OSError as error:
            raise PreprocessStopped(_stopped_message(error, len(done), len(jobs))) from error
    return PreprocessResult(
        records=records, skipped=collections.Counter(skip.reason for skip in skips),
        messages=[skip.message for skip in skips], reused=sum(item.reused for item in done),
        train_ids=train_ids, valid_ids=valid_ids, sample_rate=hp.sample_rate)
