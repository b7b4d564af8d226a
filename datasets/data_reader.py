"""tf.data input pipeline over the output of preprocess.py.

Reads `metadata.csv` and a split list once in Python (small), then everything per utterance happens in the
graph: the `.npy` mel is read with `tf.io.read_file` and decoded with `tf.io.decode_raw` (no Python
generator or `numpy_function` on the hot path), batches are bucketed by length, padded and prefetched.

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

from datasets.symbols import PAD_ID
from datasets.symbols import phones_to_ids

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


def bucket_boundaries(lengths, num_buckets):
    """Frame-count boundaries splitting `lengths` into `num_buckets` groups of similar size."""
    if num_buckets <= 1 or len(lengths) < 2:
        return []
    quantiles = np.quantile(np.asarray(lengths), np.linspace(0, 1, num_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in quantiles})


def make_dataset(data_dir, split, batch_size, outputs_per_step, acoustic_dim, max_abs_value,
                 num_buckets=1, shuffle=False, shuffle_buffer_size=512, seed=0, repeat=False,
                 drop_remainder=False):
    """Builds the batched dataset for one split.

    Args:
        data_dir: preprocess.py output directory.
        split: "train" or "valid".
        batch_size: utterances per batch.
        outputs_per_step: r; mel time is padded to a multiple of it.
        acoustic_dim: mel bands stored in the `.npy` files.
        max_abs_value: mel padding value is -(max_abs_value + 0.1).
        num_buckets: length buckets (1 = plain padded batches).
        shuffle, shuffle_buffer_size, seed: seeded shuffling, reshuffled every epoch.
        repeat: repeat forever (training).
        drop_remainder: drop a final partial batch.
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
    phone_ids = [phones_to_ids(metadata[utt_id]["phones"]) for utt_id in ids]
    n_frames = [metadata[utt_id]["n_frames"] for utt_id in ids]
    mel_paths = [os.path.join(data_dir, "mels", f"{utt_id}.npy") for utt_id in ids]

    dataset = tf.data.Dataset.from_tensor_slices({
        "utt_id": tf.constant(ids),
        "phones": tf.ragged.constant(phone_ids, dtype=tf.int32),
        "mel_path": tf.constant(mel_paths),
    })
    if shuffle:
        dataset = dataset.shuffle(min(shuffle_buffer_size, len(ids)) or 1, seed=seed,
                                  reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()

    def load(item):
        mel = decode_npy_float32(tf.io.read_file(item["mel_path"]), acoustic_dim)
        mel_length = tf.shape(mel)[0]
        stop = tf.concat([tf.zeros([mel_length - 1], tf.float32), tf.ones([1], tf.float32)], axis=0)
        phones = item["phones"]
        return {"utt_id": item["utt_id"], "phones": phones, "input_lengths": tf.shape(phones)[0],
                "mel": mel, "mel_lengths": mel_length, "stop_targets": stop}

    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    padded_shapes = {"utt_id": [], "phones": [None], "input_lengths": [], "mel": [None, acoustic_dim],
                     "mel_lengths": [], "stop_targets": [None]}
    padding_values = {"utt_id": "", "phones": PAD_ID, "input_lengths": 0,
                      "mel": -(max_abs_value + 0.1), "mel_lengths": 0, "stop_targets": 1.0}
    boundaries = bucket_boundaries(n_frames, num_buckets)
    if boundaries:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda item: item["mel_lengths"],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=padded_shapes, padding_values=padding_values,
            drop_remainder=drop_remainder)
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=padded_shapes,
                                       padding_values=padding_values, drop_remainder=drop_remainder)
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


def dataset_from_hparams(data_dir, split, hp, training):
    """The entry points' shortcut: `make_dataset` with the values from hparams."""
    return make_dataset(
        data_dir, split, batch_size=hp.batch_size, outputs_per_step=hp.outputs_per_step,
        acoustic_dim=hp.acoustic_dim, max_abs_value=hp.max_abs_value,
        num_buckets=hp.num_buckets if training else 1, shuffle=training,
        shuffle_buffer_size=hp.shuffle_buffer_size, seed=hp.random_seed, repeat=training)
