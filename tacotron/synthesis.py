"""Batched synthesis: label files, phone strings or text -> mels, Griffin-Lim audio, alignments, summaries.

Inputs are read by `collect_utterances`: label files with the project's one label reader
(`text.labels.read_labels`), sentences with the Mandarin front-end (`text.frontend.Frontend`).

A `Synthesizer` wraps any inference function with the signature of `Tacotron.infer` (a restored checkpoint
or the `serving_seeded` signature of an exported SavedModel) and the Griffin-Lim vocoder. Utterances are
grouped into batches of similar length (little padding); every row gets its own pre-net dropout seed
`utterance_seed(seed, utt_id)`, so an utterance synthesises the same alone or in any batch. Griffin-Lim
runs per utterance at its exact length, so the audio is batch-independent too.
"""
import collections
import os
import time

import numpy as np
import tensorflow as tf

import hparams as hparams_lib
from datasets import audio
from datasets import fileio
from text.frontend import Frontend
from text.frontend import read_sentences
from text.frontend import utterance_id
from text.labels import LabelError
from text.labels import Utterance
from text.labels import check_utt_id
from text.labels import list_label_files
from text.labels import parse_label_line
from text.labels import read_labels
from text.phones_mix import PAD_ID
from text.phones_mix import phones_to_ids
from tacotron.inference import ModelLoadError
from tacotron.inference import load_model
from tacotron.inference import utterance_seed
from tacotron.plotting import alignment_png
from tacotron.plotting import write_png
from tacotron.griffin_lim import griffin_lim_from_hparams

SERVING_SIGNATURE = "serving_seeded"

# One synthesised utterance.
#   mel: [frames, n_mels] float32; alignment: [ceil(frames / r), input_length] float32;
#   wav: [frames * hop] float32 or None (no vocoder); hit_max_steps: stopped by the step limit, not the
#   stop token; wall_seconds: its share of the batch's model time (by frames) plus its own Griffin-Lim time.
Result = collections.namedtuple(
    "Result", ["utt_id", "mel", "alignment", "wav", "frames", "audio_seconds", "hit_max_steps",
               "wall_seconds"])


class SynthesisStopped(RuntimeError):
    """An output could not be written (disk full, no permission): the run stops; every utterance written
    before is whole and the failing one left no file.

    Args:
        error: the OSError (its filename names the file).
        num_done: utterances written before it.
        total: utterances of the run.
    """

    def __init__(self, error, num_done, total):
        super().__init__(f"{fileio.write_error_line(error)}; stopped after {num_done} of {total} utterances "
                         "(those are complete, this one left no file)")


def infer_function(model, frozen=False):
    """`model.infer` under a tf.function whose signature has None dims (no retracing for new lengths).

    The function takes phones [B, T_in] int32, input_lengths [B] int32, seeds [B] int32.

    frozen: True makes the decoder LSTMs' kernels in their inference layout once, now, and every call uses
        them (`Tacotron.inference_kernels`; 5-7 % of a batch-1 call saved). Only for weights that no longer
        change, such as a restored checkpoint's: a frozen function does not follow later updates (training's
        TensorBoard synthesis uses the default, False).
    """
    signature = [tf.TensorSpec([None, None], tf.int32, name="phones"),
                 tf.TensorSpec([None], tf.int32, name="input_lengths"),
                 tf.TensorSpec([None], tf.int32, name="seeds")]
    kernels = model.frozen_inference_kernels() if frozen else None  # held by this closure only

    @tf.function(input_signature=signature)
    def infer(phones, input_lengths, seeds):
        return model.infer(phones, input_lengths, seeds=seeds, decoder_kernels=kernels)

    return infer


def vocoder_function(hp, jit_compile=False):
    """Griffin-Lim with the course parameters under a tf.function with None dims (jit_compile: XLA, see
    tacotron.griffin_lim.griffin_lim_xla).

    The function takes mel [B, T, n_mels] float32, mel_lengths [B] int32; returns (wav [B, T * hop],
    wav_lengths [B]).
    """
    vocoder = griffin_lim_from_hparams(hp, jit_compile)
    signature = [tf.TensorSpec([None, None, hp.acoustic_dim], tf.float32, name="mel"),
                 tf.TensorSpec([None], tf.int32, name="mel_lengths")]

    @tf.function(input_signature=signature)
    def vocode(mel, mel_lengths):
        return vocoder(mel, mel_lengths)

    return vocode


