"""Faults during preprocessing: kill -9 with two workers, a full disk, temporary files a killed run left, a bad
--config. After each, what is on disk is whole and the rerun finishes the rest (datasets/preprocessor.py)."""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from conftest import ROOT
from datasets import demo_corpus
from datasets import fileio
from datasets import preprocessor
from hparams import load_hparams

HOP = 200
N_MELS = 80
OVERRIDES = "max_acoustic_length=1000,random_seed=7"


def make_demo(root, num_utterances, seed=3):
    """A demo corpus (datasets/demo_corpus.py) of short utterances; returns (label_dir, wav_dir, ids)."""
    ids = demo_corpus.make_demo_corpus(str(root), num_utterances, seed, min_phones=8, max_phones=12)
    return os.path.join(root, "labels"), os.path.join(root, "wavs"), ids


@pytest.fixture
def hp():
    return load_hparams(overrides=OVERRIDES)


def temp_files(out_dir):
    return sorted(name for _, dirs, names in os.walk(out_dir) for name in names + dirs
                  if fileio.is_temp_name(name))


def whole_outputs(out_dir):
    """Loads every output file in full (a half-written one fails here); returns the ids whose mel and wav
    both exist and agree, i.e. the utterances a rerun may reuse."""
    mels, wavs = {}, {}
    for name in os.listdir(os.path.join(out_dir, "mels")):
        if name.endswith(".npy") and not fileio.is_temp_name(name):
            mel = np.load(os.path.join(out_dir, "mels", name))
            assert mel.dtype == np.float32 and mel.ndim == 2 and mel.shape[1] == N_MELS and len(mel), name
            mels[name[:-len(".npy")]] = len(mel)
    for name in os.listdir(os.path.join(out_dir, "wavs")):
        if name.endswith(".wav") and not fileio.is_temp_name(name):
            samples, rate = soundfile.read(os.path.join(out_dir, "wavs", name), dtype="int16")
            assert rate == 16000 and samples.ndim == 1 and len(samples) % HOP == 0, name
            wavs[name[:-len(".wav")]] = len(samples) // HOP
    return sorted(utt_id for utt_id in mels if wavs.get(utt_id) == mels[utt_id])


