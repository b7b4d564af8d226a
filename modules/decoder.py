"""The Tacotron decoder: picks the attention and decoder cell, and runs the decoding loop.

Our replacement for what the course took from `tf.contrib.seq2seq` (`dynamic_decode` and the attention
wrapper): a symbolic `tf.while_loop` over decoder steps with TensorArrays, in two modes that share one
step function (the cell's `call`):
- teacher forcing (training): inputs are a go frame of zeros, then the last frame of each group of r target
  frames; the pre-net runs over all of them at once, outside the loop; the loop itself is
  modules/teacher_forcing.py, which forms the decoder LSTMs' weight gradients after the loop;
- free running (inference): the pre-net runs on the last predicted frame inside the loop; a sequence
  finishes when a stop probability exceeds `stop_threshold` after `min_decoder_steps`, or when it reaches
  its own step limit, which grows with its input length (`max_frames_per_phone` x phones / r).
Attention keys (`prepare_memory`) are computed once per batch, outside the loop, and so are the decoder
LSTMs' kernels stacked into one matrix per layer (one product per step; in free running float32 or, with
`inference_precision` bfloat16, bfloat16).

The cell is invoked as `cell.call(...)`: Keras' `__call__` rejects a state that mixes tensors with the
TensorArray of the alignment history; the cell owns no weights of its own, its sub-layers build themselves.
"""
import keras
import tensorflow as tf

from modules.attention_factory import attention_config_from
from modules.attention_names import INFERENCE_PRECISIONS
from modules.attention_factory import create_attention
from modules.decoder_cells import BasicTacoDecoderCell
from modules.decoder_cells import GMMTacoDecoderCell
from modules.fast_matmul import depends_on_batch_size
from modules.layers import Prenet
from modules.teacher_forcing import teacher_forced_decode


def teacher_forcing_inputs(targets, outputs_per_step):
    """Decoder inputs for teacher forcing: a go frame, then the last frame of each group of r targets.

    Args:
        targets: [B, T_out, n_mels] with T_out a multiple of r.
    Returns:
        [B, T_out / r, n_mels]
    """
    last_of_group = targets[:, outputs_per_step - 1::outputs_per_step, :]
    go_frame = tf.zeros_like(last_of_group[:, :1, :])
    return tf.concat([go_frame, last_of_group[:, :-1, :]], axis=1)


def max_decoder_steps(input_lengths, max_frames_per_phone, outputs_per_step, min_decoder_steps):
    """Per-sequence step limit of free-running decoding: grows with the input length.

    Args:
        input_lengths: [B] int32 phones per sequence (with "~").
    Returns:
        [B] int32 steps, never fewer than min_decoder_steps.
    """
    frames = input_lengths * max_frames_per_phone
    steps = (frames + outputs_per_step - 1) // outputs_per_step
    return tf.maximum(steps, min_decoder_steps)


def check_window(window, attention_type):
    """The attention window as a (back, ahead) tuple of ints, or None when off ([] or None).

    Raises:
        ValueError: not two non-negative ints, or GMM attention (its alignment is not a softmax to restrict).
    """
    if not window:
        return None
    if len(window) != 2 or any(int(value) != value or value < 0 for value in window):
        raise ValueError(f"attention_window must be [] or [back, ahead] of non-negative ints, not {list(window)}")
    if attention_type == "gmm":
        raise ValueError("attention_window applies to bahdanau, location_sensitive and dca attention, not gmm")
    return int(window[0]), int(window[1])


def _batch_of_one(tensor):
    """`tensor` [B, ...] of a batch known to hold one sequence, as [1, ...] with that size in its static shape
    (tensor[:1] alone would not know it)."""
    first = tensor[:1]
    first.set_shape(tf.TensorShape([1]).concatenate(tensor.shape[1:]))
    return first


