"""Tacotron building-block layers: pre-net, highway net, conv + batch norm, CBHG (Tacotron 1) and post-net.

Shapes: B = batch, T = time steps, D = input width. Masks are bool [B, T] with True at valid positions.
"""
import keras
import tensorflow as tf


def _check_rate(name, rate):
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate}")
    return rate


def dropout_from_uniform(x, rate, noise):
    """Dropout with given randomness: keeps x where noise >= rate, scaled by 1 / (1 - rate); zero elsewhere.

    x: [B, ..., D]; noise: uniform [0, 1) values of x's shape (float32, compared in float32 whatever x's
    dtype). Returns x's shape and dtype.
    """
    if rate <= 0.0:
        return x
    scale = tf.cast(1.0 / (1.0 - rate), x.dtype)
    return tf.where(noise >= rate, x * scale, tf.zeros_like(x))


def stateless_dropout(x, rate, seeds, salt):
    """Dropout whose mask for example i depends only on seeds[i] and salt (reproducible batched synthesis).

    x: [B, ...] values; seeds: int [B, 2] one stateless seed per example; salt: int folded into every seed
    (e.g. the layer index). Returns [B, ...] like x. Uses the Philox algorithm so streams do not depend on
    the device. One random draw per example (a tf.map_fn over the batch): meant for once per call (the
    encoder pre-net); a decoder step uses Prenet.step_noise's values drawn once before the loop.
    """
    if rate <= 0.0:
        return x
    seeds = tf.convert_to_tensor(seeds)
    salt = tf.constant(salt, dtype=seeds.dtype)

    def drop_row(row_and_seed):
        row, seed = row_and_seed
        row_seed = tf.random.experimental.stateless_fold_in(seed, salt, alg="philox")
        return dropout_from_uniform(row, rate, tf.random.stateless_uniform(tf.shape(row), seed=row_seed,
                                                                              alg="philox"))

    return tf.map_fn(drop_row, (x, seeds), fn_output_signature=x.dtype)


def _time_mask(mask, dtype):
    """mask: bool [B, T] -> [B, T, 1] of `dtype` (1 valid, 0 padded)."""
    return tf.cast(mask, dtype)[:, :, tf.newaxis]


class Prenet(keras.layers.Layer):
    """Stack of Dense + ReLU + dropout layers.

    Dropout is applied when `training` is true, or always when `always_dropout` is true (the course keeps the
    decoder pre-net dropout on at inference). With `seeds` the masks are drawn per example from that example's
    seed (folded with the layer index), so row i of a batched call equals a call on row i alone; with `noise`
    (from `step_noise`, for the decoder's steps) they come from those values, also per example.
    """

    def __init__(self, units, dropout_rate, always_dropout, **kwargs):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        self.dropout_rate = _check_rate("dropout_rate", dropout_rate)
        self.always_dropout = bool(always_dropout)
        policy = self.dtype_policy
        self.dense_layers = [keras.layers.Dense(u, activation="relu", dtype=policy, name=f"dense_{i}")
                             for i, u in enumerate(self.units)]
        self.dropout_layers = [keras.layers.Dropout(self.dropout_rate, dtype=policy, name=f"dropout_{i}")
                               for i in range(len(self.units))]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.dense_layers:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
        self.built = True

    def step_noise(self, seeds, num_steps):
        """The randomness of `num_steps` seeded calls, drawn at once (before a decoding loop).

        seeds: [B] int32, one per sequence. Returns [B, num_steps, sum(units)] float32 uniform [0, 1): row b
        is the Philox stream of seed (seeds[b], -2) and does not depend on the batch or on num_steps (a
        longer draw extends a shorter one). Step t's slice [:, t] is the `noise` of that step's call.
        """
        width = sum(self.units)

        def row(seed):
            values = tf.random.stateless_uniform([num_steps * width], seed=tf.stack([seed, -2]), alg="philox")
            return tf.reshape(values, [num_steps, width])

        return tf.map_fn(row, tf.convert_to_tensor(seeds, tf.int32), fn_output_signature=tf.float32)

    def call(self, x, training=False, seeds=None, noise=None):
        """x: [B, ..., D] (one decoder step [B, D] or a sequence [B, T, D]);
        seeds: int32 [B, 2] per-example stateless seeds or None (ordinary random dropout);
        noise: or, for one step [B, D], [B, sum(units)] uniform values (a step of `step_noise`).
        Both are ignored when dropout is off. Returns [B, ..., units[-1]].
        """
        use_dropout = self.always_dropout or bool(training)
        x = tf.cast(x, self.compute_dtype)
        layer_noise = None if noise is None else tf.split(noise, self.units, axis=-1)
        for index, (dense, dropout) in enumerate(zip(self.dense_layers, self.dropout_layers)):
            x = dense(x)
            if not use_dropout:
                continue
            if layer_noise is not None:
                x = dropout_from_uniform(x, self.dropout_rate, layer_noise[index])
            elif seeds is not None:
                x = stateless_dropout(x, self.dropout_rate, seeds, salt=index)
            else:
                x = dropout(x, training=True)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(units=list(self.units), dropout_rate=self.dropout_rate, always_dropout=self.always_dropout)
        return config


