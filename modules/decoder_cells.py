"""Tacotron decoder cells: one decoder step (attention RNN + attention + projections) as a Keras layer.

The same `call` serves the teacher-forced training loop and the autoregressive inference loop
(modules/decoder.py); only what goes in as `prenet_output` differs.

Shapes used below: B batch, T_in encoder steps, D_mem memory width, P pre-net output width,
r outputs per step, n_mels acoustic_dim.
"""
import collections

import keras
import tensorflow as tf

from modules.attention import attention_window
from modules.rnn_cells import StackedZoneoutLSTM


class BasicTacoDecoderCellState(
        collections.namedtuple("BasicTacoDecoderCellState",
                               ("rnn_cell_state", "attention", "time", "alignments", "alignment_history"))):
    """State of a decoder cell whose attention state is an alignment vector.

    rnn_cell_state: nested [h, c] per LSTM layer, each [B, units] (inside the decoder loops, whose fused
        kernels keep them unit-major, [units, B]: see `loop_state`).
    attention: previous context vector [B, D_mem].
    time: scalar int32 decoder step.
    alignments: attention state [B, T_in] (previous alignments for content-based attention, cumulative
        alignments for location-sensitive attention).
    alignment_history: TensorArray of [B, T_in], one entry per decoder step.
    """

    def replace(self, **kwargs):
        return self._replace(**kwargs)


class GMMTacoDecoderCellState(
        collections.namedtuple("GMMTacoDecoderCellState",
                               ("rnn_cell_state", "attention", "time", "mu", "alignment_history"))):
    """State of the GMM-attention decoder cell: as the basic one, with mixture means mu [B, K] in place of
    the alignment vector (GMM attention is purely location-relative: mu is all it carries over)."""

    def replace(self, **kwargs):
        return self._replace(**kwargs)


