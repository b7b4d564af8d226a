"""Tests for modules/rnn_cells.py: ZoneoutLSTMCell and StackedZoneoutLSTM (tiny sizes, seeded)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from modules.rnn_cells import StackedZoneoutLSTM, ZoneoutLSTMCell, is_unit_major


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(4321)


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_lstm(x, h, c, kernel, recurrent_kernel, bias):
    """Keras LSTM gate order i, f, c, o; x: [B, D]; h, c: [B, U]."""
    z = x @ kernel + h @ recurrent_kernel + bias
    i, f, g, o = np.split(z, 4, axis=-1)
    c_new = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
    return _np_sigmoid(o) * np.tanh(c_new), c_new


def _plain_copy(cell, input_dim):
    """A plain keras LSTMCell carrying the same weights as ZoneoutLSTMCell `cell`."""
    plain = keras.layers.LSTMCell(cell.units)
    plain.build((None, input_dim))
    plain.set_weights(cell.cell.get_weights())
    return plain


def _states(batch, units, seed):
    return [tf.constant(_normal([batch, units], seed)), tf.constant(_normal([batch, units], seed + 1))]


@pytest.mark.parametrize("batch", [1, 3])
def test_zoneout_cell_shapes_and_initial_state(batch):
    cell = ZoneoutLSTMCell(units=6, zoneout_rate=0.1)
    assert cell.state_size == [6, 6] and cell.output_size == 6
    states = cell.get_initial_state(batch, tf.float32)
    assert [s.shape for s in states] == [(batch, 6), (batch, 6)]
    assert all(np.all(s.numpy() == 0.0) for s in states)
    output, (h, c) = cell(tf.constant(_normal([batch, 4])), states, training=True)
    assert output.shape == (batch, 6) and h.shape == (batch, 6) and c.shape == (batch, 6)
    assert cell.get_initial_state(batch)[0].dtype == tf.float32


@pytest.mark.parametrize("batch", [1, 3])
def test_zoneout_cell_inference_mixes_expectation_and_outputs_the_plain_lstm(batch):
    """The course's ZoneoutLSTMCell at inference: state = (1 - z) new + z previous; output = plain new h."""
    z = 0.3
    cell = ZoneoutLSTMCell(units=6, zoneout_rate=z)
    x = tf.constant(_normal([batch, 4]))
    states = _states(batch, 6, seed=1)
    output, (h, c) = cell(x, states, training=False)
    plain_output, (plain_h, plain_c) = _plain_copy(cell, 4)(x, states, training=False)
    assert np.array_equal(output.numpy(), plain_output.numpy())
    np_h, np_c = _np_lstm(x.numpy(), states[0].numpy(), states[1].numpy(),
                          *(w.numpy() for w in cell.cell.weights))
    np.testing.assert_allclose(output.numpy(), np_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), (1 - z) * np_h + z * states[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), (1 - z) * np_c + z * states[1].numpy(), rtol=1e-5, atol=1e-6)
    again, (again_h, _) = cell(x, states, training=False)
    assert np.array_equal(again.numpy(), output.numpy()) and np.array_equal(again_h.numpy(), h.numpy())


def test_zoneout_rate_one_keeps_previous_state_in_training():
    cell = ZoneoutLSTMCell(units=5, zoneout_rate=1.0)
    x = tf.constant(_normal([3, 4]))
    states = _states(3, 5, seed=2)
    output, (h, c) = cell(x, states, training=True)
    np.testing.assert_array_equal(h.numpy(), states[0].numpy())
    np.testing.assert_array_equal(c.numpy(), states[1].numpy())
    # The output is the LSTM's new h, not the zoned-out state.
    plain_output, _ = _plain_copy(cell, 4)(x, states)
    np.testing.assert_array_equal(output.numpy(), plain_output.numpy())


