"""Attention mechanisms of the Tacotron decoder: content-based (Bahdanau), location-sensitive (Tacotron 2) and
GMM (Battenberg et al. 2019), as Keras layers with one call contract, so the decoder uses them interchangeably:

    processed_memory = layer.prepare_memory(memory, memory_lengths)      # once per batch, outside the loop
    state = layer.initial_state(batch_size, max_time, dtype)
    context, alignments, state = layer(query, state, memory, processed_memory, memory_lengths)   # per step

Shapes (documented once here):
    memory: [B, T_in, D_mem] float, the encoder outputs.
    memory_lengths: [B] int32, valid encoder steps per utterance (>= 1).
    processed_memory: [B, T_in, units] keys for Bahdanau / location-sensitive; `memory` itself for GMM.
    query: [B, D_q] float, the attention RNN output of the current decoder step.
    allowed: optional [B, T_in] bool (softmax mechanisms only): an attention window at inference.
    state: Bahdanau [B, T_in] previous alignments; location-sensitive [B, T_in] cumulative alignments
        (both in the `dtype` given to initial_state); GMM [B, K] float32 previous mixture means.
    context: [B, D_mem] in the layer's compute dtype.
    alignments: [B, T_in] float32, exactly zero at padding (j >= memory_lengths[b]).

Dtypes: the layers do not autocast their inputs (the float32 GMM state must not be cast to float16 under mixed
precision); projections run in the layer's compute dtype, softmax and GMM math in float32.
Variables are created by build(query_shape) (automatically on the first call, also inside tf.while_loop)
and, for the memory projection, by prepare_memory.

GMM math (Battenberg et al. 2019, Table 1). Raw MLP outputs w_hat, delta_hat, sigma_hat become
    V0 (Graves 2013): Z = 1,                  w = exp(w_hat),     Delta = exp(delta_hat),
                      sigma = sqrt(exp(-sigma_hat) / 2)
    V1:               Z = sqrt(2 pi sigma^2), w = softmax(w_hat), Delta = exp(delta_hat),
                      sigma = sqrt(exp(sigma_hat))
    V2, V2b:          Z = sqrt(2 pi sigma^2), w = softmax(w_hat), Delta = softplus(delta_hat),
                      sigma = softplus(sigma_hat) + eps
with eps = SIGMA_EPSILON, and, with mu = prev_mu + Delta,
    alpha[b, j] = sum_k w_k / Z_k * exp(-(j - mu_k)^2 / (2 sigma_k^2))   for j < memory_lengths[b], else 0,
not renormalised. Numerics: computed in log space, log w - log Z - z^2 with z = (j - mu) / (sqrt(2) sigma), so
no square root is taken and exp() cannot overflow for |raw| <= 30. z is clipped to +-MAX_ABS_Z before squaring:
beyond that the term is exp(-10^4), exactly 0 in float32, so clipping changes no value, and it turns the NaN
gradient of an overflowing z (e.g. V1 with raw values of +-60) into the true, zero, gradient.
"""
import math

import keras
import tensorflow as tf

from modules.attention_names import GMM_VERSIONS

VERSIONS = GMM_VERSIONS
# Added to softplus(sigma_hat) in V2 / V2b so that sigma stays > 0 when softplus underflows.
SIGMA_EPSILON = 1e-5
# |z| bound; exp(-MAX_ABS_Z^2) is 0 in float32 even after multiplying by the largest possible w / Z.
MAX_ABS_Z = 100.0

_HALF_LOG_TWO = 0.5 * math.log(2.0)
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def check_version(version):
    """Raises ValueError unless `version` is one of VERSIONS."""
    if version not in VERSIONS:
        raise ValueError(f"unknown GMM attention version {version!r}; choose one of {', '.join(VERSIONS)}")


def _as_float32(*values):
    return [tf.cast(tf.convert_to_tensor(value), tf.float32) for value in values]


def _log_space_parameters(w_hat, delta_hat, sigma_hat, version):
    """Returns (log_w, delta, log_z, inv_scale), each [B, K], where inv_scale = 1 / (sqrt(2) sigma)."""
    check_version(version)
    if version == "v0":
        log_w = w_hat
        delta = tf.exp(delta_hat)
        log_z = tf.zeros_like(sigma_hat)
        # 2 sigma^2 = exp(-sigma_hat), so 1 / (sqrt(2) sigma) = exp(sigma_hat / 2).
        inv_scale = tf.exp(0.5 * sigma_hat)
    elif version == "v1":
        log_w = tf.nn.log_softmax(w_hat, axis=-1)
        delta = tf.exp(delta_hat)
        log_sigma = 0.5 * sigma_hat
        log_z = _HALF_LOG_TWO_PI + log_sigma
        inv_scale = tf.exp(-log_sigma - _HALF_LOG_TWO)
    else:  # v2, v2b
        log_w = tf.nn.log_softmax(w_hat, axis=-1)
        delta = tf.nn.softplus(delta_hat)
        sigma = tf.nn.softplus(sigma_hat) + SIGMA_EPSILON
        log_z = _HALF_LOG_TWO_PI + tf.math.log(sigma)
        inv_scale = 1.0 / (math.sqrt(2.0) * sigma)
    return log_w, delta, log_z, inv_scale