class HighwayNet(keras.layers.Layer):
    """Highway layers: y = H(x) * T(x) + x * (1 - T(x)), H = ReLU dense, T = sigmoid dense (bias -1).

    The input width must equal `units`.
    """

    def __init__(self, units, num_layers, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.num_layers = int(num_layers)
        policy = self.dtype_policy
        self.h_layers = [keras.layers.Dense(self.units, activation="relu", dtype=policy, name=f"h_{i}")
                         for i in range(self.num_layers)]
        self.t_layers = [keras.layers.Dense(self.units, activation="sigmoid", dtype=policy, name=f"t_{i}",
                                            bias_initializer=keras.initializers.Constant(-1.0))
                         for i in range(self.num_layers)]

    def build(self, input_shape):
        if input_shape[-1] != self.units:
            raise ValueError(f"HighwayNet input width {input_shape[-1]} != units {self.units}")
        for h_layer, t_layer in zip(self.h_layers, self.t_layers):
            h_layer.build(input_shape)
            t_layer.build(input_shape)
        self.built = True

    def call(self, x):
        """x: [B, ..., units]. Returns [B, ..., units]."""
        x = tf.cast(x, self.compute_dtype)
        for h_layer, t_layer in zip(self.h_layers, self.t_layers):
            gate = t_layer(x)
            x = h_layer(x) * gate + x * (1.0 - gate)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, num_layers=self.num_layers)
        return config


class Conv1DBatchNorm(keras.layers.Layer):
    """Conv1D ('same') + BatchNormalization + activation + dropout (training only).

    activation: a Keras activation name such as "relu" or "tanh", or None for linear.
    activation_before_norm: False (the course's post-net, `conv1d_bn_drop`): conv without bias -> batch norm ->
        activation; True (the course's CBHG, `cbhg.conv1d`): conv with bias -> activation -> batch norm.

    With a mask, padded inputs are zeroed before the convolution, batch statistics use valid positions only,
    and padded outputs are zero.
    """

    def __init__(self, filters, kernel_size, activation, dropout_rate, activation_before_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation_name = activation
        self.activation = keras.activations.get(activation)
        self.dropout_rate = _check_rate("dropout_rate", dropout_rate)
        self.activation_before_norm = bool(activation_before_norm)
        # A bias right before batch norm would be cancelled by it; before an activation it is not.
        self.conv = keras.layers.Conv1D(self.filters, self.kernel_size, padding="same",
                                        use_bias=self.activation_before_norm, dtype=self.dtype_policy, name="conv")
        self.batch_norm = keras.layers.BatchNormalization(dtype=self.dtype_policy, name="batch_norm")
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy, name="dropout")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.batch_norm.build(tuple(input_shape[:-1]) + (self.filters,))
        self.built = True

    def call(self, x, mask=None, training=False):
        """x: [B, T, D]; mask: bool [B, T] or None. Returns [B, T, filters]."""
        x = tf.cast(x, self.compute_dtype)
        if mask is not None:
            x = x * _time_mask(mask, x.dtype)
        y = self.conv(x)
        if self.activation_before_norm:
            y = self.batch_norm(self.activation(y), training=training, mask=mask)
        else:
            y = self.activation(self.batch_norm(y, training=training, mask=mask))
        y = self.dropout(y, training=training)
        if mask is not None:
            y = y * _time_mask(mask, y.dtype)
        return y

    def folded_call(self, x, time_mask, dtype):
        """Inference (training=False) with the batch norm folded into the convolution, computed in `dtype`
        (the reduced-precision synthesis path; float32 gives `call`'s result within round-off). The post-net's
        order only (activation after the norm).

        Args:
            x: [B, T, D] of `dtype`, already zero at padded positions (as every folded layer's output is).
            time_mask: [B, T, 1] of `dtype` (1 valid, 0 padded), or None.
        Returns:
            [B, T, filters] of `dtype`, zero at padded positions.
        """
        if self.activation_before_norm:
            raise ValueError("folded_call folds a norm that follows the convolution (activation_before_norm=False)")
        norm = self.batch_norm
        scale = norm.gamma * tf.math.rsqrt(norm.moving_variance + norm.epsilon)
        kernel = tf.cast(self.conv.kernel * scale, dtype)
        shift = tf.cast(norm.beta - norm.moving_mean * scale, dtype)
        y = self.activation(tf.nn.conv1d(x, kernel, stride=1, padding="SAME") + shift)
        return y if time_mask is None else y * time_mask

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, activation=self.activation_name,
                      dropout_rate=self.dropout_rate, activation_before_norm=self.activation_before_norm)
        return config