def test_zoneout_mixes_previous_and_new_with_independent_masks():
    cell = ZoneoutLSTMCell(units=64, zoneout_rate=0.5)
    x = tf.constant(_normal([4, 3]))
    states = _states(4, 64, seed=3)
    _, (h, c) = cell(x, states, training=True)
    _, (new_h, new_c) = _plain_copy(cell, 3)(x, states)
    h, c = h.numpy(), c.numpy()
    keep_h = h == states[0].numpy()
    keep_c = c == states[1].numpy()
    np.testing.assert_array_equal(h[~keep_h], new_h.numpy()[~keep_h])
    np.testing.assert_array_equal(c[~keep_c], new_c.numpy()[~keep_c])
    assert 0.3 < keep_h.mean() < 0.7 and 0.3 < keep_c.mean() < 0.7
    assert not np.array_equal(keep_h, keep_c)


def test_zoneout_rate_zero_in_training_is_plain_lstm():
    cell = ZoneoutLSTMCell(units=5, zoneout_rate=0.0)
    x = tf.constant(_normal([2, 3]))
    states = _states(2, 5, seed=4)
    output, _ = cell(x, states, training=True)
    plain_output, _ = _plain_copy(cell, 3)(x, states)
    np.testing.assert_array_equal(output.numpy(), plain_output.numpy())


@pytest.mark.parametrize("batch", [1, 3])
def test_stacked_shapes_and_layers_feed_each_other_the_plain_lstm_output(batch):
    z = 0.3
    stack = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=z)
    assert stack.state_size == [[6, 6], [5, 5]] and stack.output_size == 5
    x = tf.constant(_normal([batch, 4]))
    states = [_states(batch, 6, seed=5), _states(batch, 5, seed=7)]
    output, new_states = stack(x, states, training=False)
    assert output.shape == (batch, 5)
    assert [[s.shape for s in pair] for pair in new_states] == [[(batch, 6)] * 2, [(batch, 5)] * 2]
    first_out, first_states = _plain_copy(stack.cells[0], 4)(x, states[0])
    second_out, second_states = _plain_copy(stack.cells[1], 6)(first_out, states[1])
    np.testing.assert_array_equal(output.numpy(), second_out.numpy())
    previous = states[0] + states[1]
    for got, new, old in zip(new_states[0] + new_states[1], first_states + second_states, previous):
        np.testing.assert_allclose(got.numpy(), (1 - z) * new.numpy() + z * old.numpy(), rtol=1e-5, atol=1e-6)
    initial = stack.get_initial_state(batch, tf.float32)
    assert [[s.shape for s in pair] for pair in initial] == [[(batch, 6)] * 2, [(batch, 5)] * 2]


def test_stacked_rejects_wrong_number_of_states():
    stack = StackedZoneoutLSTM(units=[4, 4], zoneout_rate=0.1)
    with pytest.raises(ValueError):
        stack(tf.constant(_normal([2, 3])), [_states(2, 4, seed=0)])


def _run_in_while_loop(stack, x, states, steps, training):
    @tf.function
    def run(x, states):
        def body(step, output, states):
            output, states = stack(x + tf.cast(step, x.dtype), states, training=training)
            return step + 1, output, states
        output = tf.zeros([x.shape[0], stack.output_size])
        return tf.while_loop(lambda step, output, states: step < steps, body, (tf.constant(0), output, states))
    _, output, states = run(x, states)
    return output, states


