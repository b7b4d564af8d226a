"""The teacher-forced decoder loop, with the decoder LSTMs' weight gradients formed after the loop.

Inside a tf.while_loop, the gradient of a weight used at every step is the sum of one outer product per step:
TensorFlow forms each step's [D + units, 4 units] matrix and adds it to an accumulator, 200 times per batch
at r = 2, which costs more memory traffic than the whole forward pass (benchmarks/README.md, "Profile").
Here each LSTM's gate pre-activations get a zero "ghost" tensor added, read from a [T_dec, B, 4 units]
TensorArray: the gradient of the ghost is the pre-activations' gradient at every step, and the kernel's
gradient is one product after the loop,

    d kernel = sum_t stacked_t^T d z_t = reshape(stacked)^T @ reshape(d ghost),

where stacked_t = [LSTM input, previous h] is written out by the loop. The arithmetic of every step and its
outputs are those of the plain loop; gradients agree up to float32 round-off (the summation order differs).

The loop runs inside a tf.custom_gradient whose backward pass asks an inner GradientTape for the gradients
of everything else (memory, pre-net outputs, attention and projection weights) and adds the kernels' products.
It is the same graph on CPU and GPU.
"""
import tensorflow as tf


def teacher_forced_decode(cell, kernels, initial, memory, memory_lengths, inputs, training):
    """Runs `cell` over every decoder step of teacher forcing.

    Args:
        cell: a modules.decoder_cells decoder cell (its `rnn` is a StackedZoneoutLSTM).
        kernels: cell.rnn.fused_kernels("float32"), made outside (their gradient flows on to the variables).
        initial: `initial(memory) -> (processed_memory, state)`, the cell's zero state for T_dec steps.
        memory: [B, T_in, D_mem] encoder outputs.
        memory_lengths: [B] int32.
        inputs: [T_dec, B, P] pre-net outputs (time-major).
    Returns:
        (frames [T_dec, B, r * n_mels], stop_logits [T_dec, B, r], alignments [T_dec, B, T_in]), time-major.
    """
    @tf.custom_gradient
    def decode(memory, inputs, *kernels):
        num_steps, batch_size = tf.shape(inputs)[0], tf.shape(inputs)[1]
        ghosts = [tf.zeros([num_steps, batch_size, 4 * units], kernel.dtype)
                  for units, kernel in zip(cell.rnn.units, kernels)]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([memory, inputs] + ghosts)
            outputs, layer_inputs = _loop(cell, initial, memory, memory_lengths, inputs, list(kernels), ghosts,
                                          training)

        def gradient(*upstream, variables=None):
            upstream = [tf.zeros_like(output) if grad is None else grad for output, grad in zip(outputs, upstream)]
            trainable = [variable for variable in variables if variable.dtype.is_floating]
            grads = tape.gradient(list(outputs), [memory, inputs] + ghosts + trainable, output_gradients=upstream,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            ghost_grads = grads[2:2 + len(ghosts)]
            variable_grads = iter(grads[2 + len(ghosts):])
            kernel_grads = [_outer_product_sum(stacked, ghost_grad, kernel.dtype)
                            for stacked, ghost_grad, kernel in zip(layer_inputs, ghost_grads, kernels)]
            return ([grads[0], grads[1]] + kernel_grads,
                    [next(variable_grads) if variable.dtype.is_floating else None for variable in variables])

        return outputs, gradient

    return decode(memory, inputs, *kernels)


def _outer_product_sum(stacked, ghost_grad, dtype):
    """sum over t and b of stacked[t, b]^T ghost_grad[t, b], in float32: [T, B, D] x [T, B, G] -> [D, G]."""
    rows = tf.reshape(tf.cast(stacked, tf.float32), [-1, tf.shape(stacked)[-1]])
    columns = tf.reshape(tf.cast(ghost_grad, tf.float32), [-1, tf.shape(ghost_grad)[-1]])
    return tf.cast(tf.matmul(rows, columns, transpose_a=True), dtype)


def _loop(cell, initial, memory, memory_lengths, inputs, kernels, ghosts, training):
    """The while loop; returns ((frames, stop_logits, alignments), stacked LSTM inputs per layer), all
    stacked time-major."""
    num_steps = tf.shape(inputs)[0]
    processed, state = initial(memory)
    dtype = inputs.dtype
    ghost_arrays = [tf.TensorArray(ghost.dtype, size=num_steps).unstack(ghost) for ghost in ghosts]
    arrays = (tf.TensorArray(dtype, size=num_steps), tf.TensorArray(dtype, size=num_steps),
              [tf.TensorArray(kernel.dtype, size=num_steps) for kernel in kernels])

    def body(step, state, frames_ta, stops_ta, stacked_tas):
        step_ghosts = [array.read(step) for array in ghost_arrays]
        (frames, stop_logits, stacked), state = cell.call(
            inputs[step], state=state, memory=memory, processed_memory=processed, memory_lengths=memory_lengths,
            training=training, fused_kernels=kernels, lstm_ghosts=step_ghosts)
        stacked_tas = [array.write(step, value) for array, value in zip(stacked_tas, stacked)]
        return step + 1, state, frames_ta.write(step, frames), stops_ta.write(step, stop_logits), stacked_tas

    _, state, frames_ta, stops_ta, stacked_tas = tf.while_loop(
        lambda step, *_: step < num_steps, body, (tf.constant(0), state) + arrays, maximum_iterations=num_steps)
    outputs = (frames_ta.stack(), stops_ta.stack(), state.alignment_history.stack())
    return outputs, [array.stack() for array in stacked_tas]
