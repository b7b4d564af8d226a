"""Attention layers (Bahdanau, location-sensitive, GMM) and the GMM math of Battenberg et al. 2019, Table 1."""
import itertools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from modules import attention
from modules.attention import BahdanauAttention
from modules.attention import GMMAttentionComputer
from modules.attention import LocationSensitiveAttention
from modules.attention import gmm_alignments

VERSIONS = ("v0", "v1", "v2", "v2b")
# The documented epsilon added to softplus(sigma_hat) in V2 / V2b (checked against the module below).
REFERENCE_SIGMA_EPSILON = 1e-5
KINDS = ("bahdanau", "location_sensitive", "gmm")
QUERY_DIM, MEMORY_DIM, MAX_TIME = 7, 6, 9


def reference_gmm(w_hat, delta_hat, sigma_hat, prev_mu, lengths, max_time, version):
    """Table 1 in float64 with plain loops. Inputs [B, K] arrays; returns (alignments [B, max_time], mu [B, K])."""
    w_hat, delta_hat, sigma_hat, prev_mu = (np.asarray(x, np.float64) for x in (w_hat, delta_hat, sigma_hat,
                                                                                 prev_mu))
    if version == "v0":
        w, delta = np.exp(w_hat), np.exp(delta_hat)
        sigma = np.sqrt(np.exp(-sigma_hat) / 2.0)
        z = np.ones_like(sigma)
    else:
        w = np.exp(w_hat) / np.exp(w_hat).sum(axis=1, keepdims=True)
        if version == "v1":
            delta, sigma = np.exp(delta_hat), np.sqrt(np.exp(sigma_hat))
        else:
            delta = np.logaddexp(0.0, delta_hat)  # softplus
            sigma = np.logaddexp(0.0, sigma_hat) + REFERENCE_SIGMA_EPSILON
        z = np.sqrt(2.0 * np.pi * sigma ** 2)
    mu = prev_mu + delta
    alignments = np.zeros([w.shape[0], max_time])
    for b in range(w.shape[0]):
        for j in range(lengths[b]):
            for k in range(w.shape[1]):
                alignments[b, j] += w[b, k] / z[b, k] * math.exp(-(j - mu[b, k]) ** 2 / (2.0 * sigma[b, k] ** 2))
    return alignments, mu


def random_raw(rng, shape, scale):
    return [rng.normal(0.0, scale, shape).astype(np.float32) for _ in range(3)]


@pytest.mark.parametrize("version", VERSIONS)
def test_gmm_alignments_match_numpy_table_1(version):
    assert attention.SIGMA_EPSILON == REFERENCE_SIGMA_EPSILON
    rng = np.random.default_rng(0)
    lengths = np.array([12, 7, 3, 1], np.int32)
    w_hat, delta_hat, sigma_hat = random_raw(rng, [4, 3], scale=1.5)
    prev_mu = rng.uniform(0.0, 8.0, [4, 3]).astype(np.float32)
    alignments, mu = gmm_alignments(w_hat, delta_hat, sigma_hat, prev_mu, lengths, 12, version)
    expected_alignments, expected_mu = reference_gmm(w_hat, delta_hat, sigma_hat, prev_mu, lengths, 12, version)
    assert alignments.dtype == tf.float32 and mu.dtype == tf.float32
    assert alignments.shape == (4, 12) and mu.shape == (4, 3)
    np.testing.assert_allclose(mu.numpy(), expected_mu, rtol=1e-5)
    np.testing.assert_allclose(alignments.numpy(), expected_alignments, rtol=1e-5, atol=1e-7)
    for b, length in enumerate(lengths):
        assert np.all(alignments.numpy()[b, length:] == 0.0)
    assert alignments.numpy()[0].max() > 1e-3  # the comparison is not between two near-zero arrays
    # Not renormalised: the sums over encoder steps are whatever the mixture gives.
    assert np.max(np.abs(alignments.numpy().sum(axis=1) - 1.0)) > 1e-3


