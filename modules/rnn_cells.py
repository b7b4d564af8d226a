"""Decoder RNN cells: an LSTM cell with zoneout (Krueger et al. 2016) and a stack of them.

Shapes: B = batch, D = input width.

Layouts: the public step takes and returns batch-major tensors ([B, features]). The decoder loops, which give
the step fused kernels (`fused_kernel`, float32 or bfloat16), keep the LSTM states unit-major instead
([units, B], the transpose): the product is then w_t @ x^T with no transpose per step and the gates split along
the first axis (modules/fast_matmul.py). `is_unit_major(fused_kernels)` says which layout a step with those
kernels uses, and `StackedZoneoutLSTM.loop_states` puts batch-major states into it once, before a loop.
"""
import keras
import tensorflow as tf

from modules.attention_names import INFERENCE_PRECISIONS
from modules.fast_matmul import matmul
from modules.fast_matmul import unit_major_matmul_input_gradient_only
from modules.fast_matmul import unit_major_product


def is_unit_major(fused_kernels):
    """True when a step with these fused kernels (one per layer, or per-layer (kernel_t, kernel) pairs, or None)
    keeps its states unit-major, [units, B]: whenever there are fused kernels, of any dtype (the plain step,
    without them, is batch-major)."""
    return bool(fused_kernels)


