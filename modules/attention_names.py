"""The names of the attention mechanisms and GMM versions (and of the synthesis precisions), without importing
TensorFlow (hparams.py and preprocessing workers read them): `modules/attention_factory.py` pairs each
attention name with its layer; modules/rnn_cells.py implements the precisions."""

ATTENTION_TYPES = ("bahdanau", "location_sensitive", "gmm", "dca")
GMM_VERSIONS = ("v0", "v1", "v2", "v2b")  # Battenberg et al. 2019, Table 1
# Free-running decoding can run the decoder LSTMs' products in bfloat16 (modules/rnn_cells.py).
INFERENCE_PRECISIONS = ("float32", "bfloat16")