def test_gmm_alignments_accept_tensor_max_time_and_reject_unknown_version():
    w_hat = delta_hat = sigma_hat = prev_mu = tf.zeros([2, 3])
    alignments, _ = gmm_alignments(w_hat, delta_hat, sigma_hat, prev_mu, tf.constant([5, 2]), tf.constant(5),
                                   "v2")
    assert alignments.shape == (2, 5)
    with pytest.raises(ValueError, match="v3"):
        gmm_alignments(w_hat, delta_hat, sigma_hat, prev_mu, [5, 2], 5, "v3")


@pytest.mark.parametrize("version", VERSIONS)
def test_mixture_means_strictly_increase(version):
    rng = np.random.default_rng(1)
    mu = np.zeros([3, 4], np.float32)
    for _ in range(6):
        w_hat, delta_hat, sigma_hat = (rng.uniform(-3.0, 3.0, [3, 4]).astype(np.float32) for _ in range(3))
        _, next_mu = gmm_alignments(w_hat, delta_hat, sigma_hat, mu, [10, 10, 10], 10, version)
        assert np.all(next_mu.numpy() > mu)
        mu = next_mu.numpy()


def extreme_raw_values(magnitude):
    """Every sign combination of +-magnitude for (w_hat, delta_hat, sigma_hat), plus a mixed pattern."""
    for signs in itertools.product((-magnitude, magnitude), repeat=3):
        yield [np.full([2, 3], sign, np.float32) for sign in signs]
    mixed = magnitude * np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 1.0]], np.float32)
    yield [mixed, -mixed, mixed[::-1].copy()]


# 30 is the required range; 60 also holds (there (j - mu) / sigma itself overflows without the clip on z).
@pytest.mark.parametrize("magnitude", (30.0, 60.0))
@pytest.mark.parametrize("version", VERSIONS)
def test_extreme_raw_values_give_finite_alignments_and_gradients(version, magnitude):
    # prev_mu = 3 puts a mean exactly on an encoder step when Delta underflows (the sharpest case).
    prev_mu = tf.constant([[3.0, 3.0, 3.0], [0.5, 7.0, 1e3]])
    weights = tf.constant(np.random.default_rng(2).normal(size=[2, 8]), tf.float32)
    for raw in extreme_raw_values(magnitude):
        raw = [tf.constant(x) for x in raw]
        with tf.GradientTape() as tape:
            tape.watch(raw)
            alignments, mu = gmm_alignments(*raw, prev_mu, [8, 5], 8, version)
            loss = tf.reduce_sum(alignments * weights) + tf.reduce_sum(mu)
        gradients = tape.gradient(loss, raw)
        assert np.all(np.isfinite(alignments.numpy())) and np.all(np.isfinite(mu.numpy()))
        for gradient in gradients:
            assert np.all(np.isfinite(gradient.numpy())), (version, [x.numpy()[0, 0] for x in raw])