def test_stacked_inside_while_loop_matches_eager_steps():
    stack = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=0.3)
    x = tf.constant(_normal([3, 4]))
    stack.build(x.shape)
    states = stack.get_initial_state(3, tf.float32)
    output, final = _run_in_while_loop(stack, x, states, steps=4, training=False)
    eager_states = states
    for step in range(4):
        eager_output, eager_states = stack(x + float(step), eager_states, training=False)
    np.testing.assert_allclose(output.numpy(), eager_output.numpy(), rtol=1e-5, atol=1e-6)
    for got, want in zip(tf.nest.flatten(final), tf.nest.flatten(eager_states)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_stacked_zoneout_inside_while_loop_in_training():
    x = tf.constant(_normal([2, 4]))
    frozen = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=1.0)
    frozen.build(x.shape)
    states = [_states(2, 6, seed=8), _states(2, 5, seed=10)]
    output, final = _run_in_while_loop(frozen, x, states, steps=3, training=True)
    # Every step starts from the initial state, so the output is the plain LSTM's of the last step's input.
    first_out, _ = _plain_copy(frozen.cells[0], 4)(x + 2.0, states[0])
    second_out, _ = _plain_copy(frozen.cells[1], 6)(first_out, states[1])
    np.testing.assert_allclose(output.numpy(), second_out.numpy(), rtol=1e-5, atol=1e-6)
    for got, want in zip(tf.nest.flatten(final), tf.nest.flatten(states)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    stack = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=0.5, seed=3)
    stack.build(x.shape)
    zoned, _ = _run_in_while_loop(stack, x, stack.get_initial_state(2), steps=3, training=True)
    plain, _ = _run_in_while_loop(stack, x, stack.get_initial_state(2), steps=3, training=False)
    assert np.all(np.isfinite(zoned.numpy()))
    assert not np.allclose(zoned.numpy(), plain.numpy())


@pytest.mark.parametrize("make,input_dim", [
    (lambda: ZoneoutLSTMCell(units=5, zoneout_rate=0.1, seed=7), 3),
    (lambda: StackedZoneoutLSTM(units=[6, 5], zoneout_rate=0.2), 3),
])
def test_get_config_round_trip(make, input_dim):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = tf.constant(_normal([2, input_dim]))
    states = layer.get_initial_state(2, tf.float32)
    expected, _ = layer(x, states, training=False)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    got, _ = clone(x, states, training=False)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_mixed_precision_states_and_outputs_stay_float32():
    stack = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=0.5, dtype="mixed_float16")
    states = stack.get_initial_state(2)
    assert all(s.dtype == tf.float32 for s in tf.nest.flatten(states))
    output, states = stack(tf.constant(_normal([2, 4])), states, training=True)
    assert output.dtype == tf.float32
    assert all(s.dtype == tf.float32 for s in tf.nest.flatten(states))
    assert stack.cells[1].cell.variable_dtype == "float32" and stack.cells[1].compute_dtype == "float16"


