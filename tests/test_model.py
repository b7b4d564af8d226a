"""The whole Tacotron with each attention type: shapes, masking, inference, training behaviour."""
import numpy as np
import pytest
import tensorflow as tf
import keras

import hparams as hparams_lib
from tacotron.checkpoints import CheckpointMismatchError
from tacotron.checkpoints import make_checkpoint
from tacotron.checkpoints import restore
from tacotron.model import create_model
from tacotron.trainer import create_optimizer
from tacotron.trainer import make_train_step
from tacotron.trainer import trainable_variables

TINY = ("phone_embedding_dim=16,encoder_prenet_units=[16,16],cbhg_bank_size=2,cbhg_bank_filters=8,"
        "cbhg_projection_filters=[16,16],cbhg_highway_units=16,cbhg_highway_layers=1,cbhg_gru_units=8,"
        "decoder_prenet_units=[16,16],decoder_rnn_units=[32,32],attention_dim=16,gmm_hidden_units=16,"
        "postnet_layers=2,postnet_filters=16,location_kernel_size=5,location_filters=4,outputs_per_step=2")
ATTENTIONS = [("bahdanau", "v2b"), ("location_sensitive", "v2b"), ("dca", "v2b"), ("gmm", "v0"), ("gmm", "v1"),
              ("gmm", "v2"), ("gmm", "v2b")]


def tiny_hparams(attention_type="gmm", gmm_version="v2b", extra=""):
    overrides = f"{TINY},attention_type={attention_type},gmm_version={gmm_version}"
    return hparams_lib.load_hparams(overrides=overrides + ("," + extra if extra else ""), preset="small")


