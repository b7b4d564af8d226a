"""tf.data input pipeline over the output of preprocess.py.

Reads `metadata.csv` and a split list once in Python (small), then everything per utterance happens in the
graph: the `.npy` mel is read with `tf.io.read_file` and decoded with `tf.io.decode_raw` (no Python
generator or `numpy_function` on the hot path), batches are padded and prefetched. Training batches come in
a seeded order that is a pure function of the global step (`training_batch_plan`), so a resumed run
continues the data order exactly.

A batch is a dict:
    utt_id        [B] string
    phones        [B, T_in] int32, padded with PAD_ID (0); every sequence ends with "~"
    input_lengths [B] int32
    mel           [B, T_out, acoustic_dim] float32, T_out a multiple of r, padded with -(max_abs_value + 0.1)
    mel_lengths   [B] int32 (true frame counts)
    stop_targets  [B, T_out] float32: 0 ... 0 1 at the last true frame, 1 over the padding
"""
import csv
import os

import numpy as np
import tensorflow as tf

from text.phones_mix import PAD_ID
from text.phones_mix import phones_to_ids

METADATA_FIELDS = ("id", "n_samples", "n_frames", "n_phones", "phones")


class DataError(ValueError):
    """Missing or malformed preprocessed data; the message names the file."""


def read_metadata(data_dir):
    """Reads `metadata.csv` -> {utt_id: {"n_frames": int, "n_samples": int, "phones": [str]}}."""
    path = os.path.join(data_dir, "metadata.csv")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not found (run preprocess.py first)")
    records = {}
    with open(path, "r", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="|")
        header = next(reader, None)
        if header is None or tuple(header) != METADATA_FIELDS:
            raise DataError(f"{path}: expected the header {'|'.join(METADATA_FIELDS)}")
        for line_number, row in enumerate(reader, start=2):
            if len(row) != len(METADATA_FIELDS):
                raise DataError(f"{path}:{line_number}: expected {len(METADATA_FIELDS)} fields")
            utt_id, n_samples, n_frames, _, phones = row
            records[utt_id] = {"n_samples": int(n_samples), "n_frames": int(n_frames),
                               "phones": phones.split()}
    return records


def read_split(data_dir, split):
    """Utterance ids listed in `<data_dir>/<split>.txt` (split is "train" or "valid")."""
    path = os.path.join(data_dir, f"{split}.txt")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not found (run preprocess.py first)")
    with open(path, "r", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def decode_npy_float32(contents, feature_dim):
    """Decodes the bytes of a little-endian float32 `.npy` file (format 1.0) inside the graph.

    Args:
        contents: scalar string tensor, the whole file.
        feature_dim: last dimension of the stored 2-D array.
    Returns:
        [T, feature_dim] float32.
    """
    header_length = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, 8, 2), tf.uint16)[0], tf.int32)
    offset = 10 + header_length
    data = tf.strings.substr(contents, offset, tf.strings.length(contents) - offset)
    values = tf.io.decode_raw(data, tf.float32, little_endian=True)
    return tf.reshape(values, [-1, feature_dim])


def training_batch_plan(window, lengths, batch_size, num_buckets, seed):
    """Which utterances make up the `num_buckets` training batches of window `window`: a pure function.

    The training stream is every epoch's seeded permutation of the utterances, one epoch after the other.
    Window w takes the stream's positions [w * W, (w + 1) * W) with W = batch_size * num_buckets, sorts
    those W utterances by length, cuts them into num_buckets batches of similar lengths (little padding) and
    orders the batches by a seeded permutation. So the batch of global step s is batch s % num_buckets of
    window s // num_buckets, whatever happened before: a resumed run continues the data order exactly.

    Args:
        window: scalar int64.
        lengths: [N] int32 frames per utterance (N utterances).
        batch_size, num_buckets: python ints; seed: python int.
    Returns:
        [num_buckets, batch_size] int32 utterance indices.
    """
    size = batch_size * num_buckets
    count = tf.size(lengths, out_type=tf.int64)
    positions = tf.cast(window, tf.int64) * size + tf.range(size, dtype=tf.int64)
    epochs = positions // count
    seeds = tf.stack([tf.fill([size], tf.constant(seed, tf.int64)), epochs, tf.zeros([size], tf.int64)], axis=1)
    # The raw op: tf.random.experimental.index_shuffle pads a [N, 2] seed matrix along the wrong axis.
    items = tf.raw_ops.RandomIndexShuffle(index=positions % count, seed=seeds, max_index=count - 1)
    items = tf.cast(items, tf.int32)
    by_length = tf.gather(items, tf.argsort(tf.gather(lengths, items), stable=True))
    batches = tf.reshape(by_length, [num_buckets, batch_size])
    order_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(window, tf.int64), tf.constant(1, tf.int64)])
    order = tf.raw_ops.RandomIndexShuffle(index=tf.range(num_buckets, dtype=tf.int64), seed=order_seed,
                                          max_index=tf.constant(num_buckets - 1, tf.int64))
    return tf.gather(batches, order)


