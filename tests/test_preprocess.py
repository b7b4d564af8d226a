"""Preprocessing: bad inputs are skipped and reported, outputs are well formed, re-runs are idempotent."""
import collections
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from conftest import BIAOBEI_SAMPLE
from conftest import ROOT
from datasets import audio
from datasets import preprocessor
from hparams import load_hparams

SR = 16000
# Label lines in the course format, taken from the Biaobei sample (ids replaced).
HANZI = ["卡尔普陪外孙玩滑梯。", "假语村言别再拥抱我。", "邓小平与撒切尔会晤。"]
PHONES = [
    "sil k a 2 #0 er 2 #0 p u 3 #2 p ei 2 #0 uai 4 #0 s uen 1 #2 uan 2 #0 h ua 2 #0 t i 1 sil",
    "sil j ia 2 #0 v 3 #0 c uen 1 #2 ian 2 #0 b ie 2 #0 z ai 4 #1 iong 1 #0 b ao 4 #0 uo 3 sil",
    "sil d eng 4 #0 x iao 3 #0 p ing 2 #2 v 3 #1 s a 1 #0 q ie 4 #0 er 3 #1 h uei 4 #0 u 4 sil",
]


def label_line(utt_id, index, suffix=""):
    return f"{utt_id}|{HANZI[index % 3]}|{PHONES[index % 3]}{suffix} \n"


def utterance_audio(voiced_seconds, freq, sample_rate=SR):
    """0.25 s silence, a modulated tone, 0.3 s silence: float [N]."""
    t = np.arange(int(voiced_seconds * sample_rate)) / sample_rate
    voiced = 0.4 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2.0 * t))
    return np.concatenate([np.zeros(int(0.25 * sample_rate)), voiced, np.zeros(int(0.3 * sample_rate))])


