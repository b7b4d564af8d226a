"""The whole Tacotron with each attention type: shapes, masking, inference, training behaviour."""
import os

import numpy as np
import pytest
import tensorflow as tf
import keras

import hparams as hparams_lib
from tacotron.checkpoints import CheckpointMismatchError
from tacotron.checkpoints import make_checkpoint
from tacotron.checkpoints import restore
from tacotron.model import create_model
from tacotron.trainer import build_trainer

ATTENTIONS = [("bahdanau", "v2b"), ("location_sensitive", "v2b"), ("dca", "v2b"), ("gmm", "v0"), ("gmm", "v1"),
              ("gmm", "v2"), ("gmm", "v2b")]


@pytest.mark.parametrize("attention_type, gmm_version", ATTENTIONS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_shapes_and_masking_in_training_and_inference(attention_type, gmm_version, batch_size, tiny_hparams,
                                                     make_batch):
    hp = tiny_hparams(f"attention_type={attention_type},gmm_version={gmm_version}")
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


def test_step_limit_grows_with_input_length_and_is_reported(tiny_hparams, make_batch):
    hp = tiny_hparams("stop_threshold=0.999999,max_frames_per_phone=3,min_decoder_steps=1")
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    batch = make_batch(3)
    result = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.range(3))
    expected = -(-batch["input_lengths"].numpy() * 3 // 2) * 2
    np.testing.assert_array_equal(result["mel_lengths"].numpy(), expected)
    assert result["hit_max_steps"].numpy().all()


def test_inference_never_stops_before_the_courses_twelfth_step(tiny_hparams, make_batch):
    """The course's TestHelper finishes only when time > min_iters = 10, i.e. at the 12th step at the earliest;
    a stop token over the threshold from the first step ends decoding at the first frame of that step."""
    hp = tiny_hparams("stop_threshold=0.000001")
    assert hp.min_decoder_steps == 12
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    batch = make_batch(3)
    result = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.range(3))
    np.testing.assert_array_equal(result["mel_lengths"].numpy(), [11 * 2 + 1] * 3)
    assert not result["hit_max_steps"].numpy().any()
    assert result["alignments"].shape[1] == 12


@pytest.mark.parametrize("attention_type", ["bahdanau", "gmm"])
def test_seeded_inference_is_deterministic_and_batch_independent(attention_type, tiny_hparams, make_batch):
    hp = tiny_hparams(f"attention_type={attention_type}")
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
    trainer = build_trainer(hp)
    history = [float(trainer.train_step(batch)["loss"]) for _ in range(steps)]
    return trainer.model, trainer.optimizer, history


def test_tiny_model_overfits_one_batch(tiny_hparams, make_batch):
    hp = tiny_hparams("start_lr=0.003,decoder_prenet_dropout=0.0,postnet_dropout=0.0,zoneout_rate=0.0")
    _, _, history = _train(hp, 150, make_batch(2))
    first, last = np.mean(history[:3]), np.mean(history[-5:])
    assert last < first / 5, (first, last)


def test_train_step_traces_once_over_batches_of_different_lengths(tiny_hparams, make_batch):
    keras.utils.set_random_seed(1)
    step = build_trainer(tiny_hparams()).train_step
    for batch_size, seed in [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]:
        step(make_batch(batch_size, seed=seed))
    assert step.trace_count() == 1


def test_retrain_decoder_only_freezes_the_encoder(tiny_hparams, make_batch):
    keras.utils.set_random_seed(1)
    trainer = build_trainer(tiny_hparams("retrain_decoder_only=true"))
    model = trainer.model
    before = [v.numpy().copy() for v in model.encoder_variables()]
    decoder_before = [v.numpy().copy() for v in model.decoder.trainable_variables]
    trainer.train_step(make_batch(2))
    for old, new in zip(before, model.encoder_variables()):
        np.testing.assert_array_equal(old, new.numpy())
    assert any(not np.array_equal(old, new.numpy())
               for old, new in zip(decoder_before, model.decoder.trainable_variables))


def test_checkpoint_restore_gives_identical_outputs_and_step(tmp_path, tiny_hparams, make_batch):
    hp = tiny_hparams()
    model, optimizer, _ = _train(hp, 3, make_batch(2))
    batch = make_batch(2)
    reference = model.infer(batch["phones"], batch["input_lengths"], seeds=tf.constant([5, 6]))
    step = tf.Variable(3, dtype=tf.int64)
    manager = tf.train.CheckpointManager(make_checkpoint(model, optimizer, step), str(tmp_path), max_to_keep=2)
    manager.save(checkpoint_number=3)

    keras.utils.set_random_seed(99)
    restored = build_trainer(hp)
    restored_model, restored_optimizer = restored.model, restored.optimizer
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


