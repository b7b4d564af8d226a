"""Dynamic Convolution Attention (Battenberg et al. 2019, section 2.2): purely location-based attention whose
energies come from static and query-dependent (dynamic) filters over the previous alignment, plus a causal
beta-binomial prior added in log space. Same call contract as the layers in modules/attention.py.
"""
import math

import keras
import numpy as np
import tensorflow as tf

from modules.attention import attention_context
from modules.attention import masked_softmax


def beta_binomial_prior(length, alpha, beta):
    """The beta-binomial pmf over shifts k = 0 .. length-1 (n = length - 1): [length] float32 NumPy."""
    n = length - 1

    def log_beta(a, b):
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    log_pmf = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
               + log_beta(k + alpha, n - k + beta) - log_beta(alpha, beta) for k in range(n + 1)]
    return np.exp(np.asarray(log_pmf, np.float64)).astype(np.float32)


def alignment_patches(previous, kernel_size, causal):
    """Windows of the previous alignment around (or, if causal, ending at) each encoder position.

    Args:
        previous: [B, T_in] previous alignments.
    Returns:
        [B, T_in, kernel_size]; patch[b, j, k] = previous[b, j - kernel_size + 1 + k] if causal,
        else previous[b, j - kernel_size // 2 + k] (zero outside the sequence).
    """
    if causal:
        padding = [[0, 0], [kernel_size - 1, 0]]
    else:
        padding = [[0, 0], [kernel_size // 2, kernel_size - 1 - kernel_size // 2]]
    return tf.signal.frame(tf.pad(previous, padding), kernel_size, 1, axis=-1)


def prior_log_probabilities(previous, prior, floor):
    """log(max(causal prior filter over the previous alignment, floor)).

    Args:
        previous: [B, T_in]; prior: [L] pmf over forward shifts 0..L-1.
    Returns:
        [B, T_in]: log sum_k prior[k] * previous[j - k].
    """
    patches = alignment_patches(previous, int(prior.shape[0]), causal=True)
    filtered = tf.einsum("btk,k->bt", patches, tf.reverse(tf.constant(prior), [0]))
    return tf.math.log(tf.maximum(filtered, floor))


@keras.saving.register_keras_serializable(package="tacotron")
class DynamicConvolutionAttention(keras.layers.Layer):
    """DCA: e_j = v^T tanh(U f_j + T g_j + b) + log p_j, alignments = masked softmax(e).

    f: static filters over the previous alignment; g: filters predicted from the query by an MLP
    (Dense(units, tanh) -> Dense(dynamic_filters * dynamic_kernel_size)); p: beta-binomial prior.
    The state is the previous alignment [B, T_in], initially all mass on the first encoder step.

    Args:
        units: hidden size of the energy MLP (attention_dim).
        static_filters, static_kernel_size: static convolution (paper: 8 filters of length 21).
        dynamic_filters, dynamic_kernel_size: dynamic convolution (paper: 8 of length 21).
        prior_alpha, prior_beta, prior_length: beta-binomial prior (paper: 0.1, 0.9, 11).
        prior_floor: the prior is floored at this before its log.
    """

    def __init__(self, units, static_filters, static_kernel_size, dynamic_filters, dynamic_kernel_size,
                 prior_alpha, prior_beta, prior_length, prior_floor, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.units = units
        self.static_filters = static_filters
        self.static_kernel_size = static_kernel_size
        self.dynamic_filters = dynamic_filters
        self.dynamic_kernel_size = dynamic_kernel_size
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self.prior_length = prior_length
        self.prior_floor = prior_floor
        self.prior = beta_binomial_prior(prior_length, prior_alpha, prior_beta)
        self.filter_hidden = keras.layers.Dense(units, activation="tanh", name="filter_hidden", dtype="float32")
        self.filter_output = keras.layers.Dense(dynamic_filters * dynamic_kernel_size, use_bias=False,
                                                name="filter_output", dtype="float32")
        self.static_projection = keras.layers.Dense(units, use_bias=False, name="static_projection",
                                                    dtype="float32")
        self.dynamic_projection = keras.layers.Dense(units, name="dynamic_projection", dtype="float32")
        self.energy = keras.layers.Dense(1, use_bias=False, name="energy", dtype="float32")

    @classmethod
    def from_attention_config(cls, config, **kwargs):
        """Built from an attention_factory.AttentionConfig (attention_dim and the dca_* fields)."""
        return cls(units=config.attention_dim, static_filters=config.dca_filters,
                   static_kernel_size=config.dca_kernel_size, dynamic_filters=config.dca_filters,
                   dynamic_kernel_size=config.dca_kernel_size, prior_alpha=config.dca_prior_alpha,
                   prior_beta=config.dca_prior_beta, prior_length=config.dca_prior_length,
                   prior_floor=config.dca_prior_floor, **kwargs)

    def build(self, query_shape):
        self.static_kernel = self.add_weight(name="static_kernel", dtype="float32",
                                             shape=(self.static_kernel_size, self.static_filters),
                                             initializer="glorot_uniform")
        self.filter_hidden.build(query_shape)
        self.filter_output.build((None, self.units))
        self.static_projection.build((None, None, self.static_filters))
        self.dynamic_projection.build((None, None, self.dynamic_filters))
        self.energy.build((None, None, self.units))
        self.built = True

    def prepare_memory(self, memory, memory_lengths):
        """DCA does not look at the memory content; nothing to precompute."""
        del memory_lengths
        return memory

    def initial_state(self, batch_size, max_time, dtype):
        """All mass on the first encoder step: [B, T_in] float32 (dtype is ignored)."""
        del dtype
        return tf.one_hot(tf.zeros([batch_size], tf.int32), max_time, dtype=tf.float32)

    def call(self, query, state, memory, processed_memory, memory_lengths, training=False, allowed=None):
        """Args:
            query: [B, D_q]; state: previous alignments [B, T_in]; memory: [B, T_in, D_mem];
            memory_lengths: [B] int32.
        Returns:
            (context [B, D_mem], alignments [B, T_in] float32, next_state = alignments)
        """
        del processed_memory, training
        previous = tf.cast(state, tf.float32)
        query = tf.cast(query, tf.float32)
        batch_size = tf.shape(query)[0]
        # 1. Static filters over the previous alignment.
        static = tf.einsum("btk,kf->btf", alignment_patches(previous, self.static_kernel_size, False),
                           self.static_kernel)
        # 2. Dynamic filters predicted from the query, one set per example.
        kernels = tf.reshape(self.filter_output(self.filter_hidden(query)),
                             [batch_size, self.dynamic_kernel_size, self.dynamic_filters])
        dynamic = tf.einsum("btk,bkf->btf", alignment_patches(previous, self.dynamic_kernel_size, False),
                            kernels)
        # 3. Energies plus the log prior, masked softmax over valid encoder steps.
        hidden = tf.tanh(self.static_projection(static) + self.dynamic_projection(dynamic))
        energy = tf.squeeze(self.energy(hidden), -1)
        energy = energy + prior_log_probabilities(previous, self.prior, self.prior_floor)
        alignments = masked_softmax(energy, memory_lengths, allowed)
        return attention_context(alignments, memory, self.compute_dtype), alignments, alignments

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        config.update(units=self.units, static_filters=self.static_filters,
                      static_kernel_size=self.static_kernel_size, dynamic_filters=self.dynamic_filters,
                      dynamic_kernel_size=self.dynamic_kernel_size, prior_alpha=self.prior_alpha,
                      prior_beta=self.prior_beta, prior_length=self.prior_length, prior_floor=self.prior_floor)
        return config