def write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def make_corpus(root, bad=True):
    """Five good utterances (g3's phones end with "~"; g4 and g5 share one label file) and, with `bad`,
    one of each bad input: labels empty, malformed, with an unknown phone, not UTF-8, a directory named
    d_dir.lab; wavs missing, header only, cut, 0 samples, not audio, too long, silent. Returns (label_dir,
    wav_dir)."""
    label_dir, wav_dir = os.path.join(root, "labels"), os.path.join(root, "wavs")
    os.makedirs(label_dir)
    os.makedirs(wav_dir)
    for index, utt_id in enumerate(["g1", "g2", "g3"]):
        suffix = " ~" if utt_id == "g3" else ""
        write(os.path.join(label_dir, f"{utt_id}.lab"), label_line(utt_id, index, suffix))
    write(os.path.join(label_dir, "multi.lab"), label_line("g4", 0) + "\n" + label_line("g5", 1))
    for index, utt_id in enumerate(["g1", "g2", "g3", "g4", "g5"]):
        samples = utterance_audio(0.5 + 0.1 * index, 150 + 40 * index)
        soundfile.write(os.path.join(wav_dir, f"{utt_id}.wav"), samples, SR, subtype="PCM_16")
    if not bad:
        return label_dir, wav_dir
    for index, utt_id in enumerate(["b_missing", "c_header", "c_cut", "l_long", "s_silent"]):
        write(os.path.join(label_dir, f"{utt_id}.lab"), label_line(utt_id, index))
    soundfile.write(os.path.join(wav_dir, "l_long.wav"), utterance_audio(3.0, 200), SR, subtype="PCM_16")
    soundfile.write(os.path.join(wav_dir, "s_silent.wav"), np.zeros(SR), SR, subtype="PCM_16")
    data = open(os.path.join(wav_dir, "g1.wav"), "rb").read()
    with open(os.path.join(wav_dir, "c_header.wav"), "wb") as handle:
        handle.write(data[:44])
    with open(os.path.join(wav_dir, "c_cut.wav"), "wb") as handle:
        handle.write(data[:len(data) // 2 + 1])
    write(os.path.join(label_dir, "e_empty.lab"), "\n  \n")
    write(os.path.join(label_dir, "m_bad.lab"), "m_bad|only two fields\n")
    write(os.path.join(label_dir, "u_phone.lab"), "u_phone|你好|sil n i 3 QQ ao 3 sil\n")
    with open(os.path.join(label_dir, "n_utf8.lab"), "wb") as handle:
        handle.write(f"n_utf8|你好|{PHONES[0]}\n".encode("gbk"))
    os.makedirs(os.path.join(label_dir, "d_dir.lab"))
    for utt_id in ["e_empty", "m_bad", "u_phone", "n_utf8", "d_dir"]:
        shutil.copy(os.path.join(wav_dir, "g1.wav"), os.path.join(wav_dir, f"{utt_id}.wav"))
    for index, utt_id in enumerate(["z_zero", "j_junk"]):
        write(os.path.join(label_dir, f"{utt_id}.lab"), label_line(utt_id, index))
    soundfile.write(os.path.join(wav_dir, "z_zero.wav"), np.zeros(0), SR, subtype="PCM_16")
    write(os.path.join(wav_dir, "j_junk.wav"), "not audio at all\n")
    return label_dir, wav_dir


@pytest.fixture
def hp():
    return load_hparams(overrides="max_acoustic_length=150,random_seed=7")


def read_metadata_lines(out_dir):
    with open(os.path.join(out_dir, "metadata.csv"), encoding="utf-8") as handle:
        return handle.read().splitlines()


def output_mtimes(out_dir):
    return {name: os.stat(os.path.join(out_dir, sub, name)).st_mtime_ns
            for sub in ("mels", "wavs") for name in os.listdir(os.path.join(out_dir, sub))}


def tmp_files(out_dir):
    return [name for _, _, names in os.walk(out_dir) for name in names if name.endswith(".tmp")]


def test_bad_inputs_are_skipped_counted_and_named(tmp_path, hp, caplog):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"))
    out_dir = str(tmp_path / "out")
    result = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    assert result.skipped == collections.Counter({
        "missing wav": 1, "unreadable wav": 4, "empty label": 1, "malformed label": 3, "unknown phone": 1,
        "too long": 1, "silent audio": 1})
    assert [record.utt_id for record in result.records] == ["g1", "g2", "g3", "g4", "g5"]
    assert len(result.messages) == result.num_skipped == 12
    assert all("\n" not in message for message in result.messages)
    problems = {"b_missing.wav": "missing wav", "c_header.wav": "", "c_cut.wav": "truncated",
                "e_empty.lab": "empty label", "m_bad.lab": "malformed label", "u_phone.lab": "'QQ'",
                "n_utf8.lab": "not UTF-8", "d_dir.lab": "cannot read (Is a directory)",
                "z_zero.wav": "empty wav (no samples)", "j_junk.wav": "unreadable wav",
                "l_long.wav": "150", "s_silent.wav": "silent audio"}
    for name, problem in problems.items():
        named = [message for message in result.messages if f"/{name}:" in message]
        assert len(named) == 1 and problem in named[0], (name, named)
    for message in result.messages:
        assert message in caplog.messages
    summary = result.summary()
    assert "done 5" in summary and "skipped 12" in summary and "4 unreadable wav" in summary
    assert "\n" not in summary
    assert not os.path.exists(os.path.join(out_dir, "mels", "l_long.npy"))
    assert not tmp_files(out_dir)


def test_outputs_are_well_formed(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"))
    out_dir = str(tmp_path / "out")
    result = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=0.4, n_jobs=1)
    lines = read_metadata_lines(out_dir)
    assert lines[0] == "id|n_samples|n_frames|n_phones|phones"
    rows = [line.split("|") for line in lines[1:]]
    assert [row[0] for row in rows] == ["g1", "g2", "g3", "g4", "g5"]
    expected_phones = {"g1": PHONES[0], "g2": PHONES[1], "g3": PHONES[2], "g4": PHONES[0], "g5": PHONES[1]}
    for utt_id, n_samples, n_frames, n_phones, phones in rows:
        n_samples, n_frames = int(n_samples), int(n_frames)
        assert phones == expected_phones[utt_id] and "~" not in phones.split()
        assert int(n_phones) == len(phones.split())
        assert n_samples == n_frames * 200 and 30 < n_frames <= 150
        mel = np.load(os.path.join(out_dir, "mels", f"{utt_id}.npy"))
        assert mel.dtype == np.float32 and mel.shape == (n_frames, 80)
        assert -4.0 <= mel.min() and mel.max() <= 4.0
        info = soundfile.info(os.path.join(out_dir, "wavs", f"{utt_id}.wav"))
        assert (info.frames, info.samplerate, info.channels, info.subtype) == (n_samples, SR, 1, "PCM_16")
    train = open(os.path.join(out_dir, "train.txt")).read().split()
    valid = open(os.path.join(out_dir, "valid.txt")).read().split()
    assert len(valid) == 2 and len(train) == 3
    assert sorted(train + valid) == ["g1", "g2", "g3", "g4", "g5"]
    assert (train, valid) == (result.train_ids, result.valid_ids)
    saved = load_hparams(os.path.join(out_dir, "hparams.yaml"))
    assert saved.values() == hp.values()
    assert not tmp_files(out_dir)


def test_written_features_equal_the_audio_pipeline(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"), bad=False)
    out_dir = str(tmp_path / "out")
    preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    wav = audio.load_wav(os.path.join(wav_dir, "g2.wav"), SR)
    expected_wav, expected_mel = audio.features_from_wav(wav, **preprocessor.feature_settings(hp))
    np.testing.assert_array_equal(np.load(os.path.join(out_dir, "mels", "g2.npy")), expected_mel)
    written, _ = soundfile.read(os.path.join(out_dir, "wavs", "g2.wav"), dtype="float32")
    np.testing.assert_allclose(written, expected_wav, atol=1.0 / 32768 + 1e-7)


def test_other_wav_formats_are_converted(tmp_path, hp):
    """8 kHz, stereo, 24-bit and float wavs are valid input: resampled, mixed down, converted."""
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"), bad=False)
    samples = utterance_audio(0.6, 190)  # g2's audio
    variants = {"f_stereo": (np.stack([samples, samples], axis=1), SR, "PCM_16"),
                "f_24bit": (samples, SR, "PCM_24"), "f_float": (samples, SR, "FLOAT"),
                "f_8k": (utterance_audio(0.6, 190, sample_rate=8000), 8000, "PCM_16")}
    for utt_id, (data, rate, subtype) in variants.items():
        soundfile.write(os.path.join(wav_dir, f"{utt_id}.wav"), data, rate, subtype=subtype)
        write(os.path.join(label_dir, f"{utt_id}.lab"), label_line(utt_id, 1))
    out_dir = str(tmp_path / "out")
    result = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    assert result.num_skipped == 0 and result.num_done == 9
    frames = {record.utt_id: record.n_frames for record in result.records}
    mel = {utt_id: np.load(os.path.join(out_dir, "mels", f"{utt_id}.npy")) for utt_id in frames}
    np.testing.assert_array_equal(mel["f_stereo"], mel["g2"])  # two equal channels mix to the same mono
    for utt_id in ("f_24bit", "f_float"):
        assert frames[utt_id] == frames["g2"]
        assert np.abs(mel[utt_id] - mel["g2"]).mean() < 0.05, utt_id
    assert abs(frames["f_8k"] - frames["g2"]) <= 2
    for utt_id in variants:
        info = soundfile.info(os.path.join(out_dir, "wavs", f"{utt_id}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")


def test_rerun_is_idempotent_and_overwrite_rewrites(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"))
    out_dir = str(tmp_path / "out")
    first = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=2, n_jobs=1)
    metadata = read_metadata_lines(out_dir)
    splits = (first.train_ids, first.valid_ids)
    old = 1_000_000_000 * 10**9
    for sub in ("mels", "wavs"):
        for name in os.listdir(os.path.join(out_dir, sub)):
            os.utime(os.path.join(out_dir, sub, name), ns=(old, old))

    second = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=2, n_jobs=1)
    assert second.reused == 5 and second.num_done == 5 and second.skipped == first.skipped
    assert read_metadata_lines(out_dir) == metadata
    assert (second.train_ids, second.valid_ids) == splits
    assert set(output_mtimes(out_dir).values()) == {old}

    os.remove(os.path.join(out_dir, "mels", "g4.npy"))
    third = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=2, n_jobs=1)
    assert third.reused == 4 and read_metadata_lines(out_dir) == metadata
    mtimes = output_mtimes(out_dir)
    assert mtimes["g4.npy"] != old and mtimes["g4.wav"] != old and mtimes["g1.npy"] == old

    fourth = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=2, n_jobs=1,
                                            overwrite=True)
    assert fourth.reused == 0 and fourth.num_done == 5
    assert read_metadata_lines(out_dir) == metadata
    assert old not in output_mtimes(out_dir).values()
    assert not tmp_files(out_dir)


def test_reused_outputs_respect_a_smaller_length_limit(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"), bad=False)
    out_dir = str(tmp_path / "out")
    first = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    longest = max(record.n_frames for record in first.records)
    strict = hp.replace(max_acoustic_length=longest - 1)
    second = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, strict, valid_size=1, n_jobs=1)
    assert second.skipped["too long"] >= 1 and second.num_done == 5 - second.skipped["too long"]
    assert len(read_metadata_lines(out_dir)) == 1 + second.num_done


def test_changed_feature_settings_force_recomputation(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"), bad=False)
    out_dir = str(tmp_path / "out")
    preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    before = np.load(os.path.join(out_dir, "mels", "g1.npy"))
    same = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp.replace(random_seed=8),
                                          valid_size=1, n_jobs=1)
    assert same.reused == 5
    louder = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp.replace(ref_level_db=10.0),
                                            valid_size=1, n_jobs=1)
    assert louder.reused == 0
    after = np.load(os.path.join(out_dir, "mels", "g1.npy"))
    assert after.shape == before.shape and np.mean(after) > np.mean(before)