def load_saved_model(saved_model_dir):
    """The `serving_seeded` signature of an exported SavedModel and its hparams asset.

    Returns:
        (infer, hp): infer(phones, input_lengths, seeds) -> dict like Tacotron.infer.
    Raises:
        ModelLoadError naming the missing or unusable file.
    """
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise ModelLoadError(f"{saved_model_dir}: not a SavedModel (no saved_model.pb)")
    hparams_path = os.path.join(saved_model_dir, "assets", "hparams.yaml")
    if not os.path.isfile(hparams_path):
        raise ModelLoadError(f"{hparams_path}: not found (was {saved_model_dir} written by export.py?)")
    try:
        hp = hparams_lib.load_hparams(hparams_path)
    except hparams_lib.HParamsError as error:
        raise ModelLoadError(str(error)) from None
    try:
        loaded = tf.saved_model.load(saved_model_dir)
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise ModelLoadError(f"{saved_model_dir}: cannot load ({str(error).splitlines()[0]})") from None
    if SERVING_SIGNATURE not in loaded.signatures:
        raise ModelLoadError(f"{saved_model_dir}: has no signature {SERVING_SIGNATURE!r} "
                             f"(found: {', '.join(sorted(loaded.signatures)) or 'none'})")

    def infer(phones, input_lengths, seeds):
        # Looked up through `loaded` so that the restored variables live as long as this function.
        return loaded.signatures[SERVING_SIGNATURE](phones=phones, input_lengths=input_lengths, seeds=seeds)

    return infer, hp


