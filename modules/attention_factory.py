"""The attention registry: `attention_type` -> layer class, and the one config that carries their settings.

Every attention layer takes its settings from one `AttentionConfig` (`layer_class.from_attention_config`), whose
field names are the hparam names, so a new setting is one field here, one hparam and the layer that reads it.
"""
import collections

from modules.attention import BahdanauAttention
from modules.attention import GMMAttentionComputer
from modules.attention import LocationSensitiveAttention
from modules.attention_names import ATTENTION_TYPES
from modules.dca_attention import DynamicConvolutionAttention

# In the order of ATTENTION_TYPES (the names live there, free of TensorFlow, for hparams.py).
ATTENTION_LAYERS = dict(zip(ATTENTION_TYPES, (BahdanauAttention, LocationSensitiveAttention, GMMAttentionComputer,
                                              DynamicConvolutionAttention)))

AttentionConfig = collections.namedtuple("AttentionConfig", (
    "attention_type",                                   # a key of ATTENTION_LAYERS
    "attention_dim",                                    # additive attentions and DCA: hidden size
    "location_filters", "location_kernel_size",         # location-sensitive attention
    "gmm_version", "gmm_num_mixtures", "gmm_hidden_units", "gmm_hidden_activation",     # GMM attention
    "dca_filters", "dca_kernel_size", "dca_prior_alpha", "dca_prior_beta", "dca_prior_length",
    "dca_prior_floor",                                  # dynamic convolution attention
))


def attention_config_from(values):
    """An AttentionConfig from any mapping or object holding (at least) its fields, e.g. HParams or a dict."""
    if isinstance(values, dict):
        return AttentionConfig(**{field: values[field] for field in AttentionConfig._fields})
    return AttentionConfig(**{field: getattr(values, field) for field in AttentionConfig._fields})


def create_attention(config, name="attention"):
    """The attention layer that `config.attention_type` names, built from `config` (an AttentionConfig)."""
    if config.attention_type not in ATTENTION_LAYERS:
        raise ValueError(f"unknown attention_type {config.attention_type!r}; "
                         f"choose one of {', '.join(ATTENTION_TYPES)}")
    return ATTENTION_LAYERS[config.attention_type].from_attention_config(config, name=name)
