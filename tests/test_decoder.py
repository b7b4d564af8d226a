"""Decoder cell states, teacher-forcing inputs, step limits and the attention factory."""
import numpy as np
import pytest
import tensorflow as tf

from modules import decoder
from modules.attention_factory import ATTENTION_LAYERS
from modules.attention_factory import AttentionConfig
from modules.attention_factory import attention_config_from
from modules.attention_factory import create_attention
from modules.decoder_cells import BasicTacoDecoderCell
from modules.decoder_cells import BasicTacoDecoderCellState
from modules.decoder_cells import GMMTacoDecoderCell
from modules.decoder_cells import GMMTacoDecoderCellState

FACTORY_ARGS = dict(attention_type="gmm", attention_dim=8, location_filters=2, location_kernel_size=3,
                    gmm_version="v2b",
                    gmm_num_mixtures=3, gmm_hidden_units=8, gmm_hidden_activation="relu", dca_filters=2,
                    dca_kernel_size=5, dca_prior_alpha=0.1, dca_prior_beta=0.9, dca_prior_length=11,
                    dca_prior_floor=1e-6)


def test_state_fields_are_the_course_ones():
    assert BasicTacoDecoderCellState._fields == ("rnn_cell_state", "attention", "time", "alignments",
                                                 "alignment_history")
    assert GMMTacoDecoderCellState._fields == ("rnn_cell_state", "attention", "time", "mu", "alignment_history")


def test_teacher_forcing_inputs_are_go_frame_then_last_of_each_group():
    targets = tf.reshape(tf.range(2 * 6 * 1, dtype=tf.float32), [2, 6, 1])
    inputs = decoder.teacher_forcing_inputs(targets, 2).numpy()
    np.testing.assert_array_equal(inputs[0, :, 0], [0, 1, 3])
    np.testing.assert_array_equal(inputs[1, :, 0], [0, 7, 9])


def test_step_limit_grows_with_input_length():
    steps = decoder.max_decoder_steps(tf.constant([1, 10, 100]), 20, 5, 2).numpy()
    np.testing.assert_array_equal(steps, [4, 40, 400])


@pytest.mark.parametrize("attention_type, cell_class, field", [
    ("bahdanau", BasicTacoDecoderCell, "alignments"), ("location_sensitive", BasicTacoDecoderCell, "alignments"),
    ("dca", BasicTacoDecoderCell, "alignments"), ("gmm", GMMTacoDecoderCell, "mu")])
def test_cell_step_and_state(attention_type, cell_class, field):
    attention = create_attention(AttentionConfig(**dict(FACTORY_ARGS, attention_type=attention_type)))
    cell = cell_class(attention=attention, rnn_units=[8, 8], zoneout_rate=0.1, outputs_per_step=2,
                      acoustic_dim=4)
    memory = tf.random.normal([2, 5, 6], seed=1)
    lengths = tf.constant([5, 3])
    state = cell.get_initial_state(2, 5, 6, tf.float32)
    processed = attention.prepare_memory(memory, lengths)
    (frames, stops), state = cell.call(tf.ones([2, 3]), state=state, memory=memory, processed_memory=processed,
                                       memory_lengths=lengths)
    assert frames.shape == (2, 8) and stops.shape == (2, 2)
    assert int(state.time) == 1 and state.attention.shape == (2, 6)
    expected = (2, 3) if field == "mu" else (2, 5)
    assert getattr(state, field).shape == expected
    history = state.alignment_history.stack().numpy()
    assert history.shape == (1, 2, 5) and np.all(history[0, 1, 3:] == 0)
    again = cell_class.from_config(cell.get_config())
    assert again.get_config()["attention"]["class_name"] == type(attention).__name__


def test_unknown_attention_type():
    with pytest.raises(ValueError, match="unknown attention_type 'dot'"):
        create_attention(AttentionConfig(**dict(FACTORY_ARGS, attention_type="dot")))


def test_every_registered_attention_is_built_from_the_config_with_its_settings():
    config = AttentionConfig(**FACTORY_ARGS)
    for attention_type, layer_class in ATTENTION_LAYERS.items():
        layer = create_attention(config._replace(attention_type=attention_type))
        assert type(layer) is layer_class and layer.name == "attention"
    gmm = create_attention(config._replace(gmm_num_mixtures=7, gmm_version="v0"))
    assert (gmm.num_mixtures, gmm.version, gmm.hidden_units) == (7, "v0", 8)
    location = create_attention(config._replace(attention_type="location_sensitive", location_kernel_size=9))
    assert location.location_kernel_size == 9


def test_attention_config_fields_are_hparams():
    """The config is read from hparams by field name: every field must be an hparam."""
    import hparams as hparams_lib
    hp = hparams_lib.load_hparams(overrides="gmm_num_mixtures=3,attention_type=dca")
    config = attention_config_from(hp)
    assert config.gmm_num_mixtures == 3 and config.attention_type == "dca"
    assert attention_config_from(config._asdict()) == config