def make_dataset(data_dir, split, batch_size, outputs_per_step, acoustic_dim, max_abs_value,
                 num_buckets=1, training=False, seed=0, start_step=0):
    """Builds the batched dataset for one split.

    Args:
        data_dir: preprocess.py output directory.
        split: "train" or "valid".
        batch_size: utterances per batch.
        outputs_per_step: r; mel time is padded to a multiple of it.
        acoustic_dim: mel bands stored in the `.npy` files.
        max_abs_value: mel padding value is -(max_abs_value + 0.1).
        num_buckets: training only: batches are cut from windows of num_buckets batches sorted by length
            (1 = plain shuffled batches); see `training_batch_plan`.
        training: an endless stream of full batches in the seeded order of `training_batch_plan`, starting
            at global step `start_step`; otherwise every utterance once, in split order.
        seed: the data-order seed.
        start_step: training only: the global step whose batch comes first (resuming).
    Returns:
        tf.data.Dataset of batch dicts (see the module docstring).
    """
    metadata = read_metadata(data_dir)
    ids = read_split(data_dir, split)
    missing = [utt_id for utt_id in ids if utt_id not in metadata]
    if missing:
        raise DataError(f"{os.path.join(data_dir, split + '.txt')}: id {missing[0]!r} not in metadata.csv")
    if not ids:
        raise DataError(f"{os.path.join(data_dir, split + '.txt')}: no utterances")
    utt_ids = tf.constant(ids)
    phones = tf.ragged.constant([phones_to_ids(metadata[utt_id]["phones"]) for utt_id in ids], dtype=tf.int32)
    mel_paths = tf.constant([os.path.join(data_dir, "mels", f"{utt_id}.npy") for utt_id in ids])
    lengths = tf.constant([metadata[utt_id]["n_frames"] for utt_id in ids], tf.int32)

    if training:
        buckets = max(int(num_buckets), 1)
        first_window, skip = divmod(int(start_step), buckets)
        windows = tf.data.Dataset.range(first_window, np.iinfo(np.int64).max)
        indices = windows.map(lambda window: training_batch_plan(window, lengths, batch_size, buckets, seed))
        indices = indices.unbatch().skip(skip).unbatch()
    else:
        indices = tf.data.Dataset.range(len(ids)).map(lambda index: tf.cast(index, tf.int32))

    def load(index):
        mel = decode_npy_float32(tf.io.read_file(mel_paths[index]), acoustic_dim)
        mel_length = tf.shape(mel)[0]
        stop = tf.concat([tf.zeros([mel_length - 1], tf.float32), tf.ones([1], tf.float32)], axis=0)
        utterance_phones = phones[index]
        return {"utt_id": utt_ids[index], "phones": utterance_phones,
                "input_lengths": tf.shape(utterance_phones)[0], "mel": mel, "mel_lengths": mel_length,
                "stop_targets": stop}

    dataset = indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    padded_shapes = {"utt_id": [], "phones": [None], "input_lengths": [], "mel": [None, acoustic_dim],
                     "mel_lengths": [], "stop_targets": [None]}
    padding_values = {"utt_id": "", "phones": PAD_ID, "input_lengths": 0,
                      "mel": -(max_abs_value + 0.1), "mel_lengths": 0, "stop_targets": 1.0}
    dataset = dataset.padded_batch(batch_size, padded_shapes=padded_shapes, padding_values=padding_values)
    dataset = dataset.map(lambda batch: pad_to_multiple(batch, outputs_per_step, max_abs_value),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def pad_to_multiple(batch, outputs_per_step, max_abs_value):
    """Pads the mel and stop targets of a batch along time to a multiple of r."""
    length = tf.shape(batch["mel"])[1]
    extra = (-length) % outputs_per_step
    padded = dict(batch)
    padded["mel"] = tf.pad(batch["mel"], [[0, 0], [0, extra], [0, 0]],
                           constant_values=-(max_abs_value + 0.1))
    padded["stop_targets"] = tf.pad(batch["stop_targets"], [[0, 0], [0, extra]], constant_values=1.0)
    return padded


def dataset_from_hparams(data_dir, split, hp, training, start_step=0):
    """The entry points' shortcut: `make_dataset` with the values from hparams."""
    return make_dataset(
        data_dir, split, batch_size=hp.batch_size, outputs_per_step=hp.outputs_per_step,
        acoustic_dim=hp.acoustic_dim, max_abs_value=hp.max_abs_value, num_buckets=hp.num_buckets,
        training=training, seed=hp.random_seed, start_step=start_step)