def test_v2b_initial_delta_is_one_and_sigma_ten():
    # Kernels are Keras' zero-mean glorot_uniform; with a query in [-0.1, 0.1] the MLP output stays close to
    # its bias, which V2b sets to softplus^-1(1) for delta and softplus^-1(10) for sigma.
    keras.utils.set_random_seed(3)
    layer = GMMAttentionComputer(num_mixtures=5, hidden_units=32, version="v2b")
    query = tf.constant(np.random.default_rng(3).uniform(-0.1, 0.1, [4, 16]), tf.float32)
    parameters = layer.mixture_parameters(query)
    assert parameters["delta"].shape == (4, 5)
    np.testing.assert_allclose(parameters["delta"].numpy(), 1.0, atol=0.1)
    np.testing.assert_allclose(parameters["sigma"].numpy(), 10.0, atol=1.0)
    np.testing.assert_allclose(parameters["w"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    bias = layer.parameter_layer.bias.numpy()
    np.testing.assert_allclose(bias, [0.0] * 5 + [math.log(math.e - 1.0)] * 5 + [math.log(math.exp(10) - 1.0)] * 5,
                               rtol=1e-6)


def test_other_versions_start_from_zero_bias():
    layer = GMMAttentionComputer(num_mixtures=2, hidden_units=4, version="v1")
    layer.mixture_parameters(tf.zeros([1, 3]))
    assert np.all(layer.parameter_layer.bias.numpy() == 0.0)


def make_layer(kind, dtype=None):
    if kind == "bahdanau":
        return BahdanauAttention(units=8, dtype=dtype)
    if kind == "location_sensitive":
        return LocationSensitiveAttention(units=8, location_filters=4, location_kernel_size=5, dtype=dtype)
    return GMMAttentionComputer(num_mixtures=3, hidden_units=8, version="v2b", dtype=dtype)


def make_inputs(batch_size, steps, seed):
    rng = np.random.default_rng(seed)
    queries = tf.constant(rng.normal(size=[steps, batch_size, QUERY_DIM]), tf.float32)
    memory = tf.constant(rng.normal(size=[batch_size, MAX_TIME, MEMORY_DIM]), tf.float32)
    lengths = tf.constant([MAX_TIME, 5, 2][:batch_size], tf.int32)
    return queries, memory, lengths


def run_eagerly(layer, queries, memory, lengths):
    """Returns per step lists of (context, alignments, state), with state the one returned by that step."""
    processed = layer.prepare_memory(memory, lengths)
    state = layer.initial_state(memory.shape[0], memory.shape[1], tf.float32)
    outputs = []
    for query in queries:
        context, alignments, state = layer(query, state, memory, processed, lengths)
        outputs.append((context.numpy(), alignments.numpy(), state.numpy()))
    return outputs


def numpy_reference_alignments(layer, kind, query, state, memory, lengths):
    """The layer's alignments for one step, recomputed from its weights with NumPy."""
    query, state, memory = (np.asarray(x, np.float64) for x in (query, state, memory))
    valid = np.arange(memory.shape[1])[None, :] < np.asarray(lengths)[:, None]
    if kind == "gmm":
        hidden = np.maximum(query @ layer.hidden_layer.kernel.numpy() + layer.hidden_layer.bias.numpy(), 0.0)
        raw = hidden @ layer.parameter_layer.kernel.numpy() + layer.parameter_layer.bias.numpy()
        k = layer.num_mixtures
        return reference_gmm(raw[:, :k], raw[:, k:2 * k], raw[:, 2 * k:], state, lengths, memory.shape[1],
                             layer.version)[0]
    hidden = (memory @ layer.memory_layer.kernel.numpy())
    hidden = hidden + (query @ layer.query_layer.kernel.numpy())[:, None, :]
    if kind == "location_sensitive":
        kernel = layer.location_conv.kernel.numpy()  # [width, 1, filters]
        width = kernel.shape[0]
        padded = np.pad(state, [(0, 0), ((width - 1) // 2, width - 1 - (width - 1) // 2)])
        features = np.stack([padded[:, t:t + width] @ kernel[:, 0, :] for t in range(state.shape[1])], axis=1)
        hidden = hidden + features @ layer.location_layer.kernel.numpy() + layer.score_bias.numpy()
    energy = np.tanh(hidden) @ layer.score_v.numpy()
    energy = np.where(valid, energy, -np.inf)
    weights = np.exp(energy - energy.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_size", (1, 3))
def test_layer_steps_shapes_padding_context_and_numpy(kind, batch_size):
    keras.utils.set_random_seed(4)
    layer = make_layer(kind)
    if kind == "location_sensitive":  # make the zero-initialised bias count in the NumPy comparison
        layer.build((None, QUERY_DIM))
        layer.score_bias.assign(np.random.default_rng(4).normal(size=[8]).astype(np.float32))
    queries, memory, lengths = make_inputs(batch_size, steps=3, seed=5)
    outputs = run_eagerly(layer, queries, memory, lengths)
    state = layer.initial_state(batch_size, MAX_TIME, tf.float32).numpy()
    for query, (context, alignments, next_state) in zip(queries, outputs):
        assert context.shape == (batch_size, MEMORY_DIM) and alignments.shape == (batch_size, MAX_TIME)
        for b, length in enumerate(lengths.numpy()):
            assert np.all(alignments[b, length:] == 0.0) and np.all(alignments[b, :length] > 0.0)
        np.testing.assert_allclose(context, np.einsum("bt,btd->bd", alignments, memory.numpy()),
                                   rtol=1e-5, atol=1e-6)
        expected = numpy_reference_alignments(layer, kind, query, state, memory, lengths.numpy())
        np.testing.assert_allclose(alignments, expected, rtol=1e-4, atol=1e-6)
        if kind == "bahdanau":
            np.testing.assert_array_equal(next_state, alignments)
        elif kind == "location_sensitive":
            np.testing.assert_allclose(next_state, state + alignments, rtol=1e-6)
        else:
            assert next_state.shape == (batch_size, 3) and np.all(next_state > state)
        if kind != "gmm":
            np.testing.assert_allclose(alignments.sum(axis=1), 1.0, rtol=1e-5)
        state = next_state


@pytest.mark.parametrize("kind", KINDS)
def test_layer_in_while_loop_under_tf_function_with_unknown_batch_and_time(kind):
    keras.utils.set_random_seed(6)
    layer = make_layer(kind)  # first called (and built) inside the loop
    traces = []

    @tf.function(input_signature=[tf.TensorSpec([None, None, QUERY_DIM], tf.float32),
                                  tf.TensorSpec([None, None, MEMORY_DIM], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def decode(queries, memory, lengths):
        traces.append(1)
        processed = layer.prepare_memory(memory, lengths)
        batch_size, max_time = tf.shape(memory)[0], tf.shape(memory)[1]
        history = tf.TensorArray(tf.float32, size=tf.shape(queries)[0])

        def body(step, context, state, history):
            context, alignments, state = layer(queries[step], state, memory, processed, lengths)
            return step + 1, context, state, history.write(step, alignments)

        _, context, state, history = tf.while_loop(
            lambda step, *_: step < tf.shape(queries)[0], body,
            [tf.constant(0), tf.zeros([batch_size, MEMORY_DIM]), layer.initial_state(batch_size, max_time,
                                                                                        tf.float32), history])
        return context, history.stack(), state

    traces_per_batch_size = []
    for batch_size in (1, 3):
        queries, memory, lengths = make_inputs(batch_size, steps=3, seed=7 + batch_size)
        context, history, state = decode(queries, memory, lengths)
        traces_per_batch_size.append(len(traces))
        eager = run_eagerly(layer, queries, memory, lengths)
        np.testing.assert_allclose(context.numpy(), eager[-1][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(history.numpy(), np.stack([step[1] for step in eager]), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(state.numpy(), eager[-1][2], rtol=1e-5, atol=1e-6)
    # No retrace for the second batch size (the first call traces twice, as it creates the variables).
    assert traces_per_batch_size[0] == traces_per_batch_size[1]


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_precision_keeps_float32_alignments_and_state(kind):
    keras.utils.set_random_seed(8)
    queries, memory, lengths = make_inputs(3, steps=2, seed=9)

    def run(layer, state_dtype):
        memory_in = tf.cast(memory, layer.compute_dtype)
        processed = layer.prepare_memory(memory_in, lengths)
        state = layer.initial_state(3, MAX_TIME, state_dtype)
        for query in queries:
            context, alignments, state = layer(tf.cast(query, layer.compute_dtype), state, memory_in, processed,
                                               lengths)
            assert state.dtype == (tf.float32 if kind == "gmm" else state_dtype)
            assert context.dtype == layer.compute_dtype and alignments.dtype == tf.float32
        return context.numpy().astype(np.float32), alignments.numpy()

    mixed, full = make_layer(kind, dtype="mixed_float16"), make_layer(kind)
    run(mixed, tf.float16)
    run(full, tf.float32)
    full.set_weights(mixed.get_weights())
    assert mixed.compute_dtype == "float16"
    mixed_context, mixed_alignments = run(mixed, tf.float16)
    full_context, full_alignments = run(full, tf.float32)
    np.testing.assert_allclose(mixed_alignments, full_alignments, atol=1e-2)
    np.testing.assert_allclose(mixed_context, full_context, atol=3e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_get_config_round_trip(kind):
    layer = make_layer(kind)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_unknown_gmm_version_is_rejected():
    with pytest.raises(ValueError, match="v9"):
        GMMAttentionComputer(num_mixtures=2, hidden_units=4, version="v9")
