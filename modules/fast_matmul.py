"""Matrix products of the decoder LSTMs, in the forms that run fastest on CPU (TF 2.21, oneDNN).

`matmul`: x @ w with a gradient that avoids the transposed-weight matmul kernel.

The gradient of x @ w with respect to x is dz @ w^T. TensorFlow computes it as MatMul(dz, w, transpose_b=True),
which on CPU (TF 2.21, oneDNN) is 4-5x slower than the forward product at a decoder step's shapes
(dz [16, 4096], w [1792, 4096]: 12 ms against 2.5 ms, benchmarks/README.md). The same numbers come from the
einsum "bj,ij->bi", which runs as fast as the forward product; so does the weight gradient x^T @ dz. The
result is the same product: outputs agree exactly, gradients within float32 round-off. The einsum is an
ordinary op on every device (GPU included).

`transposed_kernel_matmul`: x @ w for a kernel stored transposed, w_t = w^T [D_out, D_in], the layout of the
decoder LSTMs' stacked kernels (made once per batch, outside the decoder loop). float32 computes it as
(w_t @ x^T)^T, which at a decoder step's shapes is 15-25 % faster than x @ w (batch 1 and 16: two layers
2.7 -> 2.3 ms and 7.0 -> 5.3 ms per step); bfloat16 as x @ w_t^T, its fastest form (1.8 and 3.0 ms; the
float32 form would be 3.2 and 3.4 ms). Same numbers, other loop order: outputs agree within round-off.
"""
import tensorflow as tf


@tf.custom_gradient
def matmul(x, w):
    """x: [B, D_in]; w: [D_in, D_out]. Returns x @ w, [B, D_out]."""

    def gradient(dz):
        return tf.einsum("bj,ij->bi", dz, w), tf.matmul(x, dz, transpose_a=True)

    return tf.matmul(x, w), gradient


def transposed_kernel_matmul(x, w_t):
    """x: [B, D_in]; w_t: [D_out, D_in] (the kernel transposed), float32 or bfloat16 like x.
    Returns x @ w_t^T, [B, D_out]."""
    if w_t.dtype == tf.bfloat16:
        return tf.matmul(x, w_t, transpose_b=True)
    return tf.transpose(tf.matmul(w_t, x, transpose_b=True))


@tf.custom_gradient
def transposed_kernel_matmul_input_gradient_only(x, w_t, w):
    """transposed_kernel_matmul whose gradient reaches x only; the kernels get none. For the products inside
    the teacher-forced decoder loop, whose kernel gradients are formed after the loop in one product each
    (modules/teacher_forcing.py). The gradient dz @ w^T is computed as (w @ dz^T)^T from the kernel in its
    other layout, w = w_t^T (made once, outside the loop): 2.6 ms at [16, 4096] x [4096, 2048], against
    3.2-3.5 ms for any product that reads w_t.

    Args:
        x: [B, D_in] float32; w_t: [D_out, D_in]; w: [D_in, D_out], the same kernel.
    Returns:
        [B, D_out]
    """

    def gradient(dz):
        return tf.transpose(tf.matmul(w, dz, transpose_b=True)), None, None

    return transposed_kernel_matmul(x, w_t), gradient