class Synthesizer:
    """Phones to mel, alignment and audio, in length-sorted batches.

    Args:
        infer: callable(phones [B, T_in] int32, input_lengths [B] int32, seeds [B] int32) -> dict(mel
            [B, T, n_mels], mel_lengths [B], alignments [B, T_dec, T_in], hit_max_steps [B], ...).
        hp: the model's HParams (features, outputs_per_step, griffin_lim_*; random_seed is the default seed).
        seed: run seed (None = hp.random_seed); utterance seeds are utterance_seed(seed, utt_id).
        griffin_lim_iters: None = hp.griffin_lim_iters.
        with_wav: run Griffin-Lim (False: mel and alignment only).
        griffin_lim_xla: run Griffin-Lim under XLA (tacotron.griffin_lim.griffin_lim_xla).
    """

    def __init__(self, infer, hp, seed=None, griffin_lim_iters=None, with_wav=True, griffin_lim_xla=False):
        if griffin_lim_iters is not None:
            hp = hp.replace(griffin_lim_iters=griffin_lim_iters)
        self.hp = hp
        self.infer = infer
        self.seed = hp.random_seed if seed is None else int(seed)
        self.vocode = vocoder_function(hp, griffin_lim_xla) if with_wav else None

    def prepare(self):
        """Traces the tf.functions once (so the first batch's timing does not include tracing)."""
        for function in (self.infer, self.vocode):
            if function is not None and hasattr(function, "get_concrete_function"):
                function.get_concrete_function()

    def synthesize_batch(self, utterances):
        """Synthesises utterances (datasets.labels.Utterance) in one padded batch; returns [Result]."""
        start = time.perf_counter()
        ids = [phones_to_ids(utterance.phones) for utterance in utterances]
        input_lengths = np.array([len(row) for row in ids], np.int32)
        phones = np.full([len(ids), input_lengths.max()], PAD_ID, np.int32)
        for index, row in enumerate(ids):
            phones[index, :len(row)] = row
        seeds = np.array([utterance_seed(self.seed, u.utt_id) for u in utterances], np.int32)
        outputs = self.infer(tf.constant(phones), tf.constant(input_lengths), tf.constant(seeds))
        mels = outputs["mel"].numpy().astype(np.float32)
        mel_lengths = outputs["mel_lengths"].numpy()
        alignments = outputs["alignments"].numpy().astype(np.float32)
        hit_max_steps = outputs["hit_max_steps"].numpy()
        model_seconds = time.perf_counter() - start
        total_frames = max(int(mel_lengths.sum()), 1)

        r = self.hp.outputs_per_step
        results = []
        for index, utterance in enumerate(utterances):
            frames = int(mel_lengths[index])
            mel = mels[index, :frames]
            alignment = alignments[index, :-(-frames // r), :input_lengths[index]]
            wav, vocoder_seconds = None, 0.0
            if self.vocode is not None:
                vocoder_start = time.perf_counter()
                wav, _ = self.vocode(tf.constant(mel[None]), tf.constant([frames], tf.int32))
                wav = wav[0].numpy()
                vocoder_seconds = time.perf_counter() - vocoder_start
            results.append(Result(
                utt_id=utterance.utt_id, mel=mel, alignment=alignment, wav=wav, frames=frames,
                audio_seconds=frames * self.hp.hop_size / self.hp.sample_rate,
                hit_max_steps=bool(hit_max_steps[index]),
                wall_seconds=model_seconds * frames / total_frames + vocoder_seconds))
        return results

    def synthesize(self, utterances, batch_size):
        """Yields a Result per utterance, batch by batch (length-sorted order, see length_sorted_batches)."""
        for batch in length_sorted_batches(utterances, batch_size):
            yield from self.synthesize_batch(batch)


def load_synthesizer(checkpoint_dir=None, saved_model=None, seed=None, griffin_lim_iters=None, with_wav=None,
                     attention_window=None, precision=None, griffin_lim_xla=False):
    """A Synthesizer from a train.py --log_dir (latest checkpoint) or an exported SavedModel (exactly one).

    with_wav: write Griffin-Lim audio; None takes the model's hparam `synthesize_wave`.
    attention_window: None (the model's hparam), [] (off) or [back, ahead]; checkpoints only (a SavedModel's
        window is fixed when it is exported).
    precision: None (the model's hparam inference_precision), "float32" or "bfloat16"; checkpoints only (a
        SavedModel's precision is fixed when it is exported).
    griffin_lim_xla: Griffin-Lim under XLA (see Synthesizer).

    Raises:
        ValueError when not exactly one source is given; ModelLoadError when it cannot be loaded.
    """
    if (checkpoint_dir is None) == (saved_model is None):
        raise ValueError("give exactly one model source: a checkpoint directory or a SavedModel")
    if checkpoint_dir is not None:
        model, hp, _ = load_model(checkpoint_dir, attention_window=attention_window, inference_precision=precision)
        infer = infer_function(model, frozen=True)
    else:
        if attention_window is not None:
            raise ModelLoadError(f"{saved_model}: a SavedModel's attention window is fixed when it is exported "
                                 "(export.py --attention_window)")
        if precision is not None:
            raise ModelLoadError(f"{saved_model}: a SavedModel's precision is fixed when it is exported "
                                 "(export.py --precision)")
        infer, hp = load_saved_model(saved_model)
    if with_wav is None:
        with_wav = hp.synthesize_wave
    return Synthesizer(infer, hp, seed=seed, griffin_lim_iters=griffin_lim_iters, with_wav=with_wav,
                       griffin_lim_xla=griffin_lim_xla)


def length_sorted_batches(utterances, batch_size):
    """Utterances grouped into batches of `batch_size` by phone count (stable), so padding stays small."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    ordered = sorted(utterances, key=lambda utterance: len(utterance.phones))
    return [ordered[start:start + batch_size] for start in range(0, len(ordered), batch_size)]


def read_utterances(label_paths):
    """Reads label files with the one label reader (`text.labels.read_labels`): a bad line, empty or
    unreadable file, or repeated utterance id is reported and skipped.

    Returns:
        (utterances, problems): the usable Utterances in file order, and one message per skipped file or
        utterance, each naming the file and the problem.
    """
    utterances, problems = read_labels(label_paths)
    return utterances, [str(problem) for problem in problems]


def phones_utterance(phones, utt_id="phones"):
    """One utterance from a phone string such as "sil n i 3 #0 h ao 3 sil" (raises LabelError)."""
    return parse_label_line(f"{utt_id}||{phones}", source="--phones")


def text_utterances(sentences, frontend, utt_id=None):
    """Utterances from Chinese sentences through the text front-end (text/frontend.py).

    Args:
        sentences: list of sentences; their utterance ids are 000001, 000002, ... in order.
        frontend: a text.frontend.Frontend.
        utt_id: the id of a single sentence instead of 000001.
    Returns:
        (utterances, problems): an Utterance per sentence with something to say, and one message per
        skipped character, word or sentence, starting with the utterance id.
    """
    utterances, problems = [], []
    for number, sentence in enumerate(sentences, start=1):
        sentence_id = utt_id if utt_id is not None and len(sentences) == 1 else utterance_id(number)
        try:
            check_utt_id(sentence_id, "--utt_id")
        except LabelError as error:
            problems.append(str(error))
            continue
        result = frontend.pronounce(sentence)
        problems.extend(f"{sentence_id}: {problem}" for problem in result.problems)
        if result.phones:
            utterances.append(Utterance(sentence_id, sentence, result.phones))
    return utterances, problems


def collect_utterances(label_dir=None, label_files=None, phones=None, utt_id=None, text=None, text_file=None,
                       frontend=None):
    """The utterances of exactly one input: every *.lab of label_dir, a list of label files, a phone string,
    a sentence or a text file of sentences (one a line).

    Args:
        utt_id: id of the phone string (default "phones") or of the sentence (default "000001").
        frontend: text.frontend.Frontend for text input (default: a new one).
    Returns:
        (utterances, problems) as read_utterances; a bad phone string, an unreadable character or word of
        a sentence are problems too.
    Raises:
        ValueError when not exactly one input is given; LabelError when label_dir does not exist or holds
        no *.lab file, or text_file cannot be read.
    """
    if sum(value is not None for value in (label_dir, label_files, phones, text, text_file)) != 1:
        raise ValueError("give exactly one input: a label directory, label files, a phone string, a sentence "
                         "or a text file")
    if phones is not None:
        try:
            return [phones_utterance(phones, "phones" if utt_id is None else utt_id)], []
        except LabelError as error:
            return [], [str(error)]
    if text is not None or text_file is not None:
        if text_file is not None:
            try:
                sentences = read_sentences(text_file)
            except (OSError, UnicodeDecodeError) as error:
                raise LabelError(f"{text_file}: cannot read ({error})") from None
        else:
            sentences = [text]
        return text_utterances(sentences, frontend if frontend is not None else Frontend(), utt_id)
    if label_dir is not None:
        label_files = list_label_files(label_dir)
        if not label_files:
            raise LabelError(f"{label_dir}: no *.lab files")
    return read_utterances(label_files)


def write_result(output_dir, result, sample_rate):
    """Writes <id>.npy (mel), <id>.wav (if any; peak-normalised 16-bit, as the course's synthesizer),
    <id>_alignment.npy and <id>_alignment.png, each atomically.

    Returns the written paths.
    Raises:
        OSError naming the file that could not be written (e.g. disk full); the files of this utterance
        written before it are removed, so an utterance is either whole or absent.
    """
    base = os.path.join(output_dir, result.utt_id)
    ending = "max steps" if result.hit_max_steps else "stop token"
    writes = [(base + ".npy", lambda path: fileio.write_npy(path, result.mel.astype(np.float32))),
              (base + "_alignment.npy", lambda path: fileio.write_npy(path, result.alignment.astype(np.float32))),
              (base + "_alignment.png",
               lambda path: write_png(path, alignment_png(result.alignment, title=f"{result.utt_id} ({ending})")))]
    if result.wav is not None:
        writes.append((base + ".wav",
                       lambda path: fileio.write_wav(path, audio.peak_normalize_int16(result.wav), sample_rate)))
    written = []
    try:
        for path, write in writes:
            write(path)
            written.append(path)
    except BaseException:
        for path in written:
            if os.path.exists(path):
                os.remove(path)
        raise
    return written


def real_time_factor(wall_seconds, audio_seconds):
    """Synthesis wall time per second of audio (inf for no audio)."""
    return wall_seconds / audio_seconds if audio_seconds > 0 else float("inf")


def summary_line(result):
    """id, frames, seconds of audio, how decoding ended, real-time factor."""
    ending = "max steps" if result.hit_max_steps else "stop token"
    return (f"{result.utt_id}  {result.frames} frames  {result.audio_seconds:.2f} s  {ending}  "
            f"RTF {real_time_factor(result.wall_seconds, result.audio_seconds):.3f}")


def total_line(results, num_skipped=0):
    """Totals over all results: utterances, frames, audio, max-step endings, skipped inputs, RTF."""
    frames = sum(result.frames for result in results)
    audio_seconds = sum(result.audio_seconds for result in results)
    wall = sum(result.wall_seconds for result in results)
    max_steps = sum(result.hit_max_steps for result in results)
    return (f"total  {len(results)} utterances  {frames} frames  {audio_seconds:.2f} s  {max_steps} at max steps  "
            f"{num_skipped} skipped  RTF {real_time_factor(wall, audio_seconds):.3f}")

