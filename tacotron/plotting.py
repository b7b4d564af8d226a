"""Pictures of alignments and mels (matplotlib, Agg backend), as PNG files or bytes for TensorBoard."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from datasets.fileio import atomic_path  # noqa: E402


def _figure_png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def alignment_png(alignment, title="", input_length=None, output_steps=None):
    """PNG bytes of one alignment.

    Args:
        alignment: [T_dec, T_in] array (decoder steps x encoder steps).
        input_length, output_steps: optional true lengths; the plot is cut to them.
    """
    alignment = np.asarray(alignment, dtype=np.float32)
    if output_steps is not None:
        alignment = alignment[:output_steps]
    if input_length is not None:
        alignment = alignment[:, :input_length]
    figure, axis = plt.subplots(figsize=(6, 4))
    image = axis.imshow(alignment.T, aspect="auto", origin="lower", interpolation="none", cmap="viridis")
    figure.colorbar(image, ax=axis)
    axis.set_xlabel("decoder step")
    axis.set_ylabel("encoder step (phone)")
    axis.set_title(title)
    return _figure_png(figure)


def mel_comparison_png(predicted, target=None, title=""):
    """PNG bytes of a predicted mel [T, n_mels], above its target when given."""
    rows = 2 if target is not None else 1
    figure, axes = plt.subplots(rows, 1, figsize=(8, 2.6 * rows), squeeze=False)
    panels = [("predicted", predicted)] + ([("target", target)] if target is not None else [])
    for axis, (name, mel) in zip(axes[:, 0], panels):
        axis.imshow(np.asarray(mel).T, aspect="auto", origin="lower", interpolation="none", cmap="magma")
        axis.set_title(f"{title} {name}".strip())
    return _figure_png(figure)


def write_png(path, png_bytes):
    """Writes PNG bytes atomically."""
    with atomic_path(path) as temp_path:
        with open(temp_path, "wb") as handle:
            handle.write(png_bytes)