def read_lines(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


# --- kill -9 ------------------------------------------------------------------------------------------


def live_group_members(pgid):
    """Pids of the processes of a process group that are still running (zombies excluded). Linux /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


@pytest.mark.slow  # about 25 s on 2 shared cores: two spawned workers import TensorFlow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with the parent on Linux only")
def test_kill_9_with_two_workers_then_the_rerun_finishes(tmp_path, hp):
    label_dir, wav_dir, ids = make_demo(tmp_path / "corpus", 24)
    out_dir = str(tmp_path / "out")
    kill_after = int(np.random.default_rng(11).integers(3, len(ids) - 6))  # mels written before the kill
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "preprocess.py"), f"--label_dir={label_dir}",
             f"--wav_dir={wav_dir}", f"--out_dir={out_dir}", "--n_jobs=2", "--valid_size=2",
             f"--hparams={OVERRIDES}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        mels_dir = os.path.join(out_dir, "mels")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if os.path.isdir(mels_dir) and sum(name.endswith(".npy") for name in os.listdir(mels_dir)) >= kill_after:
                break
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL, "preprocess.py ended before it was killed"
        deadline = time.monotonic() + 20
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_group_members(process.pid) == [], "the workers must die with the main process"
    finally:
        if process.poll() is None or live_group_members(process.pid):
            os.killpg(process.pid, signal.SIGKILL)

    # On disk now: every output whole (temporary files may remain), no metadata or split of a first run.
    complete = whole_outputs(out_dir)
    assert len(complete) >= kill_after - 2  # two workers may each have written a mel but not its wav
    for name in ("metadata.csv", "train.txt", "valid.txt"):
        assert not os.path.exists(os.path.join(out_dir, name)), name

    rerun = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=2, n_jobs=1)
    assert rerun.num_done == len(ids) and rerun.num_skipped == 0
    assert rerun.reused == len(complete)
    assert temp_files(out_dir) == []
    assert whole_outputs(out_dir) == ids
    reference_dir = str(tmp_path / "reference")
    preprocessor.preprocess_corpus(label_dir, wav_dir, reference_dir, hp, valid_size=2, n_jobs=1)
    for name in ("metadata.csv", "train.txt", "valid.txt"):
        assert read_lines(os.path.join(out_dir, name)) == read_lines(os.path.join(reference_dir, name))
    for utt_id in ids:
        np.testing.assert_array_equal(np.load(os.path.join(out_dir, "mels", f"{utt_id}.npy")),
                                      np.load(os.path.join(reference_dir, "mels", f"{utt_id}.npy")))


def test_the_rerun_removes_temporary_files_a_killed_run_left(tmp_path, hp):
    label_dir, wav_dir, ids = make_demo(tmp_path / "corpus", 3)
    out_dir = tmp_path / "out"
    preprocessor.preprocess_corpus(label_dir, wav_dir, str(out_dir), hp, valid_size=1)
    left = [out_dir / "mels" / f".{ids[0]}.npy.k3x_9qa0.tmp", out_dir / "wavs" / f".{ids[1]}.wav.aaaaaaaa.tmp",
            out_dir / ".metadata.csv.0z8y7x6w.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    os.remove(out_dir / "mels" / f"{ids[2]}.npy")
    mine = [out_dir / "mels" / "notes.tmp", out_dir / ".keep"]
    for path in mine:
        path.write_text("the user's")
    rerun = preprocessor.preprocess_corpus(label_dir, wav_dir, str(out_dir), hp, valid_size=1)
    assert rerun.num_done == 3 and rerun.reused == 2
    assert temp_files(str(out_dir)) == [] and all(path.exists() for path in mine)
    assert whole_outputs(str(out_dir)) == ids


# --- Disk full ----------------------------------------------------------------------------------------


class FullDisk:
    """A file opened for writing on a disk that fills up: writes half of the first buffer, then ENOSPC."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[:len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.handle.close()


def fill_disk_at(monkeypatch, final_name):
    """The atomic write of `final_name` (its temporary file `.<final_name>.XXXXXXXX.tmp`) hits a full disk."""
    real_open = open

    def disk_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and os.path.basename(path).startswith(f".{final_name}."):
            return FullDisk(handle)
        return handle

    monkeypatch.setattr(fileio, "open", disk_open, raising=False)


@pytest.mark.parametrize("kind", ["mel", "wav", "metadata"])
def test_a_full_disk_stops_the_run_and_the_rerun_finishes(tmp_path, hp, monkeypatch, kind):
    label_dir, wav_dir, ids = make_demo(tmp_path / "corpus", 5)
    out_dir = str(tmp_path / "out")
    failing = {"mel": os.path.join(out_dir, "mels", f"{ids[2]}.npy"),
               "wav": os.path.join(out_dir, "wavs", f"{ids[2]}.wav"),
               "metadata": os.path.join(out_dir, "metadata.csv")}[kind]
    fill_disk_at(monkeypatch, os.path.basename(failing))
    with pytest.raises(preprocessor.PreprocessStopped) as stopped:
        preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith(f"{failing}: cannot write (No space left on device); stopped after ")
    assert ("stopped after all 5 utterances" if kind == "metadata" else "stopped after 2 of 5 utterances") in message
    assert not os.path.exists(failing) and temp_files(out_dir) == []
    assert not os.path.exists(os.path.join(out_dir, "metadata.csv"))
    complete = whole_outputs(out_dir)
    assert complete == (ids if kind == "metadata" else ids[:2])

    monkeypatch.undo()  # space freed
    rerun = preprocessor.preprocess_corpus(label_dir, wav_dir, out_dir, hp, valid_size=1, n_jobs=1)
    assert rerun.num_done == 5 and rerun.reused == len(complete)
    assert whole_outputs(out_dir) == ids and temp_files(out_dir) == []
    assert len(read_lines(os.path.join(out_dir, "metadata.csv"))) == 6


# --- The preprocess.py command line -------------------------------------------------------------------



def run(*command):
    return subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow  # about 8 s: one preprocess.py run
def test_cli_says_in_one_line_that_the_disk_is_full(tmp_path, full_disk_command):
    label_dir, wav_dir, ids = make_demo(tmp_path / "corpus", 4)
    out_dir = str(tmp_path / "out")
    command = full_disk_command("preprocess.py", f".{ids[1]}.wav.", f"--label_dir={label_dir}",
                                f"--wav_dir={wav_dir}", f"--out_dir={out_dir}", "--n_jobs=1", "--valid_size=1",
                                f"--hparams={OVERRIDES}")
    process = run(*command[1:])
    assert process.returncode == 1, process.stderr
    assert error_lines(process.stderr) == [
        f"error: {out_dir}/wavs/{ids[1]}.wav: cannot write (No space left on device); stopped after 1 of 4 "
        "utterances, no metadata written; every file written so far is complete and a rerun reuses it"]
    assert "Traceback" not in process.stderr
    assert whole_outputs(out_dir) == ids[:1] and temp_files(out_dir) == []


@pytest.mark.slow  # about 10 s: two preprocess.py runs that stop at start
@pytest.mark.parametrize("text, problem", [
    ("batch_size: [1, 2\n", "invalid YAML (while parsing a flow sequence)"),
    ("batch_size: many\n", "hparam 'batch_size': invalid value 'many' (expected an integer)"),
])
def test_cli_names_a_bad_config_file(tmp_path, text, problem):
    config = tmp_path / "hparams.yaml"
    config.write_text(text, encoding="utf-8")
    out_dir = tmp_path / "out"
    process = run("preprocess.py", f"--label_dir={tmp_path}", f"--wav_dir={tmp_path}", f"--out_dir={out_dir}",
                  f"--config={config}")
    assert process.returncode == 1
    assert error_lines(process.stderr) == [f"error: {config}: {problem}"]
    assert "Traceback" not in process.stderr and not out_dir.exists()
