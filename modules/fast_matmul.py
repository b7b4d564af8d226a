"""x @ w with a gradient that avoids the transposed-weight matmul kernel.

The gradient of x @ w with respect to x is dz @ w^T. TensorFlow computes it as MatMul(dz, w, transpose_b=True),
which on CPU (TF 2.21, oneDNN) is 4-5x slower than the forward product at a decoder step's shapes
(dz [16, 4096], w [1792, 4096]: 12 ms against 2.5 ms, benchmarks/README.md). The same numbers come from the
einsum "bj,ij->bi", which runs as fast as the forward product; so does the weight gradient x^T @ dz. The
result is the same product: outputs agree exactly, gradients within float32 round-off. The einsum is an
ordinary op on every device (GPU included).
"""
import tensorflow as tf


@tf.custom_gradient
def matmul(x, w):
    """x: [B, D_in]; w: [D_in, D_out]. Returns x @ w, [B, D_out]."""

    def gradient(dz):
        return tf.einsum("bj,ij->bi", dz, w), tf.matmul(x, dz, transpose_a=True)

    return tf.matmul(x, w), gradient


@tf.custom_gradient
def matmul_input_gradient_only(x, w):
    """x @ w whose gradient reaches x only (dz @ w^T, as `matmul`); w gets none. For a product inside the
    teacher-forced decoder loop whose weight gradient is formed after the loop in one product
    (modules/teacher_forcing.py). x: [B, D_in]; w: [D_in, D_out]. Returns [B, D_out]."""

    def gradient(dz):
        return tf.einsum("bj,ij->bi", dz, w), None

    return tf.matmul(x, w), gradient

