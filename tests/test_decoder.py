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


def test_attention_window_spans_back_and_ahead_of_the_previous_peak():
    from modules.attention import attention_window
    previous = tf.constant([[0.1, 0.7, 0.2, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.1, 0.9]])
    allowed = attention_window(previous, 1, 2).numpy()
    np.testing.assert_array_equal(allowed, [[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]])


def test_masked_softmax_restricted_to_the_window_is_the_renormalised_softmax():
    from modules.attention import masked_softmax
    energy = tf.random.normal([2, 6], seed=3)
    lengths = tf.constant([6, 4])
    allowed = tf.constant(np.array([[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]], bool))
    got = masked_softmax(energy, lengths, allowed).numpy()
    for row, (length, keep) in enumerate(zip([6, 4], allowed.numpy())):
        keep = keep & (np.arange(6) < length)
        weights = np.where(keep, np.exp(energy.numpy()[row]), 0.0)
        np.testing.assert_allclose(got[row], weights / weights.sum(), rtol=1e-5, atol=1e-7)


def _decoder(attention_type, window=()):
    return decoder.TacotronDecoder(attention_config=dict(FACTORY_ARGS, attention_type=attention_type),
                                   prenet_units=[8], prenet_dropout=0.5, rnn_units=[8], zoneout_rate=0.1,
                                   outputs_per_step=2, acoustic_dim=4, stop_threshold=0.5, min_decoder_steps=12,
                                   max_frames_per_phone=4, attention_window=window)


@pytest.mark.parametrize("attention_type", ["bahdanau", "location_sensitive", "dca"])
def test_free_running_with_a_window_attends_only_near_the_previous_peak(attention_type):
    tf.random.set_seed(5)
    layer = _decoder(attention_type, window=[1, 2])
    memory = tf.random.normal([2, 9, 6], seed=2)
    lengths = tf.constant([9, 6])
    seeds = tf.constant([1, 2])
    outputs = layer.infer(memory, lengths, seeds=seeds)
    alignments = outputs["alignments"].numpy()
    for row in range(2):
        steps = -(-int(outputs["mel_lengths"][row]) // 2)
        peak = 0
        for step in range(steps):
            attended = np.flatnonzero(alignments[row, step])
            assert attended.min() >= peak - 1 and attended.max() <= peak + 2, (row, step, attended, peak)
            peak = int(np.argmax(alignments[row, step]))
    # The same weights without the window (the argument overrides the layer's setting) attend elsewhere too.
    free = layer.infer(memory, lengths, seeds=seeds, attention_window=[])["alignments"].numpy()
    steps = min(free.shape[1], alignments.shape[1])
    assert not np.allclose(free[:, :steps], alignments[:, :steps])


def test_a_window_of_the_whole_input_changes_nothing():
    tf.random.set_seed(6)
    layer = _decoder("bahdanau")
    memory = tf.random.normal([2, 5, 6], seed=4)
    lengths, seeds = tf.constant([5, 3]), tf.constant([3, 4])
    plain = layer.infer(memory, lengths, seeds=seeds)
    wide = layer.infer(memory, lengths, seeds=seeds, attention_window=[5, 5])
    np.testing.assert_allclose(wide["alignments"].numpy(), plain["alignments"].numpy(), atol=1e-6)
    np.testing.assert_allclose(wide["frames"].numpy(), plain["frames"].numpy(), atol=1e-5)


def test_a_window_is_refused_for_gmm_and_malformed_windows():
    with pytest.raises(ValueError, match="not gmm"):
        _decoder("gmm", window=[1, 3])
    with pytest.raises(ValueError, match="back, ahead"):
        _decoder("bahdanau", window=[1])
    assert _decoder("gmm").attention_window is None


def _lstm_product_ops(graph_def):
    """{while-loop body name: the op types of its decoder-LSTM products and conds} in a traced graph, for the
    bodies that hold any (not the pre-net's noise loops, for one)."""
    bodies = {}
    for function in graph_def.library.function:
        ops = {node.op for node in function.node_def
               if node.op in ("If", "StatelessIf") or ("zoneout_lstm" in node.name and node.op in ("MatMul", "Einsum"))}
        if "while_body" in function.signature.name and ops:
            bodies[function.signature.name] = ops
    return bodies


@pytest.mark.parametrize("rnn_units, loop_forms", [
    ([256], [{"Einsum"}, {"MatMul"}]),  # its kernel, [1024, 760 + 8 + 256], has EINSUM_MIN_WEIGHTS weights
    ([8], [{"MatMul"}])])
def test_free_running_traces_a_batch_of_one_apart_when_the_products_depend_on_the_batch_size(rnn_units, loop_forms):
    """Traced for an unknown batch size, `infer` holds one loop for a batch of one (MatMul) and one for any other
    batch (Einsum), picked once by a tf.cond, and no cond inside a loop; with small kernels (MatMul at every
    batch size) one loop. Each gives what a trace that knows the batch size gives, bit for bit."""
    from modules.fast_matmul import EINSUM_MIN_WEIGHTS
    assert 4 * 256 * (760 + 8 + 256) == EINSUM_MIN_WEIGHTS
    tf.random.set_seed(7)
    layer = decoder.TacotronDecoder(attention_config=FACTORY_ARGS, prenet_units=[8], prenet_dropout=0.5,
                                    rnn_units=rnn_units, zoneout_rate=0.1, outputs_per_step=2, acoustic_dim=4,
                                    stop_threshold=0.5, min_decoder_steps=3, max_frames_per_phone=2)
    memory = tf.random.normal([3, 5, 760], seed=8)
    lengths, seeds = tf.constant([5, 4, 3]), tf.constant([1, 2, 3])
    signature = [tf.TensorSpec([None, None, 760]), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]
    unknown = tf.function(lambda m, l, s: layer.infer(m, l, seeds=s), input_signature=signature)
    known = tf.function(lambda m, l, s: layer.infer(m, l, seeds=s))  # traced for each batch size it meets
    for batch_size in (1, 3):
        args = (memory[:batch_size], lengths[:batch_size], seeds[:batch_size])
        got, expected = unknown(*args), known(*args)
        assert got["frames"].shape[0] == batch_size
        for key in expected:
            np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy(), err_msg=key)
    loops = _lstm_product_ops(unknown.get_concrete_function().graph.as_graph_def())
    assert sorted(loops.values(), key=sorted) == loop_forms


