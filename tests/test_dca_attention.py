"""Dynamic Convolution Attention: prior, windows, masking, contract, config round trip."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from modules import dca_attention


def test_beta_binomial_prior_matches_the_formula():
    prior = dca_attention.beta_binomial_prior(11, 0.1, 0.9)
    n, a, b = 10, 0.1, 0.9
    beta = lambda x, y: math.gamma(x) * math.gamma(y) / math.gamma(x + y)  # noqa: E731
    expected = [math.comb(n, k) * beta(k + a, n - k + b) / beta(a, b) for k in range(n + 1)]
    np.testing.assert_allclose(prior, expected, rtol=1e-5)
    assert prior.sum() == pytest.approx(1.0, abs=1e-6)
    assert prior[0] > prior[1] > prior[2], "mass concentrated on small forward shifts"


def test_patches_centered_and_causal():
    previous = tf.constant([[1.0, 2.0, 3.0, 4.0]])
    centered = dca_attention.alignment_patches(previous, 3, causal=False).numpy()[0]
    np.testing.assert_array_equal(centered, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0]])
    causal = dca_attention.alignment_patches(previous, 3, causal=True).numpy()[0]
    np.testing.assert_array_equal(causal, [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]])


def test_prior_moves_mass_forward():
    previous = tf.one_hot([[2]], 8)[:, 0]
    prior = np.array([0.5, 0.3, 0.2], np.float32)
    log_p = dca_attention.prior_log_probabilities(previous, prior, 1e-6).numpy()[0]
    np.testing.assert_allclose(np.exp(log_p), [1e-6, 1e-6, 0.5, 0.3, 0.2, 1e-6, 1e-6, 1e-6], rtol=1e-5)


def make_layer():
    return dca_attention.DynamicConvolutionAttention(
        units=16, static_filters=4, static_kernel_size=5, dynamic_filters=4, dynamic_kernel_size=5,
        prior_alpha=0.1, prior_beta=0.9, prior_length=11, prior_floor=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_contract_and_masking(batch_size):
    keras.utils.set_random_seed(0)
    layer = make_layer()
    rng = np.random.default_rng(0)
    memory = tf.constant(rng.normal(size=(batch_size, 9, 6)), tf.float32)
    lengths = tf.constant([9, 5, 2][:batch_size])
    query = tf.constant(rng.normal(size=(batch_size, 7)), tf.float32)
    state = layer.initial_state(batch_size, 9, tf.float32)
    np.testing.assert_array_equal(state.numpy()[:, 0], 1.0)
    processed = layer.prepare_memory(memory, lengths)
    for _ in range(3):
        context, alignments, state = layer(query, state, memory, processed, lengths)
        a = alignments.numpy()
        for b, n in enumerate(lengths.numpy()):
            assert np.all(a[b, n:] == 0.0)
            assert a[b].sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(context.numpy(), np.einsum("bt,btd->bd", a, memory.numpy()), atol=1e-5)
        np.testing.assert_array_equal(state.numpy(), a)


def test_works_in_tf_function_with_unknown_shapes():
    layer = make_layer()

    @tf.function(input_signature=[tf.TensorSpec([None, 7]), tf.TensorSpec([None, None, 6]),
                                  tf.TensorSpec([None], tf.int32)])
    def run(query, memory, lengths):
        state = layer.initial_state(tf.shape(query)[0], tf.shape(memory)[1], tf.float32)

        def body(step, state):
            _, alignments, state = layer(query, state, memory, memory, lengths)
            return step + 1, state

        return tf.while_loop(lambda step, _: step < 4, body, (0, state))[1]

    out = run(tf.ones([2, 7]), tf.ones([2, 5, 6]), tf.constant([5, 3]))
    assert out.shape == (2, 5)


def test_config_round_trip():
    layer = make_layer()
    again = dca_attention.DynamicConvolutionAttention.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
