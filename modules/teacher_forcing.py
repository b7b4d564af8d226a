"""The teacher-forced decoder loop, with the decoder LSTMs' weight gradients formed after the loop.

Inside a tf.while_loop, the gradient of a weight used at every step is the sum of one outer product per step:
TensorFlow forms each step's [D + units, 4 units] matrix and adds it to an accumulator, 200 times per batch
at r = 2, which costs more memory traffic than the whole forward pass (benchmarks/README.md, "Profile").
Here each LSTM's gate pre-activations get a zero "ghost" tensor added, popped from a TensorList: the gradient
of the ghost is the pre-activations' gradient at every step, and the kernel's gradient is one product after
the loop. The loop keeps the LSTM states unit-major (modules/rnn_cells.py): the ghosts are [T_dec, 4 units, B],
stacked_t = [LSTM input, previous h] is [D + units, B] and written out by the loop, and for the kernel stored
transposed (as the loop uses it, modules/fast_matmul.py)

    d kernel^T = sum_t d z_t stacked_t^T   (one einsum).

The encoder memory, used at every step by the attention context (context_t = alignments_t @ memory), is
handled the same way: a ghost added to the context, and after the loop

    d memory = sum_t alignments_t^T d context_t   (one batched product over [T_dec, B, T_in] x [T_dec, B, D]).

The frame and stop projections, which nothing in a teacher-forced step depends on, run once after the loop
on every step's [RNN output, context] stacked: one product per batch instead of one per step, and their weight
gradients are then single products too, with nothing added up from step to step inside the loop.

The arithmetic of every step and its outputs are those of the plain loop; gradients agree up to float32
round-off (the summation order differs).

The loop runs inside a tf.custom_gradient whose backward pass asks for the gradients of everything else
(memory through the attention keys, pre-net outputs, attention weights, LSTM biases) and adds the products
above. In a graph (tf.function, training) it asks tf.gradients, symbolically: an inner GradientTape there
would make two tapes watch the loop (it and the training step's), and TensorFlow then wraps the while loop
for higher-order gradients, whose backward pass also differentiates the loop's own accumulators of forward
values with zero gradients (about 150 more ops per decoder step, a zero-filled tensor per loop output; 7 %
of a training step here). Run eagerly (tests), an inner persistent tape does it. It is the same graph on CPU
and GPU.
"""
import contextlib

import tensorflow as tf



