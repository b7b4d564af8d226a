"""Tests for modules/layers.py: pre-net, highway net, conv + batch norm, CBHG, post-net (tiny sizes, seeded)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from modules.layers import CBHG, Conv1DBatchNorm, HighwayNet, PostNet, Prenet, stateless_dropout


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np_relu(x):
    return np.maximum(x, 0.0)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_prenet(prenet, x):
    for dense in prenet.dense_layers:
        kernel, bias = (w.numpy() for w in dense.weights)
        x = _np_relu(x @ kernel + bias)
    return x


def _np_conv_same(x, kernel):
    """x: [B, T, D]; kernel: [K, D, F]. Stride-1 'same' convolution as TensorFlow pads it."""
    k = kernel.shape[0]
    before = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (before, k - 1 - before), (0, 0)))
    steps = x.shape[1]
    return sum(padded[:, i:i + steps] @ kernel[i] for i in range(k))


def _small_cbhg():
    return CBHG(bank_size=3, bank_filters=4, projection_filters=[6, 8], projection_kernel_size=3,
                highway_units=10, highway_layers=2, gru_units=5)


# ---------------------------------------------------------------- stateless_dropout / Prenet


def test_stateless_dropout_keeps_or_scales_and_rows_are_independent():
    x = _normal([3, 200]) + 5.0  # no zeros in x
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)
    y = stateless_dropout(tf.constant(x), 0.25, seeds, salt=0).numpy()
    dropped = y == 0.0
    np.testing.assert_allclose(y[~dropped], x[~dropped] / 0.75, rtol=1e-6)
    assert 0.15 < dropped.mean() < 0.35
    for i in range(3):
        row = stateless_dropout(tf.constant(x[i:i + 1]), 0.25, seeds[i:i + 1], salt=0).numpy()
        np.testing.assert_array_equal(row[0], y[i])
    other_salt = stateless_dropout(tf.constant(x), 0.25, seeds, salt=1).numpy()
    assert not np.array_equal(other_salt == 0.0, dropped)
    np.testing.assert_array_equal(stateless_dropout(tf.constant(x), 0.0, seeds, salt=0).numpy(), x)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("time_axis", [False, True])
@pytest.mark.parametrize("with_seeds", [False, True])
def test_prenet_shapes(batch, time_axis, with_seeds):
    prenet = Prenet(units=[8, 4], dropout_rate=0.5, always_dropout=True)
    shape = [batch, 7, 5] if time_axis else [batch, 5]
    seeds = tf.reshape(tf.range(2 * batch, dtype=tf.int32), [batch, 2]) if with_seeds else None
    y = prenet(tf.constant(_normal(shape)), seeds=seeds)
    assert tuple(y.shape) == tuple(shape[:-1]) + (4,)


def test_prenet_without_dropout_matches_numpy():
    prenet = Prenet(units=[8, 6], dropout_rate=0.5, always_dropout=False)
    x = _normal([3, 5])
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)
    y = prenet(tf.constant(x), training=False).numpy()
    np.testing.assert_allclose(y, _np_prenet(prenet, x), rtol=1e-5, atol=1e-6)
    y_seeded = prenet(tf.constant(x), training=False, seeds=seeds).numpy()
    np.testing.assert_allclose(y_seeded, y, rtol=0, atol=0)


@pytest.mark.parametrize("always_dropout,training", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("with_seeds", [False, True])
def test_prenet_dropout_active(always_dropout, training, with_seeds):
    prenet = Prenet(units=[64], dropout_rate=0.5, always_dropout=always_dropout)
    x = _normal([3, 5])
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32) if with_seeds else None
    y = prenet(tf.constant(x), training=training, seeds=seeds).numpy()
    reference = _np_prenet(prenet, x)
    active = reference > 1e-3
    dropped = y[active] == 0.0
    assert 0.3 < dropped.mean() < 0.7
    np.testing.assert_allclose(y[active][~dropped], 2.0 * reference[active][~dropped], rtol=1e-5)
    assert np.all(y[~active] <= 2.0 * reference[~active] + 1e-6)


@pytest.mark.parametrize("time_axis", [False, True])
def test_prenet_seeded_batched_rows_equal_single_rows(time_axis):
    prenet = Prenet(units=[16, 8], dropout_rate=0.5, always_dropout=True)
    x = tf.constant(_normal([3, 4, 5] if time_axis else [3, 5]))
    seeds = tf.constant([[11, 2], [7, 40], [0, 9]], tf.int32)
    batched = prenet(x, seeds=seeds).numpy()
    for i in range(3):
        single = prenet(x[i:i + 1], seeds=seeds[i:i + 1]).numpy()
        np.testing.assert_array_equal(single[0] == 0.0, batched[i] == 0.0)
        np.testing.assert_allclose(single[0], batched[i], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(prenet(x, seeds=seeds).numpy(), batched)
    different = prenet(x, seeds=seeds + 1).numpy()
    assert not np.array_equal(different == 0.0, batched == 0.0)


def test_prenet_seeded_inside_while_loop_matches_eager_steps():
    prenet = Prenet(units=[16, 8], dropout_rate=0.5, always_dropout=True)
    x = tf.constant(_normal([2, 5]))
    seeds = tf.constant([[3, 1], [4, 1]], tf.int32)
    prenet.build(x.shape)

    def step_seeds(step):
        return tf.stack([tf.random.experimental.stateless_fold_in(seeds[i], step) for i in range(2)])

    @tf.function
    def run():
        def body(step, total):
            return step + 1, total + prenet(x, seeds=step_seeds(step))
        return tf.while_loop(lambda step, total: step < 3, body, (tf.constant(0), tf.zeros([2, 8])))[1]

    expected = sum(prenet(x, seeds=step_seeds(tf.constant(s))).numpy() for s in range(3))
    np.testing.assert_allclose(run().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_prenet_rejects_bad_rate():
    with pytest.raises(ValueError):
        Prenet(units=[4], dropout_rate=1.0, always_dropout=False)


# ---------------------------------------------------------------- HighwayNet / Conv1DBatchNorm


@pytest.mark.parametrize("batch", [1, 3])
def test_highway_matches_numpy(batch):
    highway = HighwayNet(units=6, num_layers=2)
    x = _normal([batch, 4, 6])
    y = highway(tf.constant(x)).numpy()
    expected = x
    for h_layer, t_layer in zip(highway.h_layers, highway.t_layers):
        wh, bh = (w.numpy() for w in h_layer.weights)
        wt, bt = (w.numpy() for w in t_layer.weights)
        gate = _np_sigmoid(expected @ wt + bt)
        expected = _np_relu(expected @ wh + bh) * gate + expected * (1.0 - gate)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(highway.t_layers[0].weights[1].numpy(), -1.0)


def test_highway_zero_layers_is_identity_and_width_is_checked():
    x = _normal([2, 3, 4])
    np.testing.assert_array_equal(HighwayNet(units=4, num_layers=0)(tf.constant(x)).numpy(), x)
    with pytest.raises(ValueError):
        HighwayNet(units=5, num_layers=1)(tf.constant(x))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("activation", ["relu", None])
def test_conv1d_batch_norm_matches_numpy_at_inference(batch, activation):
    layer = Conv1DBatchNorm(filters=4, kernel_size=3, activation=activation, dropout_rate=0.5)
    x = _normal([batch, 6, 5])
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    gamma, beta, mean = (rng.standard_normal(4).astype(np.float32) for _ in range(3))
    variance = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    layer.batch_norm.set_weights([gamma, beta, mean, variance])
    y = layer(tf.constant(x), training=False).numpy()
    conv = _np_conv_same(x, layer.conv.kernel.numpy())
    expected = (conv - mean) / np.sqrt(variance + layer.batch_norm.epsilon) * gamma + beta
    if activation == "relu":
        expected = _np_relu(expected)
    assert y.shape == (batch, 6, 4)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_conv1d_activation_before_norm_is_the_courses_cbhg_conv():
    """The course's cbhg conv1d: conv with bias and ReLU, then batch norm."""
    layer = Conv1DBatchNorm(filters=4, kernel_size=3, activation="relu", dropout_rate=0.0,
                            activation_before_norm=True)
    x = _normal([2, 6, 5])
    layer.build(x.shape)
    rng = np.random.default_rng(2)
    gamma, beta, mean = (rng.standard_normal(4).astype(np.float32) for _ in range(3))
    variance = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    layer.batch_norm.set_weights([gamma, beta, mean, variance])
    bias = rng.standard_normal(4).astype(np.float32)
    layer.conv.bias.assign(bias)
    y = layer(tf.constant(x), training=False).numpy()
    activated = _np_relu(_np_conv_same(x, layer.conv.kernel.numpy()) + bias)
    expected = (activated - mean) / np.sqrt(variance + layer.batch_norm.epsilon) * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    assert (y < 0).any()  # batch norm after the ReLU: outputs may be negative
    cbhg = _small_cbhg()
    cbhg.build((2, 5, 9))
    assert all(conv.activation_before_norm and conv.conv.use_bias for conv in cbhg.bank + cbhg.projections)
    assert not cbhg.rnn.forward_layer.cell.reset_after  # the course's TF1 GRUCell