def mixture_parameters(w_hat, delta_hat, sigma_hat, version):
    """The version's transform of the raw MLP outputs, for inspection.

    Args:
        w_hat, delta_hat, sigma_hat: [B, K] raw mixture parameters (tensors or arrays).
        version: one of VERSIONS.
    Returns:
        dict with "w", "delta", "sigma", each [B, K] float32 (sigma is the standard deviation).
    """
    w_hat, delta_hat, sigma_hat = _as_float32(w_hat, delta_hat, sigma_hat)
    log_w, delta, _, inv_scale = _log_space_parameters(w_hat, delta_hat, sigma_hat, version)
    return {"w": tf.exp(log_w), "delta": delta, "sigma": 1.0 / (math.sqrt(2.0) * inv_scale)}


def gmm_alignments(w_hat, delta_hat, sigma_hat, prev_mu, memory_lengths, max_time, version):
    """One step of GMM attention.

    Args:
        w_hat, delta_hat, sigma_hat: [B, K] raw mixture parameters (any float dtype, tensors or arrays).
        prev_mu: [B, K] mixture means of the previous decoder step (zeros at the first step).
        memory_lengths: [B] int, valid encoder steps per utterance (>= 0).
        max_time: scalar int (python or tensor), T_in, the padded encoder length.
        version: one of VERSIONS ("v2b" uses V2's math; it differs only in the MLP's bias initialisation).
    Returns:
        (alignments [B, max_time] float32, zero at j >= memory_lengths[b] and not renormalised,
         mu [B, K] float32, the new mixture means).
    """
    w_hat, delta_hat, sigma_hat, prev_mu = _as_float32(w_hat, delta_hat, sigma_hat, prev_mu)
    log_w, delta, log_z, inv_scale = _log_space_parameters(w_hat, delta_hat, sigma_hat, version)
    mu = prev_mu + delta

    positions = tf.cast(tf.range(max_time), tf.float32)                      # [T]
    z = (positions[None, :, None] - mu[:, None, :]) * inv_scale[:, None, :]  # [B, T, K]
    z = tf.clip_by_value(z, -MAX_ABS_Z, MAX_ABS_Z)
    log_terms = (log_w - log_z)[:, None, :] - tf.square(z)                   # [B, T, K]
    alignments = tf.reduce_sum(tf.exp(log_terms), axis=-1)                   # [B, T]

    mask = tf.sequence_mask(tf.cast(memory_lengths, tf.int32), max_time, dtype=tf.float32)
    return alignments * mask, mu


# Energy given to padding before the softmax; exp(-1e9 - max) is exactly 0 in float32.
_MASKED_ENERGY = -1e9


def masked_softmax(energy, memory_lengths, allowed=None):
    """Softmax over encoder steps with padding (and steps outside `allowed`) set to an exact zero.

    Args:
        energy: [B, T_in] float attention energies.
        allowed: optional [B, T_in] bool, the steps that may be attended (an attention window); must hold
            at least one valid step per row.
    Returns:
        [B, T_in] float32 alignments.
    """
    energy = tf.cast(energy, tf.float32)
    mask = tf.sequence_mask(tf.cast(memory_lengths, tf.int32), tf.shape(energy)[1])
    if allowed is not None:
        mask = tf.logical_and(mask, allowed)
    return tf.nn.softmax(tf.where(mask, energy, _MASKED_ENERGY), axis=-1)


def attention_window(previous_alignments, back, ahead):
    """The attention constraint of ESPnet (`use_att_constraint`) and Coqui (`windowing`): encoder steps from
    `back` before to `ahead` after the previous step's peak (its argmax) may be attended.

    Args:
        previous_alignments: [B, T_in] alignments of the previous decoder step.
        back, ahead: non-negative ints.
    Returns:
        [B, T_in] bool.
    """
    peak = tf.argmax(previous_alignments, axis=-1, output_type=tf.int32)[:, None]   # [B, 1]
    positions = tf.range(tf.shape(previous_alignments)[1])[None, :]                 # [1, T_in]
    return tf.logical_and(positions >= peak - back, positions <= peak + ahead)


def parameter_bias(num_mixtures, version):
    """Initial bias of the GMM Dense(3K), a list of 3K floats: zeros, except V2b (Battenberg et al. 2019):
    0 for w_hat, softplus^-1(1) = log(e - 1) for delta_hat, softplus^-1(10) = log(e^10 - 1) for sigma_hat."""
    if version != "v2b":
        return [0.0] * (3 * num_mixtures)
    return ([0.0] * num_mixtures + [math.log(math.expm1(1.0))] * num_mixtures
            + [math.log(math.expm1(10.0))] * num_mixtures)