def teacher_forced_decode(cell, kernels, initial, memory, memory_lengths, inputs, training):
    """Runs `cell` over every decoder step of teacher forcing.

    Args:
        cell: a modules.decoder_cells decoder cell (its `rnn` is a StackedZoneoutLSTM).
        kernels: cell.rnn.fused_kernels("float32"), [4 units, D + units] each, made outside (their gradient
            flows on to the variables).
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
        lstm_ghosts = [tf.zeros([num_steps, 4 * units, batch_size], kernel.dtype)
                       for units, kernel in zip(cell.rnn.units, kernels)]
        context_ghost = tf.zeros([num_steps, batch_size, memory.shape[-1]], tf.float32)
        ghosts = lstm_ghosts + [context_ghost]
        # The backward products' layout, made once per batch before the loop: no gradient flows through it.
        both_layouts = [(kernel, tf.transpose(kernel)) for kernel in kernels]
        # Graph mode differentiates the loop with tf.gradients, not an inner tape (see the module docstring).
        eager = tf.executing_eagerly()
        with tf.GradientTape(persistent=True) if eager else contextlib.nullcontext() as tape:
            if eager:
                tape.watch([memory, inputs] + ghosts)
            outputs, layer_inputs = _loop(cell, initial, memory, memory_lengths, inputs, both_layouts,
                                          dict(lstm=lstm_ghosts, context=context_ghost), training)

        def gradient(*upstream, variables=None):
            upstream = [tf.zeros_like(output) if grad is None else grad for output, grad in zip(outputs, upstream)]
            trainable = [variable for variable in variables if variable.dtype.is_floating]
            sources = [memory, inputs] + ghosts + trainable
            zero = tf.UnconnectedGradients.ZERO
            if eager:
                grads = tape.gradient(list(outputs), sources, output_gradients=upstream, unconnected_gradients=zero)
            else:
                grads = tf.gradients(list(outputs), sources, grad_ys=upstream, unconnected_gradients=zero)
            *lstm_ghost_grads, context_ghost_grad = grads[2:2 + len(ghosts)]
            variable_grads = iter(grads[2 + len(ghosts):])
            kernel_grads = [_outer_product_sum(ghost_grad, stacked, kernel.dtype)
                            for stacked, ghost_grad, kernel in zip(layer_inputs, lstm_ghost_grads, kernels)]
            alignments = outputs[1]
            memory_grad = grads[0] + tf.cast(
                tf.einsum("tbi,tbd->bid", alignments, tf.cast(context_ghost_grad, tf.float32)), memory.dtype)
            return ([memory_grad, grads[1]] + kernel_grads,
                    [next(variable_grads) if variable.dtype.is_floating else None for variable in variables])

        return outputs, gradient

    projection_inputs, alignments = decode(memory, inputs, *kernels)
    frames, stop_logits = cell.project(projection_inputs)
    return frames, stop_logits, alignments


def _outer_product_sum(left, right, dtype):
    """sum over t of left[t] right[t]^T, in float32: [T, G, B] x [T, D, B] -> [G, D], cast to `dtype`."""
    left, right = tf.cast(left, tf.float32), tf.cast(right, tf.float32)
    return tf.cast(tf.einsum("tgb,tdb->gd", left, right), dtype)


def _loop(cell, initial, memory, memory_lengths, inputs, kernels, ghosts, training):
    """The while loop; kernels: one (fused kernel, its transpose) pair per LSTM layer; ghosts: dict(lstm=[one
    [T_dec, 4 units, B] per layer], context=[T_dec, B, D_mem]) zeros. Returns ((projection inputs [T_dec, B,
    D_rnn + D_mem], alignments [T_dec, B, T_in]), stacked LSTM inputs per layer), all stacked time-major."""
    num_steps = tf.shape(inputs)[0]
    processed, state = initial(memory)
    state = cell.loop_state(state, [kernel for kernel, _ in kernels])
    # Inside the loop the memory only forms the attention context (alignments x memory); its gradient
    # through the context is formed after the loop from the context ghost's, so none is accumulated here.
    loop_memory = tf.stop_gradient(memory)
    # Per-step tensors are popped from TensorLists that hold them last step first. The gradient of a pop is one
    # push onto the gradient's list, O(1) per step. A TensorArray read's gradient is a full-length list added to
    # the accumulated one at every step, O(T_dec) per step; the gradient of a slice of a tensor held by the loop
    # is a full-size tensor added up at every step.
    per_step = [inputs] + ghosts["lstm"] + [ghosts["context"]]
    step_lists = [_step_list(tensor) for tensor in per_step]
    # What a pop needs of each tensor, taken once here rather than at every step.
    elements = [(tf.shape(tensor)[1:], tensor.dtype, tensor.shape[1:]) for tensor in per_step]
    # [RNN output, context] is float32 under every policy (the LSTM states and outputs are, modules/rnn_cells.py).
    arrays = (tf.TensorArray(tf.float32, size=num_steps), [tf.TensorArray(kernel.dtype, size=num_steps)
                                                      for kernel, _ in kernels])

    def body(step, state, projection_ta, stacked_tas, step_lists):
        popped = [_pop(handle, *element) for handle, element in zip(step_lists, elements)]
        step_lists = [handle for handle, _ in popped]
        step_input, *lstm_ghosts, context_ghost = [item for _, item in popped]
        (projection_input, stacked), state = cell.call(
            step_input, state=state, memory=loop_memory, processed_memory=processed,
            memory_lengths=memory_lengths, training=training, fused_kernels=kernels,
            ghosts=dict(lstm=lstm_ghosts, context=context_ghost), project=False)
        stacked_tas = [array.write(step, value) for array, value in zip(stacked_tas, stacked)]
        return step + 1, state, projection_ta.write(step, projection_input), stacked_tas, step_lists

    _, state, projection_ta, stacked_tas, _ = tf.while_loop(
        lambda step, *_: step < num_steps, body, (tf.constant(0), state) + arrays + (step_lists,),
        maximum_iterations=num_steps)
    outputs = (projection_ta.stack(), state.alignment_history.stack())
    return outputs, [array.stack() for array in stacked_tas]


def _step_list(tensor):
    """A TensorList of the T_dec slices of `tensor` [T_dec, ...], last step first, so that step t pops slice t."""
    return tf.raw_ops.TensorListFromTensor(tensor=tf.reverse(tensor, [0]), element_shape=tf.shape(tensor)[1:])


def _pop(handle, element_shape, dtype, static_shape):
    """(the list without its last element, that element): one step's slice, of `element_shape` (an int32
    tensor; its static form `static_shape`) and `dtype`."""
    handle, item = tf.raw_ops.TensorListPopBack(input_handle=handle, element_shape=element_shape,
                                                element_dtype=dtype)
    return handle, tf.ensure_shape(item, static_shape)