def test_conv1d_batch_norm_mask_zeroes_padding():
    layer = Conv1DBatchNorm(filters=4, kernel_size=3, activation="tanh", dropout_rate=0.0)
    x = _normal([2, 6, 5])
    mask = tf.sequence_mask([6, 3], 6)
    y = layer(tf.constant(x), mask=mask, training=True).numpy()
    assert np.all(y[1, 3:] == 0.0)
    assert np.all(np.abs(y[1, :3]).sum(axis=-1) > 0.0)
    # Training-time batch statistics use valid positions only: extra padding changes nothing.
    x_long = np.concatenate([x, np.full([2, 3, 5], 4.0, np.float32)], axis=1)
    y_long = layer(tf.constant(x_long), mask=tf.sequence_mask([6, 3], 9), training=True).numpy()
    np.testing.assert_allclose(y_long[:, :6], y, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- CBHG / PostNet


@pytest.mark.parametrize("batch", [1, 3])
def test_cbhg_shapes(batch):
    cbhg = _small_cbhg()
    y = cbhg(tf.constant(_normal([batch, 7, 9])), mask=tf.ones([batch, 7], tf.bool))
    assert y.shape == (batch, 7, 10)
    assert cbhg.residual_dense is not None and cbhg.highway_dense is not None


def test_cbhg_matching_widths_need_no_projection_dense():
    cbhg = CBHG(bank_size=2, bank_filters=3, projection_filters=[5, 6], projection_kernel_size=3,
                highway_units=6, highway_layers=1, gru_units=4)
    y = cbhg(tf.constant(_normal([2, 5, 6])))
    assert y.shape == (2, 5, 8)
    assert cbhg.residual_dense is None and cbhg.highway_dense is None


def _randomize_weights(layer, shape):
    """Builds `layer` for `shape` and gives every weight (biases, batch-norm statistics too) random values."""
    layer.build(shape)
    rng = np.random.default_rng(5)
    for weight in layer.weights:
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype(np.float32))
        else:
            weight.assign(0.5 * rng.standard_normal(weight.shape).astype(np.float32))


