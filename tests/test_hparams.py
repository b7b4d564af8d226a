"""hparams: course defaults, YAML (flat and sectioned), overrides with type coercion, errors."""
import hashlib
import os

import pytest
import yaml

import hparams as hparams_lib


def test_course_defaults():
    hp = hparams_lib.default_hparams()
    expected = dict(batch_size=48, start_decay=25000, decay_steps=25000, decay_rate=0.5, start_lr=2e-4,
                    end_lr=2e-6, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-6,
                    cross_entropy_pos_weight=20, gradclip_value=1.0, total_training_steps=400000,
                    save_summary_steps=1000, save_checkpoints_steps=5000, keep_checkpoint_max=3,
                    stop_threshold=0.5, random_seed=20200813, min_level_db=-115, ref_level_db=20, fmin=0,
                    fmax=8000, sample_rate=16000, num_silent_frames=4, max_acoustic_length=2000,
                    max_abs_value=4, trim_fft_size=512, trim_hop_size=128, trim_top_db=30, min_db=-115,
                    outputs_per_step=5, acoustic_dim=80, n_fft=2048, hop_size=200, win_size=800,
                    phone_embedding_dim=512, attention_dim=128, griffin_lim_power=1.5,
                    griffin_lim_iters=60)
    for name, value in expected.items():
        assert getattr(hp, name) == value, name
    assert hp.attention_type in hparams_lib.ATTENTION_TYPES
    assert hp.gmm_version in hparams_lib.GMM_VERSIONS


def test_overrides_are_coerced_to_the_default_type():
    hp = hparams_lib.load_hparams(
        overrides="batch_size=16,decoder_prenet_units=[128, 64],retrain_decoder_only=true,"
                  "start_lr=1e-3,attention_type=location_sensitive,fmax=7600")
    assert hp.batch_size == 16 and isinstance(hp.batch_size, int)
    assert hp.decoder_prenet_units == [128, 64]
    assert hp.retrain_decoder_only is True
    assert hp.start_lr == pytest.approx(1e-3) and isinstance(hp.start_lr, float)
    assert hp.attention_type == "location_sensitive"
    assert hp.fmax == 7600.0 and isinstance(hp.fmax, float)


def test_sectioned_and_flat_yaml(tmp_path):
    sectioned = tmp_path / "course.yaml"
    sectioned.write_text(yaml.safe_dump({
        "Training": {"batch_size": 32, "start_lr": 0.001},
        "Features": {"hop_size": 200, "outputs_per_step": 2},
        "Models": {"Attention": {"attention_type": "gmm", "gmm_version": "v1"}},
    }))
    hp = hparams_lib.load_hparams(str(sectioned), overrides="batch_size=8")
    assert (hp.batch_size, hp.start_lr, hp.outputs_per_step, hp.gmm_version) == (8, 0.001, 2, "v1")
    flat = tmp_path / "flat.yaml"
    flat.write_text("batch_size: 4\nattention_type: bahdanau\n")
    hp = hparams_lib.load_hparams(str(flat))
    assert (hp.batch_size, hp.attention_type) == (4, "bahdanau")


def test_saved_yaml_round_trips(tmp_path):
    hp = hparams_lib.load_hparams(preset="small", overrides="gmm_version=v0,zoneout_rate=0.2")
    path = tmp_path / "hparams.yaml"
    hp.save(str(path))
    again = hparams_lib.load_hparams(str(path))
    assert again.values() == hp.values()


@pytest.mark.parametrize("overrides, message", [
    ("batch_sise=3", "did you mean batch_size"),
    ("outputs_per_step=0", "'outputs_per_step'"),
    ("batch_size=-2", "'batch_size'"),
    ("attention_type=dot", "'attention_type'"),
    ("gmm_version=v9", "'gmm_version'"),
    ("batch_size=1.5", "'batch_size'"),
    ("decoder_rnn_units=[256,-1]", "'decoder_rnn_units'"),
    ("zoneout_rate=abc", "'zoneout_rate'"),
    ("retrain_decoder_only=maybe", "'retrain_decoder_only'"),
    ("batch_size", "expected name=value"),
])
def test_errors_name_the_key(overrides, message):
    with pytest.raises(hparams_lib.HParamsError, match=message):
        hparams_lib.load_hparams(overrides=overrides)


def test_unknown_key_in_yaml_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("Training:\n  batchsize: 3\n")
    with pytest.raises(hparams_lib.HParamsError, match="bad.yaml.*batchsize.*batch_size"):
        hparams_lib.load_hparams(str(path))


def test_replace_validates_and_is_read_only():
    hp = hparams_lib.default_hparams()
    assert hp.replace(batch_size=3).batch_size == 3
    with pytest.raises(hparams_lib.HParamsError):
        hp.replace(stop_threshold=2.0)
    with pytest.raises(AttributeError):
        hp.batch_size = 4
    with pytest.raises(AttributeError, match="did you mean"):
        _ = hp.batch_sizes


COURSE_YAML = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "egs", "biaobei",
                           "hparams.yaml")
# sha256 of the course's 04_seq2seq_tts/tacotron/hparams.yaml (commit 186268b and master).
COURSE_YAML_SHA256 = "06719c5e497f8d0655ca7e59dcefe000f24f6e4afa412065eb238058aaf3372d"