@pytest.mark.parametrize("attention_type", ["gmm", "location_sensitive", "dca"])
def test_teacher_forced_loop_has_the_values_and_gradients_of_a_plain_step_by_step_loop(attention_type):
    """modules/teacher_forcing.py forms the LSTM kernels' gradients after the loop; every value and gradient
    must equal those of the cell stepped one by one with its own kernels (zoneout 0: no random masks)."""
    from modules.teacher_forcing import teacher_forced_decode
    attention = create_attention(AttentionConfig(**dict(FACTORY_ARGS, attention_type=attention_type)))
    cell_class = GMMTacoDecoderCell if attention_type == "gmm" else BasicTacoDecoderCell
    cell = cell_class(attention=attention, rnn_units=[8, 7], zoneout_rate=0.0, outputs_per_step=2,
                      acoustic_dim=4)
    memory = tf.random.normal([2, 5, 6], seed=1)
    lengths = tf.constant([5, 3])
    inputs = tf.random.normal([4, 2, 3], seed=2)  # [T_dec, B, P]
    weights = tf.random.normal([4, 2, 5], seed=3)  # weighs the alignments so they get a gradient

    def initial(memory):
        state = cell.get_initial_state(2, 5, 6, tf.float32, num_steps=4)
        return attention.prepare_memory(memory, lengths), state

    def plain(memory, inputs):
        processed, state = initial(memory)
        frames, stops = [], []
        for step in range(4):
            (frame, stop), state = cell.call(inputs[step], state=state, memory=memory, processed_memory=processed,
                                             memory_lengths=lengths, training=True)
            frames.append(frame), stops.append(stop)
        return tf.stack(frames), tf.stack(stops), state.alignment_history.stack()

    def loss(outputs):
        frames, stops, alignments = outputs
        return tf.reduce_sum(frames ** 2) + tf.reduce_sum(tf.sin(stops)) + tf.reduce_sum(alignments * weights)

    plain(memory, inputs)  # builds the layers

    def values_and_gradients(run):
        with tf.GradientTape() as tape:
            tape.watch([memory, inputs])
            outputs = run(memory, inputs)
            total = loss(outputs)
        return outputs, tape.gradient(total, [memory, inputs] + cell.trainable_variables)

    ours = lambda m, i: teacher_forced_decode(cell, cell.rnn.fused_kernels("float32"), initial, m, lengths, i,  # noqa: E731
                                              training=True)
    results = [values_and_gradients(plain), values_and_gradients(ours),
               tf.function(values_and_gradients)(ours)]  # eager and graph custom gradients differ in TF
    plain_outputs, plain_grads = results[0]
    assert len(plain_grads) == 2 + len(cell.trainable_variables) > 6
    for ours_outputs, ours_grads in results[1:]:
        for got, expected in zip(ours_outputs, plain_outputs):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        for got, expected in zip(ours_grads, plain_grads):
            assert np.abs(expected.numpy()).max() > 0
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