def test_cbhg_mask_keeps_padding_out_of_valid_positions():
    cbhg = _small_cbhg()
    _randomize_weights(cbhg, (2, 5, 9))
    lengths = [5, 3]
    x = _normal([2, 5, 9])
    x[1, 3:] = 7.0  # garbage in the padded region must not matter
    short = cbhg(tf.constant(x), mask=tf.sequence_mask(lengths, 5)).numpy()
    x_long = np.concatenate([x, np.full([2, 4, 9], -3.0, np.float32)], axis=1)
    long = cbhg(tf.constant(x_long), mask=tf.sequence_mask(lengths, 9)).numpy()
    for i, length in enumerate(lengths):
        np.testing.assert_allclose(long[i, :length], short[i, :length], rtol=1e-5, atol=1e-6)
        assert np.all(long[i, length:] == 0.0) and np.all(short[i, length:] == 0.0)
        alone = cbhg(tf.constant(x[i:i + 1, :length])).numpy()
        np.testing.assert_allclose(short[i, :length], alone[0], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(short[1, :3]).sum(axis=-1) > 0.0)


@pytest.mark.parametrize("batch", [1, 3])
def test_postnet_shape_and_mask(batch):
    postnet = PostNet(num_layers=3, filters=6, kernel_size=5, output_dim=4, dropout_rate=0.5)
    y = postnet(tf.constant(_normal([batch, 7, 4])), training=True)
    assert y.shape == (batch, 7, 4)
    mask = tf.sequence_mask([7] + [4] * (batch - 1), 7)
    y = postnet(tf.constant(_normal([batch, 7, 4])), mask=mask).numpy()
    assert np.all(y[1:, 4:] == 0.0)
    assert np.all(np.abs(y[:, :4]).sum(axis=-1) > 0.0)
    assert postnet.convs[0].activation_name == "tanh" and postnet.convs[-1].activation_name is None


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("bfloat16", 5e-2)])
def test_postnet_folded_call_is_inference_with_the_norms_folded(dtype, tolerance):
    """folded_call (synthesis' reduced-precision path) = call(training=False) with trained-looking batch-norm
    statistics, padding zero; bfloat16 within its precision and really rounded."""
    postnet = PostNet(num_layers=3, filters=16, kernel_size=5, output_dim=4, dropout_rate=0.5)
    x = tf.constant(np.random.default_rng(0).standard_normal([2, 9, 4]).astype(np.float32))
    mask = tf.sequence_mask([9, 6], 9)
    postnet(x, mask=mask)
    rng = np.random.default_rng(1)
    for conv in postnet.convs:
        norm = conv.batch_norm
        for weight, values in ((norm.moving_mean, rng.standard_normal(16) * 0.3),
                               (norm.moving_variance, rng.random(16) + 0.5),
                               (norm.gamma, rng.random(16) + 0.5), (norm.beta, rng.standard_normal(16) * 0.2)):
            weight.assign(values.astype(np.float32))
    expected = postnet(x, mask=mask, training=False).numpy()
    folded = postnet.folded_call(x, mask, dtype)
    assert folded.dtype == tf.float32
    np.testing.assert_allclose(folded.numpy(), expected, atol=tolerance * np.abs(expected).max())
    np.testing.assert_array_equal(folded.numpy()[1, 6:], 0.0)
    if dtype == "bfloat16":
        assert not np.allclose(folded.numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="activation_before_norm"):
        Conv1DBatchNorm(4, 3, "relu", 0.0, activation_before_norm=True).folded_call(x, None, dtype)


