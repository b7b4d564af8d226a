"""tf.data reader: shapes, padding values, stop targets, the resumable training order, npy decoding."""
import os

import numpy as np
import pytest
import tensorflow as tf

from datasets import data_reader
from text.phones_mix import PAD_ID
from text.phones_mix import phones_to_ids

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


def _training_ids(root, start_step, steps, batch_size=4, num_buckets=2, seed=3):
    dataset = data_reader.make_dataset(root, "train", batch_size=batch_size, outputs_per_step=2,
                                       acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS, num_buckets=num_buckets,
                                       training=True, seed=seed, start_step=start_step)
    return [[u.decode() for u in batch["utt_id"].numpy()] for batch in dataset.take(steps)]


def test_training_windows_group_lengths_and_every_epoch_sees_every_utterance(tmp_path):
    lengths = [5, 6, 7, 8, 50, 51, 52, 53]
    _write_corpus(str(tmp_path), lengths)
    dataset = data_reader.make_dataset(str(tmp_path), "train", batch_size=4, outputs_per_step=2,
                                       acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS, num_buckets=2,
                                       training=True, seed=3)
    for batch in dataset.take(6):  # window = 2 batches = one epoch of these 8 utterances
        frames = batch["mel_lengths"].numpy()
        assert frames.max() - frames.min() < 40, "a window sorted by length does not mix short and long"
    batches = _training_ids(str(tmp_path), 0, 6)
    for epoch in range(3):
        assert sorted(sum(batches[2 * epoch:2 * epoch + 2], [])) == [f"utt{i:03d}" for i in range(8)]
    plain = _training_ids(str(tmp_path), 0, 4, num_buckets=1)
    assert plain[0:2] != plain[2:4], "each epoch has its own order"


@pytest.mark.parametrize("num_buckets", [1, 3])
def test_resuming_at_a_step_continues_the_data_order_exactly(tmp_path, num_buckets):
    _write_corpus(str(tmp_path), list(range(5, 16)))  # 11 utterances: windows straddle epochs
    reference = _training_ids(str(tmp_path), 0, 14, num_buckets=num_buckets)
    for start in (1, 5, 9):
        assert _training_ids(str(tmp_path), start, 14 - start, num_buckets=num_buckets) == reference[start:]
    assert all(len(batch) == 4 for batch in reference)
    stream = sum(reference, [])
    assert stream[:11] != sorted(stream[:11]) and _training_ids(str(tmp_path), 0, 14, seed=4) != reference


def test_training_batch_plan_is_a_pure_function_of_the_window():
    lengths = tf.constant([3, 9, 1, 7, 5, 2, 8], tf.int32)
    plan = data_reader.training_batch_plan(tf.constant(4, tf.int64), lengths, 3, 2, seed=5).numpy()
    again = data_reader.training_batch_plan(tf.constant(4, tf.int64), lengths, 3, 2, seed=5).numpy()
    np.testing.assert_array_equal(plan, again)
    assert plan.shape == (2, 3) and plan.min() >= 0 and plan.max() < 7
    rows = sorted(plan.tolist(), key=lambda row: lengths.numpy()[row].max())
    assert lengths.numpy()[rows[0]].max() <= lengths.numpy()[rows[1]].min()


def test_validation_batches_hold_every_utterance_once_in_order(tmp_path):
    _write_corpus(str(tmp_path), list(range(5, 25)))
    with open(tmp_path / "valid.txt", "w", encoding="utf-8") as handle:
        handle.write("".join(f"utt{i:03d}\n" for i in (4, 1, 9)))
    dataset = data_reader.make_dataset(str(tmp_path), "valid", batch_size=2, outputs_per_step=1,
                                       acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS)
    assert [u.decode() for batch in dataset for u in batch["utt_id"].numpy()] == ["utt004", "utt001", "utt009"]


def test_missing_metadata_names_the_file(tmp_path):
    with pytest.raises(data_reader.DataError, match="metadata.csv"):
        data_reader.make_dataset(str(tmp_path), "train", batch_size=2, outputs_per_step=1,
                                 acoustic_dim=ACOUSTIC_DIM, max_abs_value=MAX_ABS)
