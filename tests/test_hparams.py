"""hparams: course defaults, YAML (flat and sectioned), overrides with type coercion, errors."""
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