def test_model_config_round_trip(tiny_hparams):
    hp = tiny_hparams()
    model = create_model(hp)
    config = model.get_config()
    assert config["decoder_config"]["attention_config"]["attention_type"] == "gmm"
    assert config["decoder_config"]["rnn_units"] == [32, 32]


def test_checkpoint_from_other_hparams_is_a_clear_error(tmp_path, tiny_hparams):
    model = create_model(tiny_hparams())
    path = make_checkpoint(model).save(str(tmp_path / "ckpt"))
    other = create_model(tiny_hparams("decoder_rnn_units=[48,48]"))
    with pytest.raises(CheckpointMismatchError, match="shape"):
        restore(make_checkpoint(other), path)


def test_course_config_builds_the_courses_layers():
    """With the course's hparams.yaml (and train.sh's r = 2) every layer has the course's size."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hp = hparams_lib.load_hparams(os.path.join(root, "egs", "biaobei", "gmm_v0.yaml"), overrides="outputs_per_step=2")
    model = create_model(hp)
    shapes = {weight.path: tuple(weight.shape) for weight in model.weights}
    expected = {
        "tacotron/encoder/phone_embedding/embeddings": (115, 512),       # 114 course symbols + padding
        "tacotron/encoder/encoder_prenet/dense_0/kernel": (512, 512),
        "tacotron/encoder/encoder_prenet/dense_1/kernel": (512, 512),
        "tacotron/encoder/encoder_cbhg/bank_16/conv/kernel": (16, 512, 128),
        "tacotron/encoder/encoder_cbhg/bank_16/conv/bias": (128,),          # conv -> ReLU -> batch norm
        "tacotron/encoder/encoder_cbhg/projection_0/conv/kernel": (3, 16 * 128, 512),
        "tacotron/encoder/encoder_cbhg/projection_1/conv/kernel": (3, 512, 512),
        "tacotron/encoder/encoder_cbhg/highway_dense/kernel": (512, 128),
        "tacotron/encoder/encoder_cbhg/highway/h_3/kernel": (128, 128),
        "tacotron/encoder/encoder_cbhg/bidirectional_gru/forward_gru/gru_cell/bias": (384,),  # TF1 GRUCell
        "tacotron/decoder/decoder_prenet/dense_1/kernel": (256, 256),
        "tacotron/decoder/attention/hidden_layer/kernel": (1024, 256),
        "tacotron/decoder/attention/parameter_layer/kernel": (256, 15),     # 3 K, K = 5
        "tacotron/decoder/decoder_rnn/zoneout_lstm_0/lstm_cell/kernel": (256 + 256, 4096),
        "tacotron/decoder/decoder_rnn/zoneout_lstm_1/lstm_cell/kernel": (1024, 4096),
        "tacotron/decoder/frame_projection/kernel": (1024 + 256, 160),
        "tacotron/decoder/stop_projection/kernel": (1024 + 256, 2),
        "tacotron/postnet/conv_4/conv/kernel": (5, 512, 512),
        "tacotron/postnet/projection/kernel": (512, 80),
    }
    for path, shape in expected.items():
        assert shapes.get(path) == shape, path
    assert not any("residual_dense" in path or "bank_17" in path or "conv_5" in path for path in shapes)
    assert model.decoder.cell.attention.version == "v0"
    assert model.decoder.prenet.dropout_rate == 0.2 and model.encoder.prenet.dropout_rate == 0.1
    assert model.encoder.prenet.always_dropout and model.decoder.prenet.always_dropout
    assert model.postnet.dropout_rate == 0.0


@pytest.mark.parametrize("attention_type", ["bahdanau", "location_sensitive", "gmm"])
def test_guided_attention_loss_trains_every_mechanism_and_pulls_towards_the_diagonal(tiny_hparams, make_batch,
                                                                                    attention_type):
    """With the guided loss on, the step reports it (for TensorBoard), it is part of the loss, and a few
    steps on it alone (mel and stop terms still present) lower it."""
    hp = tiny_hparams(f"attention_type={attention_type},guided_attention_weight=20.0,start_lr=0.003")
    keras.utils.set_random_seed(1)
    trainer = build_trainer(hp)
    batch = make_batch(3)
    first = trainer.train_step(batch)
    assert np.isfinite(float(first["guided"])) and float(first["guided"]) > 0
    for _ in range(30):
        last = trainer.train_step(batch)
    assert float(last["guided"]) < 0.7 * float(first["guided"]), (float(first["guided"]), float(last["guided"]))
    losses, _ = trainer.eval_step(batch)
    assert "guided" in losses
    off = build_trainer(tiny_hparams(f"attention_type={attention_type}"))
    assert "guided" not in off.train_step(batch)