class ZoneoutLSTMCell(keras.layers.Layer):
    """keras.layers.LSTMCell with zoneout on its hidden state h and cell state c (Krueger et al. 2016), as the
    course's ZoneoutLSTMCell (modules/layers.py):

    - training: each unit of h and of c (independent masks) keeps its previous value with probability
      `zoneout_rate`, otherwise takes the new one;
    - inference: the expectation of that, (1 - zoneout_rate) * new + zoneout_rate * previous, for h and c.
    Zoneout acts on the carried state only: the cell's output, which feeds the next layer (and, from the top
    layer, the attention query and the projections), is the LSTM's new h before zoneout.
    States are [h, c], each [B, units].

    The weights are those of a keras.layers.LSTMCell (`self.cell`, so checkpoints keep its variable paths);
    the step is its arithmetic (gates i, f, c, o; sigmoid and tanh) written out with modules.fast_matmul,
    whose backward pass is several times faster on CPU.

    Precision: the products run in the compute dtype (or in a fused kernel's dtype); the gates, the states h
    and c and the output are float32 under every policy, as in cuDNN's LSTMs. Under a mixed policy (bfloat16
    or float16 products) the cell state is then not rounded to 8 or 11 bits at every step.
    """

    def __init__(self, units, zoneout_rate, seed=None, **kwargs):
        super().__init__(autocast=False, **kwargs)  # casts itself; keeps bfloat16 kernels
        self.units = int(units)
        self.zoneout_rate = float(zoneout_rate)
        if not 0.0 <= self.zoneout_rate <= 1.0:
            raise ValueError(f"zoneout_rate must be in [0, 1], got {self.zoneout_rate}")
        self.seed = seed
        self.cell = keras.layers.LSTMCell(self.units, dtype=self.dtype_policy, name="lstm_cell")
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def state_size(self):
        return [self.units, self.units]

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        self.cell.build(input_shape)
        self.built = True

    def get_initial_state(self, batch_size, dtype=None):
        """Returns [h, c] zeros, each [batch_size, units], of `dtype` (default float32, the states' dtype)."""
        dtype = dtype or tf.float32
        return [tf.zeros([batch_size, self.units], dtype=dtype), tf.zeros([batch_size, self.units], dtype=dtype)]

    def _zoneout(self, previous, new, training):
        """previous, new: [B, units]. Training: keeps each unit of `previous` with probability zoneout_rate;
        inference: the expected value of that mix."""
        previous = tf.cast(previous, new.dtype)
        if training:
            noise = keras.random.uniform(tf.shape(new), dtype="float32", seed=self.seed_generator)
            return tf.where(noise < self.zoneout_rate, previous, new)
        rate = tf.cast(self.zoneout_rate, new.dtype)
        return (1.0 - rate) * new + rate * previous

    def fused_kernel(self, precision):
        """The kernel and recurrent kernel stacked for one product per decoder step (both loops) and
        transposed, [4 units, D + units], the layout whose products run fastest (modules/fast_matmul.py); made
        once per call outside the loop, in the compute dtype ("float32") or bfloat16. Differentiable."""
        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"precision must be one of {INFERENCE_PRECISIONS}, not {precision!r}")
        dtype = self.compute_dtype if precision == "float32" else tf.bfloat16
        stacked = tf.concat([tf.cast(self.cell.kernel, dtype), tf.cast(self.cell.recurrent_kernel, dtype)], 0)
        return tf.transpose(stacked)

    def _lstm_step(self, inputs, h_prev, c_prev, fused_kernel=None, ghost=None):
        """keras.layers.LSTMCell's step on its weights -> (h, c, stacked).

        Batch-major (no fused_kernel): inputs [B, D], h_prev, c_prev [B, units] -> h, c [B, units].
        Unit-major (a fused kernel, is_unit_major): inputs [D, B], h_prev, c_prev [units, B] -> h, c [units, B].

        fused_kernel: a fused_kernel(precision) tensor [4 units, D + units] (its dtype sets the product's), or
            None (the kernels are read here). With a ghost: the pair (fused kernel, its transpose
            [D + units, 4 units]), the layout the backward product reads fastest.
        ghost: None, or zeros [4 units, B] added to the gate pre-activations (teacher forcing,
            modules/teacher_forcing.py): the kernel then gets no gradient here, the ghost gets the
            pre-activations' gradient, and stacked = [inputs, h_prev] ([D + units, B]) is returned to form the
            kernel's gradient after the loop. stacked is None otherwise.
        """
        dtype = self.compute_dtype
        bias = tf.cast(self.cell.bias, tf.float32)
        stacked = None
        axis = -1
        if fused_kernel is None:
            product = (matmul(tf.cast(inputs, dtype), tf.cast(self.cell.kernel, dtype))
                       + matmul(tf.cast(h_prev, dtype), tf.cast(self.cell.recurrent_kernel, dtype)))
            z = tf.cast(product, tf.float32) + bias
        else:
            kernel_t, kernel = fused_kernel if ghost is not None else (fused_kernel, None)
            axis = 0
            stacked = tf.concat([tf.cast(inputs, kernel_t.dtype), tf.cast(h_prev, kernel_t.dtype)], axis)
            if ghost is None:
                product = unit_major_product(kernel_t, stacked)
                stacked = None
            else:
                product = unit_major_matmul_input_gradient_only(stacked, kernel_t, kernel)
                product = product + tf.cast(ghost, kernel_t.dtype)
            z = tf.cast(product, tf.float32) + bias[:, tf.newaxis]
        gate_in, gate_forget, candidate, gate_out = tf.split(z, 4, axis=axis)
        c = tf.sigmoid(gate_forget) * tf.cast(c_prev, tf.float32) + tf.sigmoid(gate_in) * tf.tanh(candidate)
        return tf.sigmoid(gate_out) * tf.tanh(c), c, stacked

    def call(self, inputs, states, training=False, fused_kernel=None, ghost=None):
        """inputs: [B, D]; states: [h, c], each [B, units]; fused_kernel, ghost: see _lstm_step (with a fused
        kernel every tensor here is unit-major: inputs [D, B], states and output [units, B]).
        Returns (output [B, units] = the LSTM's new h before zoneout, [h, c] after zoneout), and with a
        ghost also the stacked input [D + units, B] as a third element."""
        h_prev, c_prev = states[0], states[1]
        output, c_new, stacked = self._lstm_step(inputs, h_prev, c_prev, fused_kernel, ghost)
        h_new = output
        if self.zoneout_rate > 0.0:
            h_new = self._zoneout(h_prev, h_new, training)
            c_new = self._zoneout(c_prev, c_new, training)
        if ghost is not None:
            return output, [h_new, c_new], stacked
        return output, [h_new, c_new]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, zoneout_rate=self.zoneout_rate, seed=self.seed)
        return config


