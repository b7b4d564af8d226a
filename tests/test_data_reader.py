"""tf.data reader: shapes, padding values, stop targets, bucketing, npy decoding."""
import os

import numpy as np
import pytest
import tensorflow as tf

from datasets import data_reader
from datasets.symbols import PAD_ID
from datasets.symbols import phones_to_ids

ACOUSTIC_DIM = 80
MAX_ABS = 4.0


def _write_corpus(root, lengths, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "mels"))
    lines = ["id|n_samples|n_frames|n_phones|phones"]
    mels = {}
    for index, n_frames in enumerate(lengths):
        utt_id = f"utt{index:03d}"
        phones = ["sil"] + ["a", "1", "#0"] * (index + 1) + ["sil"]
        mel = rng.uniform(-MAX_ABS, MAX_ABS, size=(n_frames, ACOUSTIC_DIM)).astype(np.float32)
        np.save(os.path.join(root, "mels", utt_id + ".npy"), mel)
        mels[utt_id] = (mel, phones)
        lines.append(f"{utt_id}|{n_frames * 200}|{n_frames}|{len(phones)}|{' '.join(phones)}")
    with open(os.path.join(root, "metadata.csv"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    ids = sorted(mels)
    with open(os.path.join(root, "train.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(ids) + "\n")
    with open(os.path.join(root, "valid.txt"), "w", encoding="utf-8") as handle:
        handle.write(ids[0] + "\n")
    return mels


def test_decode_npy_matches_numpy(tmp_path):
    array = np.arange(12 * ACOUSTIC_DIM, dtype=np.float32).reshape(12, ACOUSTIC_DIM) / 7.0
    path = str(tmp_path / "a.npy")
    np.save(path, array)
    decoded = data_reader.decode_npy_float32(tf.io.read_file(path), ACOUSTIC_DIM)
    np.testing.assert_array_equal(decoded.numpy(), array)


@pytest.mark.parametrize("outputs_per_step", [1, 2, 5])
def test_batches_padding_and_stop_targets(tmp_path, outputs_per_step):
    mels = _write_corpus(str(tmp_path), [7, 11, 13, 4])
    dataset = data_reader.make_dataset(str(tmp_path), "train", batch_size=4,
                                       outputs_per_step=outputs_per_step, acoustic_dim=ACOUSTIC_DIM,
                                       max_abs_value=MAX_ABS)
    batch = next(iter(dataset))
    t_out = batch["mel"].shape[1]
    assert t_out % outputs_per_step == 0 and t_out >= 13
    assert batch["stop_targets"].shape == (4, t_out)
    for row, utt_id in enumerate(batch["utt_id"].numpy()):
        mel, phones = mels[utt_id.decode()]
        n = mel.shape[0]
        assert batch["mel_lengths"][row] == n
        np.testing.assert_array_equal(batch["mel"][row, :n].numpy(), mel)
        assert np.all(batch["mel"][row, n:].numpy() == np.float32(-(MAX_ABS + 0.1)))
        stop = batch["stop_targets"][row].numpy()
        assert np.all(stop[:n - 1] == 0) and np.all(stop[n - 1:] == 1)
        ids = phones_to_ids(phones)
        length = int(batch["input_lengths"][row])
        assert length == len(ids)
        np.testing.assert_array_equal(batch["phones"][row, :length].numpy(), ids)
        assert np.all(batch["phones"][row, length:].numpy() == PAD_ID)


def test_bucketing_keeps_every_utterance_and_groups_lengths(tmp_path):
    lengths = [5, 6, 7, 8, 50, 51, 52, 53]
    _write_corpus(str(tmp_path), lengths)
    dataset = data_reader.make_dataset(str(tmp_path), "train", batch_size=4, outputs_per_step=2,
                                       acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS, num_buckets=2,
                                       shuffle=True, seed=3)
    seen = []
    for batch in dataset:
        frames = batch["mel_lengths"].numpy()
        assert frames.max() - frames.min() < 40, "bucketing should not mix short and long utterances"
        seen.extend(frames.tolist())
    assert sorted(seen) == lengths


def test_seeded_shuffle_is_deterministic(tmp_path):
    _write_corpus(str(tmp_path), list(range(5, 25)))

    def order():
        dataset = data_reader.make_dataset(str(tmp_path), "train", batch_size=4, outputs_per_step=1,
                                           acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS,
                                           shuffle=True, seed=11)
        return [u.decode() for batch in dataset for u in batch["utt_id"].numpy()]

    first, second = order(), order()
    assert first == second
    assert first != sorted(first)


def test_missing_metadata_names_the_file(tmp_path):
    with pytest.raises(data_reader.DataError, match="metadata.csv"):
        data_reader.make_dataset(str(tmp_path), "train", batch_size=2, outputs_per_step=1,
                                 acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS)


def test_bucket_boundaries():
    assert data_reader.bucket_boundaries([1, 2, 3], 1) == []
    boundaries = data_reader.bucket_boundaries(list(range(100)), 4)
    assert boundaries == sorted(boundaries) and len(boundaries) == 3