def test_parallel_run_matches_in_process_run(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"))
    serial = preprocessor.preprocess_corpus(label_dir, wav_dir, str(tmp_path / "a"), hp, valid_size=1,
                                            n_jobs=1)
    parallel = preprocessor.preprocess_corpus(label_dir, wav_dir, str(tmp_path / "b"), hp, valid_size=1,
                                              n_jobs=2)
    assert parallel.records == serial.records and parallel.skipped == serial.skipped
    assert sorted(parallel.messages) == sorted(serial.messages)
    assert read_metadata_lines(str(tmp_path / "a")) == read_metadata_lines(str(tmp_path / "b"))
    np.testing.assert_array_equal(np.load(str(tmp_path / "a" / "mels" / "g3.npy")),
                                  np.load(str(tmp_path / "b" / "mels" / "g3.npy")))


def test_valid_split_sizes():
    assert preprocessor.num_valid(100, 0.05) == 5
    assert preprocessor.num_valid(10, 0.01) == 1  # never empty with >= 2 utterances
    assert preprocessor.num_valid(10, 3) == 3
    assert preprocessor.num_valid(3, 10) == 2  # at least one training utterance
    assert preprocessor.num_valid(2, 0.5) == 1
    assert preprocessor.num_valid(1, 5) == 0
    for bad in (0, -1, 1.5, 0.0):
        with pytest.raises(ValueError, match="valid_size"):
            preprocessor.num_valid(10, bad)
    ids = [f"{i:06d}" for i in range(50)]
    train, valid = preprocessor.split_ids(ids, 5, seed=3)
    assert len(valid) == 5 and sorted(train + valid) == ids and valid == sorted(valid)
    assert preprocessor.split_ids(list(reversed(ids)), 5, seed=3) == (train, valid)
    assert preprocessor.split_ids(ids, 5, seed=4)[1] != valid
    assert preprocessor.split_ids(["only"], 0.1, seed=0) == (["only"], [])


def test_refuses_to_write_into_the_source_wav_dir(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"), bad=False)
    with pytest.raises(ValueError, match="wav_dir"):
        preprocessor.preprocess_corpus(label_dir, wav_dir, str(tmp_path / "corpus"), hp, valid_size=1)


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, os.path.join(ROOT, "preprocess.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_runs_with_two_jobs_and_names_each_bad_input_in_one_line(tmp_path, hp):
    label_dir, wav_dir = make_corpus(str(tmp_path / "corpus"))
    expected = preprocessor.preprocess_corpus(label_dir, wav_dir, str(tmp_path / "in_process"), hp,
                                              valid_size=1, n_jobs=1)
    out_dir = str(tmp_path / "out")
    completed = run_cli(f"--label_dir={label_dir}", f"--wav_dir={wav_dir}", f"--out_dir={out_dir}",
                        "--n_jobs=2", "--valid_size=1", "--hparams=max_acoustic_length=150", "--preset=small")
    assert completed.returncode == 0, completed.stderr
    # A line printed under the progress bar follows the bar's carriage returns.
    errors = [line.split("\r")[-1] for line in completed.stderr.splitlines()
              if line.split("\r")[-1].startswith("error:")]
    assert sorted(errors) == sorted(f"error: {message} (skipped)" for message in expected.messages)
    assert len(errors) == 12
    assert "done 5 (0 reused), skipped 12 (1 missing wav, 4 unreadable wav, " in completed.stderr
    assert len(read_metadata_lines(out_dir)) == 6
    assert len(open(os.path.join(out_dir, "valid.txt")).read().split()) == 1
    assert load_hparams(os.path.join(out_dir, "hparams.yaml")).batch_size == 16  # the small preset


def test_cli_fails_when_nothing_is_processed(tmp_path):
    root = str(tmp_path / "corpus")
    os.makedirs(os.path.join(root, "labels"))
    os.makedirs(os.path.join(root, "wavs"))
    write(os.path.join(root, "labels", "x.lab"), label_line("x", 0))
    out_dir = str(tmp_path / "out")
    completed = run_cli(f"--label_dir={root}/labels", f"--wav_dir={root}/wavs", f"--out_dir={out_dir}",
                        "--n_jobs=1")
    assert completed.returncode == 1
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {root}/wavs/x.wav: missing wav for utterance x (skipped)",
                      "error: nothing could be processed; no metadata written"]
    assert not os.path.exists(os.path.join(out_dir, "metadata.csv"))


@pytest.mark.skipif(not os.path.isdir(BIAOBEI_SAMPLE), reason="Biaobei sample not present")
def test_biaobei_sample_subset(tmp_path):
    hp = load_hparams()
    label_dir = str(tmp_path / "labels")
    os.makedirs(label_dir)
    ids = ["000001", "000002", "000003", "000004"]
    for utt_id in ids:
        shutil.copy(os.path.join(BIAOBEI_SAMPLE, "labels", f"{utt_id}.lab"), label_dir)
    out_dir = str(tmp_path / "out")
    wav_dir = os.path.join(BIAOBEI_SAMPLE, "wavs")
    result = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    assert [record.utt_id for record in result.records] == ids and result.num_skipped == 0
    assert len(result.valid_ids) == 1 and len(result.train_ids) == 3
    for record in result.records:
        assert record.n_samples == record.n_frames * hp.hop_size
        source_samples = soundfile.info(os.path.join(wav_dir, f"{record.utt_id}.wav")).frames
        assert 0.5 * source_samples < record.n_samples <= source_samples
    wav = audio.load_wav(os.path.join(wav_dir, "000001.wav"), hp.sample_rate)
    _, mel = audio.features_from_wav(wav, **preprocessor.feature_settings(hp))
    np.testing.assert_array_equal(np.load(os.path.join(out_dir, "mels", "000001.npy")), mel)
    with open(os.path.join(BIAOBEI_SAMPLE, "labels", "000001.lab"), encoding="utf-8") as handle:
        phones = handle.read().split("|")[2].split()
    first = result.records[0]
    assert read_metadata_lines(out_dir)[1] == (f"000001|{first.n_samples}|{first.n_frames}|{len(phones)}|"
                                               f"{' '.join(phones)}")


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "datasets", "demo_corpus.py")),
                    reason="demo corpus generator not present")
def test_demo_corpus_keeps_its_durations(tmp_path, hp):
    from datasets import demo_corpus  # optional: written alongside this module
    corpus = str(tmp_path / "demo")
    ids = demo_corpus.make_demo_corpus(corpus, num_utterances=3, seed=5, min_phones=12, max_phones=20)
    out_dir = str(tmp_path / "out")
    result = preprocessor.preprocess_corpus(os.path.join(corpus, "labels"), os.path.join(corpus, "wavs"),
                                            out_dir, hp.replace(max_acoustic_length=2000), valid_size=1)
    durations = demo_corpus.read_durations(os.path.join(corpus, "durations.txt"))
    assert [record.utt_id for record in result.records] == ids
    for record in result.records:
        assert record.n_frames == sum(durations[record.utt_id])