def test_the_courses_own_hparams_yaml_loads_byte_for_byte():
    with open(COURSE_YAML, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == COURSE_YAML_SHA256
    hp = hparams_lib.load_hparams(COURSE_YAML)
    assert (hp.batch_size, hp.outputs_per_step, hp.start_lr, hp.griffin_lim_power) == (48, 5, 2e-4, 1.5)
    assert hp.synthesize_wave is False and hp.min_db == -115.0 and hp.n_fft == 2048
    # With the course's file the model is the course's (the same values as the course preset).
    assert hp.values() == hparams_lib.default_hparams().replace(synthesize_wave=False).values()
    again = hparams_lib.load_hparams(COURSE_YAML, overrides="batch_size=64,outputs_per_step=2")
    assert (again.batch_size, again.outputs_per_step) == (64, 2)


def test_course_preset_sizes_are_the_courses():
    hp = hparams_lib.default_hparams()
    assert hp.encoder_prenet_units == [512, 512] and hp.encoder_prenet_dropout == 0.1
    assert hp.cbhg_projection_filters == [512, 512] and hp.cbhg_highway_units == 128
    assert hp.cbhg_gru_reset_after is False
    assert hp.decoder_prenet_units == [256, 256] and hp.decoder_prenet_dropout == 0.2
    assert hp.decoder_rnn_units == [1024, 1024] and hp.zoneout_rate == 0.1
    assert (hp.postnet_layers, hp.postnet_filters, hp.postnet_kernel_size, hp.postnet_dropout) == (5, 512, 5, 0.0)
    assert hp.min_decoder_steps == 12
    small = hparams_lib.load_hparams(preset="small")
    assert small.decoder_rnn_units == [128, 128] and small.encoder_prenet_units == [64, 64]


@pytest.mark.parametrize("text, message", [
    ("Models:\n  preprocess_type: 'CustomProcessor'\n", "preprocess_type.*only 'BasicProcessor'"),
    ("acoustic_type: Bark\n", "acoustic_type.*only 'Mel'"),
    ("synthesizer_type: Other\n", "synthesizer_type"),
    ("Features:\n  num_freq: 513\n", "num_freq.*is 513 but n_fft 2048 implies 1025"),
    ("fft_size: 1024\n", "fft_size.*implies 2048"),
    ("power: 1.2\ngriffin_lim_power: 1.5\n", "'power' and 'griffin_lim_power' are the same setting"),
    ("supported_acoustic_type: 3\n", "supported_acoustic_type"),
])
def test_course_only_keys_are_checked(tmp_path, text, message):
    path = tmp_path / "course.yaml"
    path.write_text(text)
    with pytest.raises(hparams_lib.HParamsError, match=message):
        hparams_lib.load_hparams(str(path))


def test_course_keys_that_agree_are_accepted_and_aliases_map(tmp_path):
    path = tmp_path / "course.yaml"
    path.write_text("Features:\n  n_fft: 1024\n  win_size: 800\n  num_freq: 513\n  fft_size: 1024\n"
                    "Griffin_Lim:\n  power: 1.2\n")
    hp = hparams_lib.load_hparams(str(path))
    assert hp.n_fft == 1024 and hp.griffin_lim_power == 1.2
    assert hparams_lib.load_hparams(overrides="power=1.3").griffin_lim_power == 1.3
    with pytest.raises(hparams_lib.HParamsError, match="num_freq"):
        hparams_lib.load_hparams(overrides="num_freq=100")


def test_min_db_and_min_level_db_are_separate_settings():
    hp = hparams_lib.load_hparams(overrides="min_db=-100,min_level_db=-120")
    assert (hp.min_db, hp.min_level_db) == (-100.0, -120.0)
    with pytest.raises(hparams_lib.HParamsError, match="min_db"):
        hparams_lib.load_hparams(overrides="min_db=5")


def test_config_problems_name_the_file(tmp_path):
    wrong_type = tmp_path / "wrong.yaml"
    wrong_type.write_text("Models:\n  batch_size: many\n")
    with pytest.raises(hparams_lib.HParamsError, match=r"wrong.yaml: hparam 'batch_size': invalid value"):
        hparams_lib.load_hparams(str(wrong_type))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("batch_size: 4  # \xe9\n".encode("latin-1"))
    with pytest.raises(hparams_lib.HParamsError, match=r"latin.yaml: not UTF-8 text"):
        hparams_lib.load_hparams(str(latin))


def test_hparams_does_not_import_tensorflow():
    """Preprocessing workers load hparams; TensorFlow's import would cost each of them seconds."""
    import subprocess
    import sys
    from conftest import ROOT
    code = "import sys, hparams; hparams.default_hparams(); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


@pytest.mark.parametrize("name, attention, guided", [("gmm_v0.yaml", "gmm", 0.0), ("gmm_v2b.yaml", "gmm", 0.0),
                                                     ("bahdanau_guided.yaml", "bahdanau", 1.0),
                                                     ("hparams.yaml", "gmm", 0.0)])
def test_every_recipe_config_loads(name, attention, guided):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hp = hparams_lib.load_hparams(os.path.join(root, "egs", "biaobei", name))
    assert (hp.attention_type, hp.guided_attention_weight, hp.guided_attention_sigma) == (attention, guided, 0.4)
    assert hp.attention_window == []


@pytest.mark.parametrize("text, message", [
    ("guided_attention_weight=-1", "must be >= 0"), ("guided_attention_sigma=0", "must be > 0"),
    ("attention_type=bahdanau,attention_window=[1]", "back, ahead"),
    ("attention_type=bahdanau,attention_window=[-1,3]", "non-negative"),
    ("attention_type=gmm,attention_window=[1,3]", "GMM attention"),
])
def test_guided_loss_and_window_ranges(text, message):
    with pytest.raises(hparams_lib.HParamsError, match=message):
        hparams_lib.load_hparams(preset="small", overrides=text)