def test_fast_matmul_gradients_match_plain_matmul():
    from modules.fast_matmul import matmul
    x, w, upstream = (tf.constant(_normal(shape, seed)) for shape, seed in
                      (([3, 7], 1), ([7, 5], 2), ([3, 5], 3)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        ours = matmul(x, w)
        plain = tf.matmul(x, w)
    assert np.array_equal(ours.numpy(), plain.numpy())
    ours_dx, ours_dw = tape.gradient(ours, [x, w], output_gradients=upstream)
    plain_dx, plain_dw = tape.gradient(plain, [x, w], output_gradients=upstream)
    np.testing.assert_allclose(ours_dx.numpy(), plain_dx.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_dw.numpy(), plain_dw.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_dx.numpy(), upstream.numpy() @ w.numpy().T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype, tolerance", [(tf.float32, 1e-5), (tf.bfloat16, 3e-2)])
def test_unit_major_product_and_its_input_gradient_match_plain_matmul(dtype, tolerance):
    """z^T = w_t @ x^T, and its gradient w_t^T @ dz^T for x^T only (float32: w @ dz^T; bfloat16: (dz @ w^T)^T)."""
    from modules.fast_matmul import unit_major_matmul_input_gradient_only
    x, w, upstream = (tf.constant(_normal(shape, seed)) for shape, seed in
                      (([3, 7], 1), ([7, 5], 2), ([3, 5], 3)))
    expected, expected_dx = x.numpy() @ w.numpy(), upstream.numpy() @ w.numpy().T
    x_t, w_t, w, upstream_t = (tf.cast(tensor, dtype) for tensor in
                               (tf.transpose(x), tf.transpose(w), w, tf.transpose(upstream)))
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t, w])
        product_t = unit_major_matmul_input_gradient_only(x_t, w_t, w)
    dx_t, dw_t, dw = tape.gradient(product_t, [x_t, w_t, w], output_gradients=upstream_t)
    assert dw_t is None and dw is None  # formed after the decoder loop instead (modules/teacher_forcing.py)
    assert product_t.dtype == dtype and dx_t.dtype == dtype
    scale = max(np.abs(expected).max(), np.abs(expected_dx).max())
    np.testing.assert_allclose(tf.cast(product_t, tf.float32).numpy(), expected.T, rtol=tolerance,
                               atol=tolerance * scale)
    np.testing.assert_allclose(tf.cast(dx_t, tf.float32).numpy(), expected_dx.T, rtol=tolerance,
                               atol=tolerance * scale)


def _einsum_sized_rows(columns):
    """Rows of the smallest [rows, columns] kernel that unit_major_product runs as Einsum (float32, batch >= 2)."""
    from modules.fast_matmul import EINSUM_MIN_WEIGHTS
    return EINSUM_MIN_WEIGHTS // columns + 1


def _traced_op_types(function, *specs):
    """The op types of `function` traced for these TensorSpecs or tensors (its outer graph, not its branches)."""
    return {op.type for op in tf.function(function).get_concrete_function(*specs).graph.get_operations()}


@pytest.mark.parametrize("batch_size, known, expected_op", [
    (1, True, "MatMul"), (3, True, "Einsum"), (1, False, "Einsum"), (3, False, "Einsum")])
def test_unit_major_product_picks_its_form_by_batch_size(batch_size, known, expected_op):
    """A large float32 kernel: MatMul for a batch known to be 1, else Einsum (oneDNN's matmul primitive), picked
    when tracing: never a tf.cond, which would run at every decoder step. Each form gives w_t @ x_t."""
    from modules.fast_matmul import depends_on_batch_size
    from modules.fast_matmul import unit_major_product
    w_t, x_t = tf.constant(_normal([_einsum_sized_rows(7), 7], 1)), tf.constant(_normal([7, batch_size], 2))
    assert depends_on_batch_size(w_t)
    spec = tf.TensorSpec([7, batch_size if known else None], tf.float32)
    graph_ops = _traced_op_types(lambda x: unit_major_product(w_t, x), spec)
    assert graph_ops & {"MatMul", "Einsum", "If", "StatelessIf"} == {expected_op}
    product = tf.function(lambda x: unit_major_product(w_t, x), input_signature=[spec])
    np.testing.assert_allclose(product(x_t).numpy(), w_t.numpy() @ x_t.numpy(), rtol=1e-5, atol=1e-5)


def test_unit_major_product_keeps_matmul_for_small_kernels():
    """Under EINSUM_MIN_WEIGHTS (the small preset's LSTMs) MatMul is faster at every batch size."""
    from modules.fast_matmul import depends_on_batch_size
    from modules.fast_matmul import unit_major_product
    w_t = tf.constant(_normal([_einsum_sized_rows(7) - 2, 7], 1))
    assert not depends_on_batch_size(w_t)
    graph_ops = _traced_op_types(lambda x: unit_major_product(w_t, x), tf.TensorSpec([7, None], tf.float32))
    assert graph_ops & {"MatMul", "Einsum", "If", "StatelessIf"} == {"MatMul"}


def test_unit_major_product_keeps_matmul_for_bfloat16():
    from modules.fast_matmul import unit_major_product
    w_t, x_t = (tf.cast(_normal(shape, seed), tf.bfloat16) for shape, seed in
                (([_einsum_sized_rows(7), 7], 1), ([7, 3], 2)))
    assert "MatMul" in _traced_op_types(unit_major_product, w_t, x_t)
    np.testing.assert_allclose(tf.cast(unit_major_product(w_t, x_t), tf.float32).numpy(),
                               tf.cast(tf.matmul(w_t, x_t), tf.float32).numpy())


def test_zoneout_cell_gradients_match_keras_lstm_cell():
    """The written-out step has the gradients of keras.layers.LSTMCell (rate 0: no random masks)."""
    cell = ZoneoutLSTMCell(units=6, zoneout_rate=0.0)
    x = tf.constant(_normal([3, 4]))
    states = _states(3, 6, seed=5)
    cell(x, states)
    plain = _plain_copy(cell, 4)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x] + states)
        ours, (_, ours_c) = cell(x, states, training=True)
        theirs, (_, theirs_c) = plain(x, states, training=True)
        ours_total = tf.reduce_sum(ours * ours) + tf.reduce_sum(ours_c)
        theirs_total = tf.reduce_sum(theirs * theirs) + tf.reduce_sum(theirs_c)
    ours_grads = tape.gradient(ours_total, [x] + states + cell.cell.trainable_weights)
    theirs_grads = tape.gradient(theirs_total, [x] + states + plain.trainable_weights)
    for mine, reference in zip(ours_grads, theirs_grads):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("bfloat16", 3e-2)])
