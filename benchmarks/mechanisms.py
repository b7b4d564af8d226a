"""The attention mechanisms the benchmarks compare: name -> the hparams that make it (on top of the small
preset). A "+guided" name adds the guided attention loss."""

# Guided attention loss of the "+guided" rows: sigma 0.4 as Tachibana et al. 2018, ESPnet and Coqui; weight 1 on
# our per-decoder-step loss (tacotron/losses.py), which the experiments in docs/attention_benchmark.md found enough.
GUIDED = {"guided_attention_weight": 1.0, "guided_attention_sigma": 0.4}
# Mechanism name -> the hparams that make it (on top of the small preset and --hparams).
MECHANISMS = {"bahdanau": {"attention_type": "bahdanau"},
              "location_sensitive": {"attention_type": "location_sensitive"},
              "gmm_v0": {"attention_type": "gmm", "gmm_version": "v0"},
              "gmm_v1": {"attention_type": "gmm", "gmm_version": "v1"},
              "gmm_v2": {"attention_type": "gmm", "gmm_version": "v2"},
              "gmm_v2b": {"attention_type": "gmm", "gmm_version": "v2b"},
              "dca": {"attention_type": "dca"},
              "bahdanau+guided": dict(GUIDED, attention_type="bahdanau"),
              "location_sensitive+guided": dict(GUIDED, attention_type="location_sensitive")}