class TacotronDecoder(keras.layers.Layer):
    """Pre-net + decoder cell + loop. Sizes are plain arguments (the model factory reads hparams).

    Args:
        attention_config: dict of the modules.attention_factory.AttentionConfig fields; its attention_type
            picks the attention layer and the cell (GMMTacoDecoderCell for "gmm").
        prenet_units, prenet_dropout: decoder pre-net (dropout on in training and at inference).
        rnn_units, zoneout_rate: decoder zoneout LSTMs.
        outputs_per_step: r; acoustic_dim: mel bands.
        stop_threshold, min_decoder_steps, max_frames_per_phone: when free-running decoding stops.
        attention_window: [] (off) or [back, ahead]: in free-running decoding, attend only to encoder steps
            from `back` before to `ahead` after the previous step's peak (not for GMM attention).
        inference_precision: "float32" or "bfloat16": the dtype of the decoder LSTMs' weights and products in
            free-running decoding (modules/rnn_cells.py); training is unaffected.
    """

    def __init__(self, attention_config, prenet_units, prenet_dropout, rnn_units, zoneout_rate, outputs_per_step,
                 acoustic_dim, stop_threshold, min_decoder_steps, max_frames_per_phone, attention_window=(),
                 inference_precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the memory's Keras mask is not needed: memory_lengths are explicit
        attention_config = attention_config_from(attention_config)
        self._config = dict(
            attention_config=attention_config._asdict(), prenet_units=list(prenet_units),
            prenet_dropout=prenet_dropout, rnn_units=list(rnn_units), zoneout_rate=zoneout_rate,
            outputs_per_step=outputs_per_step, acoustic_dim=acoustic_dim, stop_threshold=stop_threshold,
            min_decoder_steps=min_decoder_steps, max_frames_per_phone=max_frames_per_phone,
            attention_window=list(attention_window), inference_precision=inference_precision)
        self.outputs_per_step = outputs_per_step
        self.acoustic_dim = acoustic_dim
        self.stop_threshold = stop_threshold
        self.min_decoder_steps = min_decoder_steps
        self.max_frames_per_phone = max_frames_per_phone
        self.attention_window = check_window(attention_window, attention_config.attention_type)
        if inference_precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"inference_precision must be one of {INFERENCE_PRECISIONS}, not {inference_precision!r}")
        self.inference_precision = inference_precision
        self.prenet = Prenet(units=list(prenet_units), dropout_rate=prenet_dropout, always_dropout=True,
                             name="decoder_prenet")
        attention = create_attention(attention_config)
        cell_class = GMMTacoDecoderCell if attention_config.attention_type == "gmm" else BasicTacoDecoderCell
        self.cell = cell_class(attention=attention, rnn_units=rnn_units, zoneout_rate=zoneout_rate,
                               outputs_per_step=outputs_per_step, acoustic_dim=acoustic_dim, name="decoder_cell")

    def _initial(self, memory, memory_lengths, num_steps=None):
        batch_size = tf.shape(memory)[0]
        processed = self.cell.attention.prepare_memory(memory, memory_lengths)
        state = self.cell.get_initial_state(batch_size, tf.shape(memory)[1], memory.shape[-1],
                                            self.compute_dtype, num_steps=num_steps)
        return batch_size, processed, state

    def fused_kernels(self, precision, memory_dim):
        """The decoder LSTMs' stacked kernels (StackedZoneoutLSTM.fused_kernels) from the current weights, made
        once per call before the loop, or once for many calls of `infer` (its `fused_kernels`); builds the LSTMs
        first if no step has run yet. memory_dim: D_mem, the encoder output width."""
        if not self.cell.rnn.built:
            self.cell.rnn.build((None, self._config["prenet_units"][-1] + memory_dim))
        return self.cell.rnn.fused_kernels(precision)

    def _finish(self, frames, stops, alignments, batch_size):
        """The loop's stacked outputs [T_dec, B, r * n_mels], [T_dec, B, r], [T_dec, B, T_in] batch-major:
        [B, T_dec * r, n_mels], [B, T_dec * r], [B, T_dec, T_in]."""
        frames = tf.transpose(frames, [1, 0, 2])
        frames = tf.reshape(frames, [batch_size, -1, self.acoustic_dim])
        stops = tf.reshape(tf.transpose(stops, [1, 0, 2]), [batch_size, -1])
        alignments = tf.transpose(alignments, [1, 0, 2])
        return frames, stops, alignments

    def call(self, memory, memory_lengths, targets, training=False):
        """Teacher-forced decoding.

        Args:
            memory: [B, T_in, D_mem] encoder outputs.
            memory_lengths: [B] int32.
            targets: [B, T_out, n_mels] with T_out a multiple of r.
        Returns:
            dict(frames [B, T_out, n_mels], stop_logits [B, T_out], alignments [B, T_out / r, T_in])
        """
        inputs = self.prenet(teacher_forcing_inputs(targets, self.outputs_per_step), training=training)
        inputs = tf.transpose(inputs, [1, 0, 2])  # [T_dec, B, P]
        num_steps = tf.shape(inputs)[0]
        kernels = self.fused_kernels("float32", memory.shape[-1])

        def initial(memory):
            _, processed, state = self._initial(memory, memory_lengths, num_steps)
            return processed, state

        frames, stops, alignments = teacher_forced_decode(self.cell, kernels, initial, memory, memory_lengths,
                                                          inputs, training)
        frames, stops, alignments = self._finish(frames, stops, alignments, tf.shape(memory)[0])
        return {"frames": frames, "stop_logits": stops, "alignments": alignments}

    def infer(self, memory, memory_lengths, seeds=None, attention_window=None, fused_kernels=None):
        """Free-running decoding.

        Args:
            memory: [B, T_in, D_mem]; memory_lengths: [B] int32 (phones incl. "~").
            seeds: optional [B] int32, one pre-net dropout seed per sequence: with it each sequence's
                output is independent of the batch it is decoded in.
            attention_window: None (the layer's own), [] (off) or [back, ahead].
            fused_kernels: None (made here from the current weights), or
                `fused_kernels(self.inference_precision, D_mem)` made earlier from weights that have not
                changed since, as tensors or variables (they are [4 units, D + units] per layer and cost ~10 ms
                to make at each call).
        Returns:
            dict(frames [B, T, n_mels] (zero beyond each length), stop_logits [B, T],
                 alignments [B, T / r, T_in], mel_lengths [B] int32, hit_max_steps [B] bool)

        When the batch size is unknown at tracing and the LSTM products' form depends on it
        (modules/fast_matmul.py), the loop is traced twice, for a batch of one and for any other, and one tf.cond
        picks between them; so the products need no tf.cond at every step (5 % of a batch-1 synthesis).
        """
        if fused_kernels is None:
            fused_kernels = self.fused_kernels(self.inference_precision, memory.shape[-1])
        else:  # read once here, not at every step
            fused_kernels = [tf.convert_to_tensor(kernel) for kernel in fused_kernels]
        window = self.attention_window if attention_window is None else check_window(
            attention_window, self._config["attention_config"]["attention_type"])

        def decode_any():
            return self._decode(memory, memory_lengths, seeds, window, fused_kernels)

        def decode_one():
            return self._decode(_batch_of_one(memory), _batch_of_one(memory_lengths),
                                None if seeds is None else _batch_of_one(seeds), window, fused_kernels)

        if memory.shape[0] is not None or not any(depends_on_batch_size(kernel) for kernel in fused_kernels):
            return decode_any()
        return tf.cond(tf.equal(tf.shape(memory)[0], 1), decode_one, decode_any)

    def _decode(self, memory, memory_lengths, seeds, window, fused_kernels):
        """The free-running loop of `infer` (its arguments; window: check_window's result)."""
        batch_size, processed, state = self._initial(memory, memory_lengths)
        state = self.cell.loop_state(state, fused_kernels)
        r = self.outputs_per_step
        limits = max_decoder_steps(memory_lengths, self.max_frames_per_phone, r, self.min_decoder_steps)
        frames_ta = tf.TensorArray(self.compute_dtype, size=0, dynamic_size=True)
        stops_ta = tf.TensorArray(self.compute_dtype, size=0, dynamic_size=True)
        go_frame = tf.zeros([batch_size, self.acoustic_dim], self.compute_dtype)
        lengths = tf.zeros([batch_size], tf.int32)
        finished = tf.zeros([batch_size], tf.bool)
        stopped = tf.zeros([batch_size], tf.bool)  # finished by the stop token (not by the step limit)

        # Seeded pre-net dropout: every step's randomness drawn at once (per sequence, batch-independent).
        noise = None if seeds is None else self.prenet.step_noise(seeds, tf.reduce_max(limits))

        def body(step, previous_frame, state, frames_ta, stops_ta, lengths, finished, stopped):
            step_noise = None if noise is None else noise[:, step]
            prenet_output = self.prenet(previous_frame, training=False, noise=step_noise)
            (frames, stop_logits), state = self.cell.call(prenet_output, state=state, memory=memory,
                                                     processed_memory=processed,
                                                     memory_lengths=memory_lengths, training=False,
                                                     window=window, fused_kernels=fused_kernels)
            stop_probabilities = tf.sigmoid(tf.cast(stop_logits, tf.float32))  # [B, r]
            over = stop_probabilities > self.stop_threshold
            may_stop = step + 1 >= self.min_decoder_steps
            stops_now = tf.logical_and(tf.reduce_any(over, axis=1), may_stop)
            first_over = tf.argmax(tf.cast(over, tf.int32), axis=1, output_type=tf.int32)
            at_limit = step + 1 >= limits
            newly = tf.logical_and(tf.logical_not(finished), tf.logical_or(stops_now, at_limit))
            length_now = tf.where(stops_now, step * r + first_over + 1, (step + 1) * r)
            lengths = tf.where(newly, length_now, lengths)
            stopped = tf.where(newly, stops_now, stopped)
            finished = tf.logical_or(finished, newly)
            last_frame = frames[:, -self.acoustic_dim:]
            return (step + 1, last_frame, state, frames_ta.write(step, frames),
                    stops_ta.write(step, stop_logits), lengths, finished, stopped)

        _, _, state, frames_ta, stops_ta, lengths, _, stopped = tf.while_loop(
            lambda step, _frame, _state, _f, _s, _lengths, finished, _stopped: tf.logical_not(
                tf.reduce_all(finished)),
            body, (tf.constant(0), go_frame, state, frames_ta, stops_ta, lengths, finished, stopped))
        frames, stops, alignments = self._finish(frames_ta.stack(), stops_ta.stack(),
                                                 state.alignment_history.stack(), batch_size)
        mask = tf.sequence_mask(lengths, tf.shape(frames)[1], dtype=frames.dtype)
        return {"frames": frames * mask[:, :, None], "stop_logits": stops, "alignments": alignments,
                "mel_lengths": lengths, "hit_max_steps": tf.logical_not(stopped)}

    def get_config(self):
        config = super().get_config()
        config.update(self._config)
        return config