def make_batch(batch_size=3, acoustic_dim=80, r=2, seed=0):
    rng = np.random.default_rng(seed)
    input_lengths = np.array([9, 6, 4, 7, 5][:batch_size], np.int32)
    mel_lengths = np.array([17, 12, 9, 14, 10][:batch_size], np.int32)
    t_in, t_out = input_lengths.max(), -(-mel_lengths.max() // r) * r
    phones = np.zeros((batch_size, t_in), np.int32)
    mel = np.full((batch_size, t_out, acoustic_dim), -4.1, np.float32)
    stop = np.ones((batch_size, t_out), np.float32)
    time_axis = np.arange(t_out)[:, None]
    bands = np.arange(acoustic_dim)[None, :]
    for b in range(batch_size):
        phones[b, :input_lengths[b]] = rng.integers(2, 60, input_lengths[b])
        phones[b, input_lengths[b] - 1] = 1
        pattern = 3.0 * np.sin(0.3 * time_axis * (b + 1) / 2 + 0.1 * bands)
        mel[b, :mel_lengths[b]] = pattern[:mel_lengths[b]]
        stop[b, :mel_lengths[b] - 1] = 0
    return {"utt_id": tf.constant([f"u{b}" for b in range(batch_size)]), "phones": tf.constant(phones),
            "input_lengths": tf.constant(input_lengths), "mel": tf.constant(mel),
            "mel_lengths": tf.constant(mel_lengths), "stop_targets": tf.constant(stop)}


@pytest.mark.parametrize("attention_type, gmm_version", ATTENTIONS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_shapes_and_masking_in_training_and_inference(attention_type, gmm_version, batch_size):
    hp = tiny_hparams(attention_type, gmm_version)
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    batch = make_batch(batch_size)
    t_in, t_out = batch["phones"].shape[1], batch["mel"].shape[1]
    outputs = model(batch["phones"], batch["input_lengths"], batch["mel"], training=True)
    assert outputs["mel_before"].shape == (batch_size, t_out, 80)
    assert outputs["mel_after"].shape == (batch_size, t_out, 80)
    assert outputs["stop_logits"].shape == (batch_size, t_out)
    assert outputs["alignments"].shape == (batch_size, t_out // 2, t_in)
    alignments = outputs["alignments"].numpy()
    for b, length in enumerate(batch["input_lengths"].numpy()):
        assert np.all(alignments[b, :, length:] == 0.0), "padding must get no attention"
    inferred = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.range(batch_size))
    t_dec = inferred["alignments"].shape[1]
    assert inferred["mel"].shape == (batch_size, t_dec * 2, 80)
    limits = -(-batch["input_lengths"].numpy() * hp.max_frames_per_phone // 2) * 2
    lengths = inferred["mel_lengths"].numpy()
    assert np.all(lengths >= 1) and np.all(lengths <= limits)
    for b, length in enumerate(lengths):
        assert np.all(inferred["mel"][b, length:].numpy() == 0.0)
        assert inferred["hit_max_steps"][b] == (length == limits[b]) or not inferred["hit_max_steps"][b]


def test_step_limit_grows_with_input_length_and_is_reported():
    hp = tiny_hparams(extra="stop_threshold=0.999999,max_frames_per_phone=3")
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    batch = make_batch(3)
    result = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.range(3))
    expected = -(-batch["input_lengths"].numpy() * 3 // 2) * 2
    np.testing.assert_array_equal(result["mel_lengths"].numpy(), expected)
    assert result["hit_max_steps"].numpy().all()


@pytest.mark.parametrize("attention_type", ["bahdanau", "gmm"])
def test_seeded_inference_is_deterministic_and_batch_independent(attention_type):
    hp = tiny_hparams(attention_type)
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    batch = make_batch(3)
    seeds = tf.constant([11, 22, 33])
    batched = model.infer(batch["phones"], batch["input_lengths"], seeds=seeds)
    again = model.infer(batch["phones"], batch["input_lengths"], seeds=seeds)
    np.testing.assert_array_equal(batched["mel"].numpy(), again["mel"].numpy())
    for b in range(3):
        length = int(batch["input_lengths"][b])
        single = model.infer(batch["phones"][b:b + 1, :length], batch["input_lengths"][b:b + 1],
                             seeds=seeds[b:b + 1])
        frames = int(single["mel_lengths"][0])
        assert int(batched["mel_lengths"][b]) == frames
        np.testing.assert_allclose(batched["mel"][b, :frames].numpy(), single["mel"][0, :frames].numpy(),
                                   atol=1e-4)
    other = model.infer(batch["phones"], batch["input_lengths"], seeds=seeds + 1)
    assert not np.array_equal(other["mel"].numpy(), batched["mel"].numpy())


def _train(hp, steps, batch):
    keras.utils.set_random_seed(1)
    model = create_model(hp)
    optimizer = create_optimizer(hp, "none")
    variables = trainable_variables(model, hp.retrain_decoder_only)
    optimizer.build(variables)
    step = make_train_step(model, optimizer, variables, hp.outputs_per_step, hp.cross_entropy_pos_weight, 80)
    history = [float(step(batch)["loss"]) for _ in range(steps)]
    return model, optimizer, history


def test_tiny_model_overfits_one_batch():
    hp = tiny_hparams(extra="start_lr=0.003,decoder_prenet_dropout=0.0,postnet_dropout=0.0,zoneout_rate=0.0")
    _, _, history = _train(hp, 150, make_batch(2))
    first, last = np.mean(history[:3]), np.mean(history[-5:])
    assert last < first / 5, (first, last)


def test_train_step_traces_once_over_batches_of_different_lengths():
    hp = tiny_hparams()
    keras.utils.set_random_seed(1)
    model = create_model(hp)
    optimizer = create_optimizer(hp, "none")
    variables = trainable_variables(model, False)
    optimizer.build(variables)
    step = make_train_step(model, optimizer, variables, hp.outputs_per_step, 20.0, 80)
    for batch_size, seed in [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]:
        step(make_batch(batch_size, seed=seed))
    assert step.trace_count() == 1


def test_retrain_decoder_only_freezes_the_encoder():
    hp = tiny_hparams(extra="retrain_decoder_only=true")
    keras.utils.set_random_seed(1)
    model = create_model(hp)
    before = [v.numpy().copy() for v in model.encoder_variables()]
    decoder_before = [v.numpy().copy() for v in model.decoder.trainable_variables]
    optimizer = create_optimizer(hp, "none")
    variables = trainable_variables(model, True)
    optimizer.build(variables)
    step = make_train_step(model, optimizer, variables, hp.outputs_per_step, 20.0, 80)
    step(make_batch(2))
    for old, new in zip(before, model.encoder_variables()):
        np.testing.assert_array_equal(old, new.numpy())
    assert any(not np.array_equal(old, new.numpy())
               for old, new in zip(decoder_before, model.decoder.trainable_variables))


def test_checkpoint_restore_gives_identical_outputs_and_step(tmp_path):
    hp = tiny_hparams()
    model, optimizer, _ = _train(hp, 3, make_batch(2))
    batch = make_batch(2)
    reference = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.constant([5, 6]))
    step = tf.Variable(3, dtype=tf.int64)
    manager = tf.train.CheckpointManager(make_checkpoint(model, optimizer, step), str(tmp_path), max_to_keep=2)
    manager.save(checkpoint_number=3)

    keras.utils.set_random_seed(99)
    restored_model = create_model(hp)
    restored_optimizer = create_optimizer(hp, "none")
    restored_optimizer.build(restored_model.trainable_variables)
    restored_step = tf.Variable(0, dtype=tf.int64)
    restore(make_checkpoint(restored_model, restored_optimizer, restored_step), manager.latest_checkpoint)
    assert int(restored_step) == 3
    assert int(restored_optimizer.iterations) == int(optimizer.iterations) == 3
    for old, new in zip(optimizer.variables, restored_optimizer.variables):
        np.testing.assert_array_equal(old.numpy(), new.numpy())
    for old, new in zip(model.weights, restored_model.weights):
        np.testing.assert_array_equal(old.numpy(), new.numpy(), err_msg=old.path)
    again = restored_model.infer(batch["phones"], batch["input_lengths"], seeds=tf.constant([5, 6]))
    np.testing.assert_array_equal(reference["mel"].numpy(), again["mel"].numpy())
    np.testing.assert_array_equal(reference["alignments"].numpy(), again["alignments"].numpy())


def test_model_config_round_trip():
    hp = tiny_hparams()
    model = create_model(hp)
    config = model.get_config()
    assert config["decoder_config"]["attention_type"] == "gmm"
    assert config["decoder_config"]["rnn_units"] == [32, 32]


def test_checkpoint_from_other_hparams_is_a_clear_error(tmp_path):
    model = create_model(tiny_hparams())
    path = make_checkpoint(model).save(str(tmp_path / "ckpt"))
    other = create_model(tiny_hparams(extra="decoder_rnn_units=[48,48]"))
    with pytest.raises(CheckpointMismatchError, match="shape"):
        restore(make_checkpoint(other), path)
