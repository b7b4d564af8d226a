"""The hyper-parameters' definitions: every name with its default (the course's hparams.yaml where the course
sets it) and documentation, the small preset, and the range each value must lie in. hparams.py loads and
checks values against these tables.
"""

# (name, default, documentation). Defaults equal the course's hparams.yaml where the course sets them.
DEFINITIONS = (
    # Training.
    ("batch_size", 48, "Utterances per training batch."),
    ("start_lr", 2e-4, "Learning rate until start_decay."),
    ("end_lr", 2e-6, "Lower bound of the learning rate."),
    ("start_decay", 25000, "Step at which the staircase exponential decay starts."),
    ("decay_steps", 25000, "Steps per decay stair."),
    ("decay_rate", 0.5, "Multiplier per decay stair."),
    ("adam_beta1", 0.9, "Adam beta_1."),
    ("adam_beta2", 0.999, "Adam beta_2."),
    ("adam_epsilon", 1e-6, "Adam epsilon."),
    ("cross_entropy_pos_weight", 20.0, "pos_weight of the stop-token sigmoid cross-entropy."),
    ("guided_attention_weight", 0.0, "Weight of the guided attention loss (Tachibana et al. 2018), which "
                                     "penalises attention far from the diagonal; 0 = off (the course has none). "
                                     "1.0 makes content-based and location-sensitive attention align quickly."),
    ("guided_attention_sigma", 0.4, "Width of the guided attention loss's penalty-free band (as a fraction "
                                    "of the lengths)."),
    ("gradclip_value", 1.0, "Gradients are clipped to this global norm."),
    ("total_training_steps", 400000, "Training stops at this step unless --max_steps says otherwise."),
    ("save_summary_steps", 1000, "TensorBoard summaries (losses, images, audio) every N steps."),
    ("save_checkpoints_steps", 5000, "Checkpoint every N steps (and at the end)."),
    ("keep_checkpoint_max", 3, "Checkpoints kept by the CheckpointManager."),
    ("random_seed", 20200813, "Seed for weights, shuffling and dropout."),
    ("retrain_decoder_only", False, "Freeze the phone embedding, encoder pre-net and encoder."),
    ("num_buckets", 8, "Training batches are cut from windows of this many batches sorted by length (less "
                       "padding; 1 = plain shuffled batches)."),
    # Features.
    ("sample_rate", 16000, "Audio sample rate in Hz; other rates are resampled."),
    ("n_fft", 2048, "FFT size."),
    ("hop_size", 200, "Hop in samples (12.5 ms at 16 kHz); one mel frame per hop."),
    ("win_size", 800, "Window length in samples."),
    ("acoustic_dim", 80, "Mel bands."),
    ("fmin", 0.0, "Lowest mel frequency in Hz."),
    ("fmax", 8000.0, "Highest mel frequency in Hz."),
    ("min_level_db", -115.0, "Floor of the mel amplitude in dB, applied before ref_level_db is subtracted."),
    ("min_db", -115.0, "dB value mapped to -max_abs_value by the normalisation (course utils/audio.py)."),
    ("ref_level_db", 20.0, "Reference level subtracted from the dB mel."),
    ("max_abs_value", 4.0, "Mels are normalised symmetrically to [-max_abs_value, max_abs_value]."),
    ("trim_fft_size", 512, "Frame length of the silence trimmer."),
    ("trim_hop_size", 128, "Hop of the silence trimmer."),
    ("trim_top_db", 30.0, "Silence threshold in dB below the peak."),
    ("num_silent_frames", 4, "Silence kept around the trimmed audio, in hops (half before, double after)."),
    ("max_acoustic_length", 2000, "Utterances with more mel frames are skipped by preprocessing."),
    ("griffin_lim_power", 1.5, "Magnitudes are raised to this power before Griffin-Lim."),
    ("griffin_lim_iters", 60, "Griffin-Lim iterations."),
    ("synthesize_wave", True, "synthesize.py writes Griffin-Lim wavs (its --wav / --no_wav flags override)."),
    # Model.
    ("outputs_per_step", 5, "r: mel frames per decoder step (the course recipe uses 2)."),
    ("phone_embedding_dim", 512, "Phone embedding size."),
    ("encoder_prenet_units", [512, 512], "Encoder pre-net layer sizes."),
    ("encoder_prenet_dropout", 0.1, "Encoder pre-net dropout rate (kept on at inference, as in the course)."),
    ("cbhg_bank_size", 16, "CBHG conv bank: kernel sizes 1..K."),
    ("cbhg_bank_filters", 128, "CBHG conv bank filters per kernel size."),
    ("cbhg_projection_filters", [512, 512], "CBHG conv projection widths (the last one: the residual's)."),
    ("cbhg_projection_kernel_size", 3, "CBHG conv projection kernel."),
    ("cbhg_highway_units", 128, "CBHG highway width (a dense layer maps the residual sum to it)."),
    ("cbhg_highway_layers", 4, "CBHG highway layers."),
    ("cbhg_gru_units", 128, "CBHG GRU units per direction (memory width is twice this)."),
    ("cbhg_gru_reset_after", False, "CBHG GRU applies the reset gate after the matmul (cuDNN's GRU); the "
                                    "course's TF1 GRUCell applies it before (false)."),
    ("decoder_prenet_units", [256, 256], "Decoder pre-net layer sizes."),
    ("decoder_prenet_dropout", 0.2, "Decoder pre-net dropout rate (kept on at inference, as in the course)."),
    ("decoder_rnn_units", [1024, 1024], "Decoder zoneout-LSTM layer sizes."),
    ("zoneout_rate", 0.1, "Zoneout rate of the decoder LSTMs (random in training, expectation at inference)."),
    ("attention_type", "gmm", "One of bahdanau, location_sensitive, gmm, dca."),
    ("attention_dim", 128, "Hidden size of content-based and location-sensitive attention."),
    ("location_filters", 32, "Location-sensitive attention: filters over cumulative alignments."),
    ("location_kernel_size", 31, "Location-sensitive attention: filter length."),
    ("attention_window", [], "Synthesis only, bahdanau / location_sensitive / dca: [back, ahead] attends only "
                             "to encoder steps that close to the previous step's peak (ESPnet's attention "
                             "constraint); [] = off."),
    ("inference_precision", "float32", "Synthesis only: float32, or bfloat16 for the decoder LSTMs' and the "
                                       "post-net's products (faster synthesis; see README, Speed)."),
    ("gmm_version", "v2b", "GMM attention version: v0, v1, v2, v2b (Battenberg et al. 2019, Table 1)."),
    ("gmm_num_mixtures", 5, "GMM attention: mixture components K."),
    ("gmm_hidden_units", 256, "GMM attention: hidden units of the MLP on the query."),
    ("gmm_hidden_activation", "relu", "GMM attention: MLP activation (the paper uses tanh with 128 units)."),
    ("dca_filters", 8, "Dynamic convolution attention: static filters, and dynamic filters."),
    ("dca_kernel_size", 21, "Dynamic convolution attention: length of the static and dynamic filters."),
    ("dca_prior_alpha", 0.1, "Dynamic convolution attention: beta-binomial prior alpha."),
    ("dca_prior_beta", 0.9, "Dynamic convolution attention: beta-binomial prior beta."),
    ("dca_prior_length", 11, "Dynamic convolution attention: length of the causal prior filter."),
    ("dca_prior_floor", 1e-6, "Dynamic convolution attention: floor of the prior before its log."),
    ("postnet_layers", 5, "Post-net conv layers."),
    ("postnet_filters", 512, "Post-net channels."),
    ("postnet_kernel_size", 5, "Post-net kernel size."),
    ("postnet_dropout", 0.0, "Post-net dropout rate (training only)."),
    ("stop_threshold", 0.5, "Inference stops when the stop probability exceeds this."),
    ("min_decoder_steps", 12, "Inference runs at least this many decoder steps (course: time > min_iters=10, "
                          "so the 12th step is the first that may stop)."),
    ("max_frames_per_phone", 20, "Inference step limit grows with the input: max frames = this x phones."),
)