class CBHG(keras.layers.Layer):
    """Tacotron-1 CBHG: conv bank (kernels 1..bank_size) -> max-pool -> conv projections -> residual ->
    highway net -> bidirectional GRU. Output [B, T, 2 * gru_units], zero at padded positions.

    Every conv is conv (with bias) -> activation -> batch norm, as the course's `cbhg` (ReLU in the bank and
    the first projections, linear in the last). `gru_reset_after`: False is the TF1 GRUCell of the course
    (reset gate applied before the recurrent matmul), True the cuDNN-compatible Keras default.

    A Dense (no activation) maps the input to the last projection width for the residual when the widths
    differ, and another maps to `highway_units` before the highway net when those widths differ.
    """

    def __init__(self, bank_size, bank_filters, projection_filters, projection_kernel_size, highway_units,
                 highway_layers, gru_units, gru_reset_after=False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.bank_size = int(bank_size)
        self.bank_filters = int(bank_filters)
        self.projection_filters = [int(f) for f in projection_filters]
        self.projection_kernel_size = int(projection_kernel_size)
        self.highway_units = int(highway_units)
        self.highway_layers = int(highway_layers)
        self.gru_units = int(gru_units)
        self.gru_reset_after = bool(gru_reset_after)
        policy = self.dtype_policy
        self.bank = [Conv1DBatchNorm(self.bank_filters, k, "relu", 0.0, activation_before_norm=True, dtype=policy,
                                     name=f"bank_{k}")
                     for k in range(1, self.bank_size + 1)]
        self.pool = keras.layers.MaxPooling1D(pool_size=2, strides=1, padding="same", dtype=policy, name="pool")
        last = len(self.projection_filters) - 1
        self.projections = [Conv1DBatchNorm(f, self.projection_kernel_size, "relu" if i < last else None, 0.0,
                                            activation_before_norm=True, dtype=policy, name=f"projection_{i}")
                            for i, f in enumerate(self.projection_filters)]
        self.highway = HighwayNet(self.highway_units, self.highway_layers, dtype=policy, name="highway")
        gru = keras.layers.GRU(self.gru_units, return_sequences=True, reset_after=self.gru_reset_after,
                               dtype=policy, name="gru")
        self.rnn = keras.layers.Bidirectional(gru, dtype=policy, name="bidirectional_gru")
        self.residual_dense = None
        self.highway_dense = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        for conv in self.bank:
            conv.build(input_shape)
        shape = input_shape[:-1] + (self.bank_size * self.bank_filters,)
        for conv in self.projections:
            conv.build(shape)
            shape = shape[:-1] + (conv.filters,)
        width = self.projection_filters[-1]
        if input_shape[-1] != width:
            self.residual_dense = keras.layers.Dense(width, dtype=self.dtype_policy, name="residual_dense")
            self.residual_dense.build(input_shape)
        if width != self.highway_units:
            self.highway_dense = keras.layers.Dense(self.highway_units, dtype=self.dtype_policy,
                                                    name="highway_dense")
            self.highway_dense.build(shape)
        shape = shape[:-1] + (self.highway_units,)
        self.highway.build(shape)
        self.rnn.build(shape)
        self.built = True

    def call(self, inputs, mask=None, training=False):
        """inputs: [B, T, D]; mask: bool [B, T] (True = valid) or None. Returns [B, T, 2 * gru_units]."""
        x = tf.cast(inputs, self.compute_dtype)
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            x = x * _time_mask(mask, x.dtype)
        y = tf.concat([conv(x, mask=mask, training=training) for conv in self.bank], axis=-1)
        if mask is not None:
            # Batch-normalised bank outputs can be negative: padding must not win the max-pool, so it takes
            # the lowest value, as the pool's own 'same' padding does at the end of an unpadded sequence.
            y = tf.where(mask[:, :, tf.newaxis], y, tf.cast(y.dtype.min, y.dtype))
        y = self.pool(y)
        if mask is not None:
            y = y * _time_mask(mask, y.dtype)
        for conv in self.projections:
            y = conv(y, mask=mask, training=training)
        residual = self.residual_dense(x) if self.residual_dense is not None else x
        y = y + residual
        if self.highway_dense is not None:
            y = self.highway_dense(y)
        y = self.highway(y)
        y = self.rnn(y, mask=mask, training=training)
        if mask is not None:
            y = y * _time_mask(mask, y.dtype)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(bank_size=self.bank_size, bank_filters=self.bank_filters,
                      projection_filters=list(self.projection_filters),
                      projection_kernel_size=self.projection_kernel_size, highway_units=self.highway_units,
                      highway_layers=self.highway_layers, gru_units=self.gru_units,
                      gru_reset_after=self.gru_reset_after)
        return config


class PostNet(keras.layers.Layer):
    """Tacotron-2 style post-net: `num_layers` Conv1DBatchNorm (tanh, linear last, dropout after each) and a
    Dense to `output_dim`. Returns only the residual; the caller adds it to the decoder output.
    """

    def __init__(self, num_layers, filters, kernel_size, output_dim, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.num_layers = int(num_layers)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.output_dim = int(output_dim)
        self.dropout_rate = _check_rate("dropout_rate", dropout_rate)
        last = self.num_layers - 1
        self.convs = [Conv1DBatchNorm(self.filters, self.kernel_size, "tanh" if i < last else None,
                                      self.dropout_rate, dtype=self.dtype_policy, name=f"conv_{i}")
                      for i in range(self.num_layers)]
        self.projection = keras.layers.Dense(self.output_dim, dtype=self.dtype_policy, name="projection")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (self.filters,)
        self.projection.build(shape)
        self.built = True

    def call(self, x, mask=None, training=False):
        """x: [B, T, D] decoder output; mask: bool [B, T] or None. Returns the residual [B, T, output_dim]
        (zero at padded positions when a mask is given)."""
        y = tf.cast(x, self.compute_dtype)
        for conv in self.convs:
            y = conv(y, mask=mask, training=training)
        y = self.projection(y)
        if mask is not None:
            y = y * _time_mask(mask, y.dtype)
        return y

    def folded_call(self, x, mask, dtype):
        """Inference with each batch norm folded into its convolution and every product in `dtype` (bfloat16:
        synthesis' reduced-precision path, where oneDNN runs the convolutions on AMX). x: [B, T, D]; mask: bool
        [B, T] or None. Returns the residual [B, T, output_dim] in the compute dtype."""
        time_mask = None if mask is None else _time_mask(mask, dtype)  # made once, applied after each layer
        y = tf.cast(x, dtype)
        if time_mask is not None:
            y = y * time_mask
        for conv in self.convs:
            y = conv.folded_call(y, time_mask, dtype)
        y = tf.matmul(y, tf.cast(self.projection.kernel, dtype)) + tf.cast(self.projection.bias, dtype)
        if time_mask is not None:
            y = y * time_mask
        return tf.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers, filters=self.filters, kernel_size=self.kernel_size,
                      output_dim=self.output_dim, dropout_rate=self.dropout_rate)
        return config