def attention_context(alignments, memory, dtype):
    """sum_j alignments[b, j] * memory[b, j], computed in float32 and cast to `dtype`.

    Args:
        alignments: [B, T_in] float.
    Returns:
        [B, D_mem] context.
    """
    context = tf.einsum("bt,btd->bd", tf.cast(alignments, tf.float32), tf.cast(memory, tf.float32))
    return tf.cast(context, dtype)


class _AdditiveAttention(keras.layers.Layer):
    """Shared parts of the two additive (content-based) attentions: key, query and score weights."""

    def __init__(self, units, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.units = units
        self.memory_layer = keras.layers.Dense(units, use_bias=False, dtype=self.dtype_policy,
                                               name="memory_layer")
        self.query_layer = keras.layers.Dense(units, use_bias=False, dtype=self.dtype_policy,
                                              name="query_layer")

    def build(self, query_shape):
        self.query_layer.build(query_shape)
        self.score_v = self.add_weight(name="score_v", shape=(self.units,), initializer="glorot_uniform")

    def prepare_memory(self, memory, memory_lengths):
        """Returns the keys [B, T_in, units] (memory_lengths is unused: padding is masked in the softmax)."""
        return self.memory_layer(memory)

    def initial_state(self, batch_size, max_time, dtype):
        """Zeros [batch_size, max_time] of `dtype`."""
        return tf.zeros([batch_size, max_time], dtype=dtype)

    def _energy(self, query, processed_memory, extra):
        """v^T tanh(W query + keys + extra) -> [B, T_in]; extra: [B, T_in, units] or a broadcastable 0."""
        processed_query = self.query_layer(tf.cast(query, self.compute_dtype))[:, None, :]
        score_v = tf.cast(self.score_v, self.compute_dtype)
        hidden = tf.tanh(processed_query + tf.cast(processed_memory, self.compute_dtype) + extra)
        return tf.reduce_sum(score_v * hidden, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@keras.saving.register_keras_serializable(package="tacotron")
class BahdanauAttention(_AdditiveAttention):
    """Content-based additive attention (Bahdanau et al. 2015; tf.contrib.seq2seq.BahdanauAttention with
    normalize=False): energy_j = v^T tanh(keys_j + W query), keys = memory W_m, alignments = masked softmax.

    Args:
        units: size of keys and projected query (hparam attention_dim).
    The state is the previous alignments (unused by the score; kept for the common contract).
    """

    @classmethod
    def from_attention_config(cls, config, **kwargs):
        """Built from an attention_factory.AttentionConfig (uses attention_dim)."""
        return cls(units=config.attention_dim, **kwargs)

    def call(self, query, state, memory, processed_memory, memory_lengths, training=False, allowed=None):
        energy = self._energy(query, processed_memory, 0.0)
        alignments = masked_softmax(energy, memory_lengths, allowed)
        context = attention_context(alignments, memory, self.compute_dtype)
        return context, alignments, tf.cast(alignments, state.dtype)


@keras.saving.register_keras_serializable(package="tacotron")
class LocationSensitiveAttention(_AdditiveAttention):
    """Tacotron 2's location-sensitive attention (Chorowski et al. 2015; Shen et al. 2018):
    f = Conv1D(cumulative alignments), energy_j = v^T tanh(W query + keys_j + U f_j + b).

    Args:
        units: size of keys, projected query and location features (hparam attention_dim).
        location_filters: Conv1D filters over the cumulative alignments (Tacotron 2: 32).
        location_kernel_size: Conv1D kernel length, "same" padding (Tacotron 2: 31).
    The state is the cumulative alignments; next_state = state + alignments.
    """

    def __init__(self, units, location_filters, location_kernel_size, **kwargs):
        super().__init__(units=units, **kwargs)
        self.location_filters = location_filters
        self.location_kernel_size = location_kernel_size
        self.location_conv = keras.layers.Conv1D(location_filters, location_kernel_size, padding="same",
                                                 use_bias=False, dtype=self.dtype_policy, name="location_conv")
        self.location_layer = keras.layers.Dense(units, use_bias=False, dtype=self.dtype_policy,
                                                 name="location_layer")

    @classmethod
    def from_attention_config(cls, config, **kwargs):
        """Built from an attention_factory.AttentionConfig (attention_dim, location_filters / kernel_size)."""
        return cls(units=config.attention_dim, location_filters=config.location_filters,
                   location_kernel_size=config.location_kernel_size, **kwargs)

    def build(self, query_shape):
        super().build(query_shape)
        self.location_conv.build((None, None, 1))
        self.location_layer.build((None, None, self.location_filters))
        self.score_bias = self.add_weight(name="score_bias", shape=(self.units,), initializer="zeros")

    def call(self, query, state, memory, processed_memory, memory_lengths, training=False, allowed=None):
        cumulative = tf.cast(state, self.compute_dtype)[:, :, None]             # [B, T_in, 1]
        location = self.location_layer(self.location_conv(cumulative))         # [B, T_in, units]
        energy = self._energy(query, processed_memory, location + tf.cast(self.score_bias, self.compute_dtype))
        alignments = masked_softmax(energy, memory_lengths, allowed)
        context = attention_context(alignments, memory, self.compute_dtype)
        return context, alignments, state + tf.cast(alignments, state.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"location_filters": self.location_filters,
                       "location_kernel_size": self.location_kernel_size})
        return config


@keras.saving.register_keras_serializable(package="tacotron")
class GMMAttentionComputer(keras.layers.Layer):
    """GMM attention (Graves 2013; Battenberg et al. 2019 versions V0, V1, V2, V2b).

    An MLP on the query, Dense(hidden_units, hidden_activation) -> Dense(3K), gives the raw w_hat, delta_hat,
    sigma_hat ([B, K] each, in that order); `gmm_alignments` turns them into alignments and new means mu.

    Args:
        num_mixtures: K (hparam gmm_num_mixtures).
        hidden_units: MLP hidden size (hparam gmm_hidden_units).
        version: "v0", "v1", "v2" or "v2b". V2b initialises the Dense(3K) bias so that delta starts at 1 and
            sigma at 10 (bias softplus^-1(1) and softplus^-1(10)); other versions use a zero bias.
        hidden_activation: activation of the hidden layer.
    Kernels use Keras' default zero-mean glorot_uniform, so for a query of small magnitude the raw parameters
    are close to the bias. The output projection runs in float32 even under mixed precision, since its outputs
    are exponentiated. The state is the previous means mu [B, K], always float32.
    """

    def __init__(self, num_mixtures, hidden_units, version, hidden_activation="relu", **kwargs):
        check_version(version)
        super().__init__(autocast=False, **kwargs)
        self.num_mixtures = num_mixtures
        self.hidden_units = hidden_units
        self.version = version
        self.hidden_activation = hidden_activation
        self.hidden_layer = keras.layers.Dense(hidden_units, activation=hidden_activation,
                                               dtype=self.dtype_policy, name="hidden_layer")
        self.parameter_layer = keras.layers.Dense(3 * num_mixtures, dtype="float32",
                                                  bias_initializer=keras.initializers.Constant(
                                                      parameter_bias(num_mixtures, version)),
                                                  name="parameter_layer")

    @classmethod
    def from_attention_config(cls, config, **kwargs):
        """Built from an attention_factory.AttentionConfig (the gmm_* fields)."""
        return cls(num_mixtures=config.gmm_num_mixtures, hidden_units=config.gmm_hidden_units,
                   version=config.gmm_version, hidden_activation=config.gmm_hidden_activation, **kwargs)

    def build(self, query_shape):
        if not self.hidden_layer.built:  # mixture_parameters() may have built the MLP already
            self.hidden_layer.build(query_shape)
            self.parameter_layer.build((None, self.hidden_units))

    def prepare_memory(self, memory, memory_lengths):
        """GMM attention has no keys: returns `memory` unchanged."""
        return memory

    def initial_state(self, batch_size, max_time, dtype):
        """Zero means mu [batch_size, K], float32 whatever `dtype` (kept for the common contract)."""
        return tf.zeros([batch_size, self.num_mixtures], dtype=tf.float32)

    def raw_parameters(self, query):
        """MLP(query) -> (w_hat, delta_hat, sigma_hat), [B, K] float32 each."""
        hidden = self.hidden_layer(tf.cast(query, self.compute_dtype))
        raw = self.parameter_layer(tf.cast(hidden, tf.float32))
        return tuple(tf.split(raw, 3, axis=-1))

    def mixture_parameters(self, query):
        """dict of "w", "delta", "sigma" ([B, K] float32 each, after the version's transform) for `query`."""
        return mixture_parameters(*self.raw_parameters(query), self.version)

    def call(self, query, state, memory, processed_memory, memory_lengths, training=False):
        w_hat, delta_hat, sigma_hat = self.raw_parameters(query)
        alignments, mu = gmm_alignments(w_hat, delta_hat, sigma_hat, state, memory_lengths,
                                        tf.shape(memory)[1], self.version)
        context = attention_context(alignments, memory, self.compute_dtype)
        return context, alignments, mu

    def get_config(self):
        config = super().get_config()
        config.update({"num_mixtures": self.num_mixtures, "hidden_units": self.hidden_units,
                       "version": self.version, "hidden_activation": self.hidden_activation})
        return config