# The small preset: the same model at a size that trains in minutes on 2 CPU cores (tests and the demo).
PRESET_SMALL = {
    "batch_size": 16,
    "start_lr": 2e-3,
    "end_lr": 1e-4,
    "start_decay": 2000,
    "decay_steps": 2000,
    "save_summary_steps": 100,
    "save_checkpoints_steps": 200,
    "phone_embedding_dim": 64,
    "encoder_prenet_units": [64, 64],
    "cbhg_bank_size": 4,
    "cbhg_bank_filters": 32,
    "cbhg_projection_filters": [64, 64],
    "cbhg_highway_units": 64,
    "cbhg_highway_layers": 2,
    "cbhg_gru_units": 64,
    "decoder_prenet_units": [64, 64],
    "decoder_rnn_units": [128, 128],
    "attention_dim": 64,
    "gmm_hidden_units": 64,
    "postnet_layers": 3,
    "postnet_filters": 64,
    "postnet_dropout": 0.1,
}

POSITIVE = ("batch_size", "start_decay", "decay_steps", "total_training_steps", "save_summary_steps",
             "save_checkpoints_steps", "keep_checkpoint_max", "sample_rate", "n_fft", "hop_size",
             "win_size", "acoustic_dim", "trim_fft_size", "trim_hop_size", "max_acoustic_length",
             "griffin_lim_iters", "outputs_per_step", "phone_embedding_dim", "cbhg_bank_size",
             "cbhg_bank_filters", "cbhg_projection_kernel_size", "cbhg_highway_units", "cbhg_gru_units",
             "attention_dim", "location_filters", "location_kernel_size", "gmm_num_mixtures",
             "gmm_hidden_units", "postnet_layers", "postnet_filters", "postnet_kernel_size",
             "max_frames_per_phone", "dca_filters", "dca_kernel_size",
             "dca_prior_alpha", "dca_prior_beta", "dca_prior_length", "dca_prior_floor", "num_buckets", "guided_attention_sigma", "start_lr", "end_lr",
             "max_abs_value", "griffin_lim_power")
NON_NEGATIVE = ("guided_attention_weight", "num_silent_frames", "cbhg_highway_layers", "min_decoder_steps", "fmin", "gradclip_value",
                 "cross_entropy_pos_weight", "trim_top_db")
RATES = ("encoder_prenet_dropout", "decoder_prenet_dropout", "zoneout_rate", "postnet_dropout",
          "stop_threshold", "decay_rate", "adam_beta1", "adam_beta2")
POSITIVE_LISTS = ("encoder_prenet_units", "cbhg_projection_filters", "decoder_prenet_units",
                   "decoder_rnn_units")
