"""Matrix products of the decoder LSTMs, in the forms that run fastest on CPU (TF 2.21, oneDNN).

`matmul`: x @ w with a gradient that avoids the transposed-weight matmul kernel.

The gradient of x @ w with respect to x is dz @ w^T. TensorFlow computes it as MatMul(dz, w, transpose_b=True),
which on CPU (TF 2.21, oneDNN) is 4-5x slower than the forward product at a decoder step's shapes
(dz [16, 4096], w [1792, 4096]: 12 ms against 2.5 ms, benchmarks/README.md). The same numbers come from the
einsum "bj,ij->bi", which runs as fast as the forward product; so does the weight gradient x^T @ dz. The
result is the same product: outputs agree exactly, gradients within float32 round-off. The einsum is an
ordinary op on every device (GPU included).

`unit_major_matmul_input_gradient_only`: the decoder LSTMs' product in the layout the decoder loops keep their
states in, "unit-major" ([features, B], modules/rnn_cells.py): z^T = w_t @ x^T with the kernel stored
transposed, w_t = w^T [D_out, D_in] (stacked once per batch, outside the decoder loop). At a decoder step's
shapes this form needs no transpose of its input or output, and the LSTM gates split along the first axis
(contiguous). float32: two layers per step take 4.8 instead of 5.4 ms at batch 16 and 2.1 instead of 2.6 ms
at batch 1, against the same product transposed back to [B, D_out] (benchmarks/README.md, "Third round").
bfloat16 on a CPU with AMX (oneDNN): w_t @ x^T takes 0.40 ms at batch 16 and 0.46 ms at batch 1 for a
[4096, 2048] kernel, against 0.64 and 0.59 ms for the batch-major x @ w_t^T ("Fifth round").

`unit_major_product`: the float32 form of those products depends on the batch. TensorFlow's oneDNN build runs
MatMul through a GEMM routine and Einsum through oneDNN's matmul primitive. With a [4096, 2048] kernel
(100-step while loop, fastest of 5), the primitive takes 1.05 ms from batch 2 to 16, against 1.25-1.34 ms
for MatMul. At batch 1 MatMul's matrix-vector path wins, 0.69 against 1.03 ms, and so it does for kernels
under about half a million weights (the small preset's [512, 320]: 46 against 84 us at batch 16). In bfloat16
Einsum is no faster forward and slower for the input gradient (0.99 against 0.80 ms), so MatMul stays
(benchmarks/README.md, "Sixth round"). The form is picked when tracing: MatMul only for a batch known to be 1.
A tf.cond on the batch size at every decoder step cost 5 % of a batch-1 synthesis, so a caller that may meet a
batch of 1 without knowing it traces that case apart, once, outside its loop (`depends_on_batch_size`;
TacotronDecoder.infer). Training with an unknown batch size runs Einsum, right for every batch but 1
("Ninth round").
"""
import tensorflow as tf

# Kernels with at least this many weights use Einsum for float32 products from batch 2 (unit_major_product).
EINSUM_MIN_WEIGHTS = 1 << 20


@tf.custom_gradient
def matmul(x, w):
    """x: [B, D_in]; w: [D_in, D_out]. Returns x @ w, [B, D_out]."""

    def gradient(dz):
        return tf.einsum("bj,ij->bi", dz, w), tf.matmul(x, dz, transpose_a=True)

    return tf.matmul(x, w), gradient


@tf.custom_gradient
def unit_major_matmul_input_gradient_only(x_t, w_t, w):
    """w_t @ x_t whose gradient reaches x_t only (the kernels' gradients are formed after the teacher-forced
    loop, modules/teacher_forcing.py). The gradient w_t^T @ dz_t is computed from the kernel in its other
    layout, w = w_t^T (made once, outside the loop): in float32 as w @ dz_t (no transpose; 1.36 ms for a
    [2048, 4096] kernel at batch 16, against 1.85 ms for w_t^T @ dz_t; unit_major_product picks the op), in
    bfloat16 and float16 as (dz_t^T @ w^T)^T, the form oneDNN's reduced-precision products read fastest
    (0.63 against 0.78 ms for w @ dz_t, with AMX).

    Args:
        x_t: [D_in, B] (unit-major input); w_t: [D_out, D_in]; w: [D_in, D_out], the same kernel.
    Returns:
        [D_out, B]
    """

    def gradient(dz_t):
        if w.dtype == tf.float32:
            return unit_major_product(w, dz_t), None, None
        return tf.transpose(tf.matmul(tf.transpose(dz_t), w, transpose_b=True)), None, None

    return unit_major_product(w_t, x_t), gradient


def depends_on_batch_size(w_t):
    """True when unit_major_product's form for this kernel depends on the batch size (float32, at least
    EINSUM_MIN_WEIGHTS weights): MatMul at batch 1, Einsum otherwise. w_t: [D_out, D_in]."""
    weights = w_t.shape.num_elements()
    return w_t.dtype == tf.float32 and weights is not None and weights >= EINSUM_MIN_WEIGHTS


def unit_major_product(w_t, x_t):
    """w_t @ x_t in the fastest form for its dtype, size and batch size, picked when tracing: for a float32
    kernel of at least EINSUM_MIN_WEIGHTS weights, MatMul for a batch known to be 1 and Einsum otherwise (a
    batch of 2 or more, or unknown); MatMul for other kernels. The same product either way (round-off aside).

    Args:
        w_t: [D_out, D_in]; x_t: [D_in, B].
    Returns:
        [D_out, B]
    """
    if depends_on_batch_size(w_t) and x_t.shape[1] != 1:
        return tf.einsum("oi,ib->ob", w_t, x_t)
    return tf.matmul(w_t, x_t)
