"""Decoder RNN cells: an LSTM cell with zoneout (Krueger et al. 2016) and a stack of them.

Shapes: B = batch, D = input width.
"""
import keras
import tensorflow as tf


class ZoneoutLSTMCell(keras.layers.Layer):
    """keras.layers.LSTMCell with zoneout on its hidden state h and cell state c (Krueger et al. 2016), as the
    course's ZoneoutLSTMCell (modules/layers.py):

    - training: each unit of h and of c (independent masks) keeps its previous value with probability
      `zoneout_rate`, otherwise takes the new one;
    - inference: the expectation of that, (1 - zoneout_rate) * new + zoneout_rate * previous, for h and c.
    Zoneout acts on the carried state only: the cell's output, which feeds the next layer (and, from the top
    layer, the attention query and the projections), is the LSTM's new h before zoneout.
    States are [h, c], each [B, units].
    """

    def __init__(self, units, zoneout_rate, seed=None, **kwargs):
        super().__init__(**kwargs)
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
        """Returns [h, c] zeros, each [batch_size, units], of `dtype` (default: the compute dtype)."""
        dtype = dtype or self.compute_dtype
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

    def call(self, inputs, states, training=False):
        """inputs: [B, D]; states: [h, c], each [B, units].
        Returns (output [B, units] = the LSTM's new h before zoneout, [h, c] after zoneout)."""
        h_prev, c_prev = states[0], states[1]
        output, (h_new, c_new) = self.cell(inputs, [h_prev, c_prev], training=training)
        if self.zoneout_rate > 0.0:
            h_new = self._zoneout(h_prev, h_new, training)
            c_new = self._zoneout(c_prev, c_new, training)
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
        super().__init__(**kwargs)
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

    def call(self, inputs, states, training=False):
        """inputs: [B, D]; states: [[h_l, c_l] per layer]. Returns (top output [B, units[-1]], new states)."""
        if len(states) != len(self.cells):
            raise ValueError(f"expected {len(self.cells)} layer states, got {len(states)}")
        x = inputs
        new_states = []
        for cell, state in zip(self.cells, states):
            x, new_state = cell(x, list(state), training=training)
            new_states.append(new_state)
        return x, new_states

    def get_config(self):
        config = super().get_config()
        config.update(units=list(self.units), zoneout_rate=self.zoneout_rate, seed=self.seed)
        return config