class StackedZoneoutLSTM(keras.layers.Layer):
    """Stack of ZoneoutLSTMCell; layer l feeds its output to layer l + 1.

    States are a list with one [h_l, c_l] pair per layer, each [B, units[l]] (tuples are accepted too), i.e.
    [[h_0, c_0], [h_1, c_1], ...]; this nested structure can be a tf.while_loop variable. Build the layer
    (call it once or call `build`) before using it inside a tf.while_loop.
    """

    def __init__(self, units, zoneout_rate, seed=None, **kwargs):
        super().__init__(autocast=False, **kwargs)  # casts itself; keeps bfloat16 kernels
        self.units = [int(u) for u in units]
        self.zoneout_rate = float(zoneout_rate)
        self.seed = seed
        self.cells = [ZoneoutLSTMCell(u, self.zoneout_rate, seed=None if seed is None else seed + i,
                                      dtype=self.dtype_policy, name=f"zoneout_lstm_{i}")
                      for i, u in enumerate(self.units)]

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return self.units[-1]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            cell.build(shape)
            shape = shape[:-1] + (cell.units,)
        self.built = True

    def get_initial_state(self, batch_size, dtype=None):
        """Returns [[h_0, c_0], ...] zeros, each [batch_size, units[l]]."""
        return [cell.get_initial_state(batch_size, dtype) for cell in self.cells]

    def fused_kernels(self, precision):
        """One ZoneoutLSTMCell.fused_kernel per layer (make them outside the decoder loop)."""
        return [cell.fused_kernel(precision) for cell in self.cells]

    def kernel_weights(self):
        """The variables fused_kernels are made from: each layer's kernel and recurrent kernel."""
        return [weight for cell in self.cells for weight in (cell.cell.kernel, cell.cell.recurrent_kernel)]

    def loop_states(self, states, fused_kernels):
        """Batch-major states [[h_l, c_l] per layer, each [B, units[l]]] in the layout a step with these fused
        kernels keeps them in (is_unit_major: each transposed to [units[l], B]; else unchanged). Once, before
        a decoder loop."""
        if not is_unit_major(fused_kernels):
            return states
        return [[tf.transpose(tensor) for tensor in state] for state in states]

    def call(self, inputs, states, training=False, fused_kernels=None, ghosts=None):
        """inputs: [B, D]; states: [[h_l, c_l] per layer] in the layout of `fused_kernels` (loop_states: each
        [units[l], B] with fused kernels, else [B, units[l]]); fused_kernels: None or fused_kernels(precision);
        ghosts (with fused kernels only): None or one zeros tensor per layer, [4 units[l], B]
        (ZoneoutLSTMCell._lstm_step).
        Returns (top output [B, units[-1]] (always batch-major), new states), and with ghosts also the list of
        each layer's stacked input ([D_l + units[l], B]) as a third element."""
        if len(states) != len(self.cells):
            raise ValueError(f"expected {len(self.cells)} layer states, got {len(states)}")
        unit_major = is_unit_major(fused_kernels)
        x = tf.transpose(inputs) if unit_major else inputs
        new_states = []
        kernels = fused_kernels or [None] * len(self.cells)
        layer_inputs = []
        for index, (cell, state, kernel) in enumerate(zip(self.cells, states, kernels)):
            if ghosts is None:
                x, new_state = cell(x, list(state), training=training, fused_kernel=kernel)
            else:
                x, new_state, stacked = cell(x, list(state), training=training, fused_kernel=kernel,
                                             ghost=ghosts[index])
                layer_inputs.append(stacked)
            new_states.append(new_state)
        if unit_major:
            x = tf.transpose(x)
        if ghosts is not None:
            return x, new_states, layer_inputs
        return x, new_states

    def get_config(self):
        config = super().get_config()
        config.update(units=list(self.units), zoneout_rate=self.zoneout_rate, seed=self.seed)
        return config