def test_fused_kernels_give_the_training_step_within_precision(precision, tolerance):
    """The decoder loops' one product per layer (stacked kernels, made once; unit-major states) = the
    two-product batch-major step."""
    stack = StackedZoneoutLSTM(units=[6, 5], zoneout_rate=0.2)
    x = tf.constant(_normal([3, 4]))
    states = [_states(3, 6, seed=2), _states(3, 5, seed=4)]
    plain, plain_states = stack(x, states, training=False)
    kernels = stack.fused_kernels(precision)
    assert [tuple(k.shape) for k in kernels] == [(24, 10), (20, 11)]  # transposed: [4 units, D + units]
    assert all(k.dtype == precision for k in kernels)
    loop_states = stack.loop_states(states, kernels)
    assert is_unit_major(kernels) and not is_unit_major(None)  # the layout of the states inside a loop
    assert [tuple(h.shape) for h, _ in loop_states] == [(6, 3), (5, 3)]
    fused, fused_states = stack(x, loop_states, training=False, fused_kernels=kernels)
    assert fused.dtype == tf.float32 and tuple(fused.shape) == (3, 5)  # the output is batch-major
    fused_states = [[tf.transpose(t) for t in state] for state in fused_states]
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), atol=tolerance)
    for got, expected in zip(tf.nest.flatten(fused_states), tf.nest.flatten(plain_states)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=tolerance)
    if precision == "bfloat16":  # really rounded: not the float32 numbers
        assert not np.array_equal(fused.numpy(), plain.numpy())
    with pytest.raises(ValueError, match="precision"):
        stack.fused_kernels("float16")



@pytest.mark.parametrize("fused", [False, True])
def test_mixed_policy_runs_products_in_bfloat16_and_keeps_the_state_math_float32(fused):
    """Under mixed_bfloat16 the states, gates and output stay float32: a cell state that bfloat16 cannot hold
    (1 + 2^-10; bfloat16 steps by 2^-7 there) passes a fully open forget gate unrounded."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        stack = StackedZoneoutLSTM(units=[4], zoneout_rate=0.0)
        stack.build((None, 3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    cell = stack.cells[0].cell
    assert cell.kernel.dtype == "float32" and stack.cells[0].compute_dtype == "bfloat16"
    cell.kernel.assign(tf.zeros_like(cell.kernel))
    cell.recurrent_kernel.assign(tf.zeros_like(cell.recurrent_kernel))
    cell.bias.assign(np.repeat([-30.0, 30.0, 0.0, 30.0], 4).astype(np.float32))  # i shut, f open, g = 0, o open
    kept = 1.0 + 2.0 ** -10
    states = [[tf.zeros([2, 4]), tf.fill([2, 4], kept)]]
    x = tf.constant(_normal([2, 3]))
    kernels = stack.fused_kernels("float32") if fused else None
    if fused:
        assert kernels[0].dtype == tf.bfloat16  # the compute dtype: the product runs in bfloat16
        states = stack.loop_states(states, kernels)
    output, ((h, c),) = stack(x, states, fused_kernels=kernels)
    assert output.dtype == h.dtype == c.dtype == tf.float32
    np.testing.assert_allclose(c.numpy(), kept, rtol=0, atol=1e-7)
    np.testing.assert_allclose(output.numpy(), np.tanh(kept), rtol=1e-6)