def test_gradient_step_through_cbhg_and_postnet():
    cbhg = _small_cbhg()
    postnet = PostNet(num_layers=2, filters=6, kernel_size=3, output_dim=10, dropout_rate=0.1)
    x = tf.constant(_normal([2, 6, 9]))
    target = tf.constant(_normal([2, 6, 10], seed=1))
    mask = tf.sequence_mask([6, 4], 6)
    with tf.GradientTape() as tape:
        memory = cbhg(x, mask=mask, training=True)
        output = memory + postnet(memory, mask=mask, training=True)
        loss = tf.reduce_mean(tf.square(output - target))
    variables = cbhg.trainable_variables + postnet.trainable_variables
    grads = tape.gradient(loss, variables)
    for variable, grad in zip(variables, grads):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(grad.numpy())), variable.path
        assert np.any(grad.numpy() != 0.0), variable.path
    before = [v.numpy().copy() for v in variables]
    keras.optimizers.SGD(learning_rate=0.1).apply_gradients(zip(grads, variables))
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


# ---------------------------------------------------------------- config round trip


@pytest.mark.parametrize("make,shape", [
    (lambda: Prenet(units=[8, 4], dropout_rate=0.5, always_dropout=False), [3, 5]),
    (lambda: HighwayNet(units=5, num_layers=2), [3, 4, 5]),
    (lambda: Conv1DBatchNorm(filters=4, kernel_size=3, activation="relu", dropout_rate=0.2), [3, 4, 5]),
    (lambda: Conv1DBatchNorm(filters=4, kernel_size=3, activation=None, dropout_rate=0.0), [3, 4, 5]),
    (_small_cbhg, [3, 4, 9]),
    (lambda: PostNet(num_layers=2, filters=6, kernel_size=3, output_dim=4, dropout_rate=0.5), [3, 4, 5]),
])
def test_get_config_round_trip(make, shape):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = tf.constant(_normal(shape))
    expected = layer(x, training=False).numpy()
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, training=False).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_mixed_precision_outputs_use_compute_dtype():
    policy = "mixed_float16"
    mask = tf.sequence_mask([4, 2], 4)
    prenet = Prenet(units=[8, 4], dropout_rate=0.5, always_dropout=True, dtype=policy)
    y = prenet(tf.constant(_normal([2, 5])), seeds=tf.constant([[1, 2], [3, 4]], tf.int32))
    cbhg = CBHG(bank_size=2, bank_filters=3, projection_filters=[4, 5], projection_kernel_size=3,
                highway_units=6, highway_layers=1, gru_units=3, dtype=policy)
    memory = cbhg(tf.constant(_normal([2, 4, 7])), mask=mask)
    postnet = PostNet(num_layers=2, filters=4, kernel_size=3, output_dim=6, dropout_rate=0.5, dtype=policy)
    residual = postnet(memory, mask=mask, training=True)
    for tensor in (y, memory, residual):
        assert tensor.dtype == tf.float16
        assert np.all(np.isfinite(tensor.numpy()))
    assert cbhg.rnn.forward_layer.compute_dtype == "float16"
    assert cbhg.bank[0].batch_norm.compute_dtype == "float16"


