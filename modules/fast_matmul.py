"""Matrix products of the decoder LSTMs, in the forms that run fastest on CPU (TF 2.21, oneDNN).

`matmul`: x @ w with a gradient that avoids the transposed-weight matmul kernel.

The gradient of x @ w with respect to x is dz @ w^T. TensorFlow computes it as MatMul(dz, w, transpose_b=True),
which on CPU (TF 2.21, oneDNN) is 4-5x slower than the forward product at a decoder step's shapes
(dz [16, 4096], w [1792, 4096]: 12 ms against 2.5 ms, benchmarks/README.md). The same numbers come from the
einsum "bj,ij->bi", which runs as fast as the forward product; so does the weight gradient x^T @ dz. The
result is the same product: outputs agree exactly, gradients within float32 round-off. The einsum is an
ordinary op on every device (GPU included).

`unit_major_matmul_input_gradient_only`: the decoder LSTMs' product in the layout the float32 decoder loops keep
their states in, "unit-major" ([features, B], modules/rnn_cells.py): z^T = w_t @ x^T with the kernel stored
transposed, w_t = w^T [D_out, D_in] (stacked once per batch, outside the decoder loop). At a decoder step's
shapes this form needs no transpose of its input or output, and the LSTM gates split along the first axis
(contiguous): two layers per step take 4.8 instead of 5.4 ms at batch 16 and 2.1 instead of 2.6 ms at batch 1,
against the same product transposed back to [B, D_out] (benchmarks/README.md, "Third round").

`transposed_kernel_matmul`: x @ w_t^T for the batch-major layout, kept for bfloat16 (and float16) kernels,
whose fastest product here is this one (x [B, D_in] @ w_t^T; the unit-major form is slower in bfloat16).
"""
import tensorflow as tf


@tf.custom_gradient
def matmul(x, w):
    """x: [B, D_in]; w: [D_in, D_out]. Returns x @ w, [B, D_out]."""

    def gradient(dz):
        return tf.einsum("bj,ij->bi", dz, w), tf.matmul(x, dz, transpose_a=True)

    return tf.matmul(x, w), gradient


def transposed_kernel_matmul(x, w_t):
    """x: [B, D_in]; w_t: [D_out, D_in] (the kernel transposed), of x's dtype. Returns x @ w_t^T, [B, D_out]."""
    return tf.matmul(x, w_t, transpose_b=True)


@tf.custom_gradient
def transposed_kernel_matmul_input_gradient_only(x, w_t, w):
    """transposed_kernel_matmul whose gradient reaches x only; the kernels get none. For the products inside
    the teacher-forced decoder loop, whose kernel gradients are formed after the loop in one product each
    (modules/teacher_forcing.py). The gradient dz @ w^T is computed as (w @ dz^T)^T from the kernel in its
    other layout, w = w_t^T (made once, outside the loop), which reads faster than any product of w_t.

    Args:
        x: [B, D_in]; w_t: [D_out, D_in]; w: [D_in, D_out], the same kernel.
    Returns:
        [B, D_out]
    """

    def gradient(dz):
        return tf.transpose(tf.matmul(w, dz, transpose_b=True)), None, None

    return transposed_kernel_matmul(x, w_t), gradient


@tf.custom_gradient
def unit_major_matmul_input_gradient_only(x_t, w_t, w):
    """w_t @ x_t whose gradient reaches x_t only (the kernels' gradients are formed after the teacher-forced
    loop, modules/teacher_forcing.py). The gradient w_t^T @ dz_t is computed as w @ dz_t from the kernel in its
    other layout, w = w_t^T (made once, outside the loop), again with no transpose.

    Args:
        x_t: [D_in, B] (unit-major input); w_t: [D_out, D_in]; w: [D_in, D_out], the same kernel.
    Returns:
        [D_out, B]
    """

    def gradient(dz_t):
        return tf.matmul(w, dz_t), None, None

    return tf.matmul(w_t, x_t), gradient