class BasicTacoDecoderCell(keras.layers.Layer):
    """One Tacotron decoder step with an alignment-vector attention state (bahdanau, location_sensitive).

    Args:
        attention: an attention layer of modules/attention.py (the common call contract).
        rnn_units: decoder LSTM sizes, e.g. [1024, 1024].
        zoneout_rate: zoneout of the decoder LSTMs (training only).
        outputs_per_step: r, frames predicted per step.
        acoustic_dim: mel bands.
    """

    state_class = BasicTacoDecoderCellState
    attention_field = "alignments"

    def __init__(self, attention, rnn_units, zoneout_rate, outputs_per_step, acoustic_dim, **kwargs):
        super().__init__(**kwargs)
        self.attention = attention
        self.rnn_units = list(rnn_units)
        self.zoneout_rate = zoneout_rate
        self.outputs_per_step = outputs_per_step
        self.acoustic_dim = acoustic_dim
        self.rnn = StackedZoneoutLSTM(units=self.rnn_units, zoneout_rate=zoneout_rate, name="decoder_rnn")
        self.frame_projection = keras.layers.Dense(outputs_per_step * acoustic_dim, name="frame_projection")
        self.stop_projection = keras.layers.Dense(outputs_per_step, name="stop_projection")
        self.built = True  # no weights of its own; the sub-layers build on first use

    def get_initial_state(self, batch_size, max_time, memory_dim, dtype, num_steps=None):
        """The zero state for a batch.

        Args:
            batch_size: scalar int (tensor or python).
            max_time: T_in, scalar int.
            memory_dim: D_mem (python int).
            dtype: compute dtype of the attention state. The LSTM states and the context are float32 (the
                LSTMs' state math is float32 under every policy, modules/rnn_cells.py).
            num_steps: decoder steps when known in advance (teacher forcing): the alignment history then
                has a fixed size, which XLA requires; None makes it grow (free running).
        """
        attention_state = self.attention.initial_state(batch_size, max_time, dtype)
        return self._make_state(
            rnn_cell_state=self.rnn.get_initial_state(batch_size),
            attention=tf.zeros([batch_size, memory_dim], dtype=tf.float32),
            time=tf.constant(0, tf.int32),
            attention_state=attention_state,
            alignment_history=tf.TensorArray(tf.float32, size=0 if num_steps is None else num_steps,
                                             dynamic_size=num_steps is None, clear_after_read=False,
                                             element_shape=tf.TensorShape([None, None])))

    def _make_state(self, rnn_cell_state, attention, time, attention_state, alignment_history):
        return self.state_class(rnn_cell_state=rnn_cell_state, attention=attention, time=time,
                                alignment_history=alignment_history,
                                **{self.attention_field: attention_state})

    def loop_state(self, state, fused_kernels):
        """`state` with its LSTM states in the layout the step keeps them in with these fused kernels
        (StackedZoneoutLSTM.loop_states); once, before a decoder loop."""
        return state.replace(rnn_cell_state=self.rnn.loop_states(state.rnn_cell_state, fused_kernels))

    def attention_state(self, state):
        """The part of the cell state that the attention layer carries from step to step."""
        return getattr(state, self.attention_field)

    def window(self, state, max_time, window):
        """[B, T_in] bool: the steps from window[0] before to window[1] after the previous step's peak
        (encoder step 0 at the first decoder step)."""
        previous = tf.cond(state.time > 0, lambda: state.alignment_history.read(tf.maximum(state.time - 1, 0)),
                           lambda: tf.one_hot(tf.zeros_like(state.attention[:, 0], tf.int32), max_time))
        return attention_window(previous, window[0], window[1])

    def project(self, projection_input):
        """The frame and stop projections: projection_input [..., D_rnn + D_mem] ([RNN output, context]) ->
        (frames [..., r * n_mels], stop_logits [..., r]). Applied per step, or (teacher forcing) once after the
        loop to every step's input stacked."""
        return self.frame_projection(projection_input), self.stop_projection(projection_input)

    def call(self, prenet_output, state, memory, processed_memory, memory_lengths, training=False, window=None,
             fused_kernels=None, ghosts=None, project=True):
        """One decoder step.

        Args:
            prenet_output: [B, P] the pre-net applied to the previous frame (go frame at step 0).
            state: this cell's state namedtuple.
            memory: [B, T_in, D_mem] encoder outputs.
            processed_memory: what `attention.prepare_memory` returned, computed once per batch.
            memory_lengths: [B] int32 valid encoder steps.
            window: optional (back, ahead): attend only that close to the previous step's peak (an attention
                constraint for synthesis; softmax mechanisms only).
            fused_kernels: optional, StackedZoneoutLSTM.fused_kernels(precision), made once before the loop
                (free-running decoding and teacher forcing).
            ghosts: optional zeros (teacher forcing, modules/teacher_forcing.py, with fused kernels):
                dict(lstm=[one [4 units, B] per decoder LSTM (unit-major states)], context=[B, D_mem] float32,
                added to the attention context).
            project: False leaves the projections to the caller (`project`): the first tuple then starts with
                the projection input [B, D_rnn + D_mem] alone. Nothing in the step depends on the frames when
                teacher forcing, so its loop projects all steps at once afterwards.
        Returns:
            ((frames [B, r * n_mels], stop_logits [B, r]), next_state); with ghosts the first tuple also
            holds the LSTMs' stacked inputs (a list, StackedZoneoutLSTM.call).
        """
        # 1. The attention RNN sees the pre-net output and the previous context.
        rnn_input = tf.concat([prenet_output, tf.cast(state.attention, prenet_output.dtype)], axis=-1)
        rnn_output, next_rnn_state, *layer_inputs = self.rnn(
            rnn_input, state.rnn_cell_state, training=training, fused_kernels=fused_kernels,
            ghosts=None if ghosts is None else ghosts["lstm"])
        # 2. Its output queries the attention, which advances its own state.
        extra = {} if not window else {"allowed": self.window(state, tf.shape(memory)[1], window)}
        context, alignments, next_attention_state = self.attention(
            rnn_output, self.attention_state(state), memory, processed_memory, memory_lengths,
            training=training, **extra)
        if ghosts is not None:
            context = context + tf.cast(ghosts["context"], context.dtype)
        context = tf.cast(context, rnn_output.dtype)
        # 3. Frames and stop logits are projected from [RNN output, context].
        projection_input = tf.concat([rnn_output, context], axis=-1)
        projected = self.project(projection_input) if project else (projection_input,)
        # 4. Alignment history for plots and scoring (always float32).
        history = state.alignment_history.write(state.time, tf.cast(alignments, tf.float32))
        next_state = self._make_state(rnn_cell_state=next_rnn_state, attention=context, time=state.time + 1,
                                      attention_state=next_attention_state, alignment_history=history)
        return (*projected, *layer_inputs), next_state

    def get_config(self):
        config = super().get_config()
        config.update(attention=keras.saving.serialize_keras_object(self.attention),
                      rnn_units=self.rnn_units, zoneout_rate=self.zoneout_rate,
                      outputs_per_step=self.outputs_per_step, acoustic_dim=self.acoustic_dim)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["attention"] = keras.saving.deserialize_keras_object(config["attention"])
        return cls(**config)


class GMMTacoDecoderCell(BasicTacoDecoderCell):
    """The decoder step with GMM attention (Battenberg et al. 2019); its state carries mixture means mu."""

    state_class = GMMTacoDecoderCellState
    attention_field = "mu"