def test_prenet_step_noise_is_per_sequence_and_prefix_stable():
    prenet = Prenet(units=[16, 8], dropout_rate=0.5, always_dropout=True)
    seeds = tf.constant([11, 7, 0], tf.int32)
    noise = prenet.step_noise(seeds, 5).numpy()
    assert noise.shape == (3, 5, 24) and noise.dtype == np.float32
    assert 0.0 <= noise.min() and noise.max() < 1.0 and 0.4 < noise.mean() < 0.6
    for i in range(3):  # a row depends on its own seed only, and a longer draw extends a shorter one
        np.testing.assert_array_equal(prenet.step_noise(seeds[i:i + 1], 3).numpy()[0], noise[i, :3])
    assert not np.array_equal(noise[0], noise[1])
    assert not np.array_equal(noise[0, 0], noise[0, 1])  # each step its own values


def test_prenet_dropout_from_step_noise():
    prenet = Prenet(units=[64, 32], dropout_rate=0.5, always_dropout=True)
    x = _normal([3, 5])
    noise = prenet.step_noise(tf.constant([1, 2, 3]), 2)[:, 1]
    y = prenet(tf.constant(x), training=False, noise=noise).numpy()
    # by hand: each layer's dense + ReLU, then keep where that layer's slice of the noise is >= 0.5, times 2
    h = x
    for dense, layer_noise in zip(prenet.dense_layers, np.split(noise.numpy(), [64], axis=-1)):
        h = np.maximum(h @ dense.kernel.numpy() + dense.bias.numpy(), 0.0)
        h = np.where(layer_noise >= 0.5, 2.0 * h, 0.0)
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-6)
    off = Prenet(units=[64, 32], dropout_rate=0.5, always_dropout=False)
    off(tf.constant(x))
    np.testing.assert_array_equal(off(tf.constant(x), training=False, noise=noise).numpy(),
                                  off(tf.constant(x), training=False).numpy())
