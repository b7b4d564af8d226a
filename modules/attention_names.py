"""The names of the attention mechanisms and GMM versions, without importing TensorFlow (hparams.py and
preprocessing workers read them): `modules/attention_factory.py` pairs each name with its layer."""

ATTENTION_TYPES = ("bahdanau", "location_sensitive", "gmm", "dca")
GMM_VERSIONS = ("v0", "v1", "v2", "v2b")  # Battenberg et al. 2019, Table 1
