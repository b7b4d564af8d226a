"""benchmarks/peer_speed.py: the install hint without the peer, and tiny figures with it."""
import importlib.util
import math
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "peer_speed.py")
NUMBER = r"(\d+(?:\.\d*)?(?:e[-+]?\d+)?)"
needs_peer = pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("TTS") is None,
                                reason="the peer needs torch and coqui-tts (pip install -r requirements-bench.txt)")
TINY_SHAPES = ("--batch_size", "2", "--input_length", "8", "--output_frames", "40", "--rounds", "1", "--steps", "1",
               "--warmup", "1", "--threads", "1")


def run_script(*args, pythonpath=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    if pythonpath:  # first, before the environment's own
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def positive(text):
    value = float(text)
    assert value > 0 and math.isfinite(value), text
    return value


def test_triton_without_a_gpu_is_refused_with_a_hint_before_it_can_crash(tmp_path):
    (tmp_path / "triton").mkdir()
    (tmp_path / "triton" / "__init__.py").write_text("raise SystemExit('stand-in triton imported')\n")
    result = run_script(*TINY_SHAPES, pythonpath=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "pip uninstall triton" in result.stderr and "stand-in triton imported" not in result.stderr


def test_without_torch_prints_the_install_hint_and_exits_2(tmp_path):
    stand_in = tmp_path / "torch"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'torch\' (stand-in of the test)", name="torch")\n')
    result = run_script(*TINY_SHAPES, pythonpath=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert "missing: torch" in last_line, last_line
    assert "pip install -r requirements-bench.txt" in last_line, last_line
    assert "download.pytorch.org/whl/cpu" in last_line, last_line
    assert result.stdout == "", result.stdout


@pytest.mark.slow  # a few minutes on 2 busy CPU cores: the peer is full-size, four models, two probe processes
@needs_peer
def test_tiny_run_prints_every_figure_and_the_ratios(tiny_overrides):
    result = run_script(*TINY_SHAPES, "--only", "all", "--hparams", tiny_overrides())
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout
    assert output.startswith("settings: TensorFlow"), output
    assert "(1 intra-op, 1 inter-op threads)" in output.splitlines()[0], output
    for side in ("ours", "peer"):
        positive(re.search(rf"^train round 1 {side}: {NUMBER} frames/s", output, re.MULTILINE).group(1))
        rtf = re.search(rf"^synth round 1 {side}: {NUMBER} RTF \((\d+) frames in {NUMBER} s\)", output, re.MULTILINE)
        positive(rtf.group(1))
        assert rtf.group(2) == "40", rtf.group(0)  # 8 phones x 5 frames, to the step limit
        positive(re.search(rf"^memory {side}: peak {NUMBER} MB", output, re.MULTILINE).group(1))
    summaries = re.findall(rf"^(.*): ours {NUMBER}(?: MB)?, peer {NUMBER}(?: MB)?, ours / peer {NUMBER}x",
                           output, re.MULTILINE)
    assert [summary[0].split()[0] for summary in summaries] == ["training", "synthesis", "peak"], output
    for _, ours, peer, ratio in summaries:
        assert math.isclose(positive(ratio), positive(ours) / positive(peer), rel_tol=0.01), (ours, peer, ratio)


@pytest.mark.slow  # about a minute: both full-size peers' training steps in bfloat16
@needs_peer
def test_bfloat16_training_is_compared_in_bfloat16_on_both_sides(tiny_overrides):
    result = run_script(*TINY_SHAPES, "--only", "train", "--train_precision", "bfloat16", "--hparams", tiny_overrides())
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout
    header = re.search(r"^train \(bfloat16\): ours = course preset.*$", output, re.MULTILINE)
    assert header and "Keras policy mixed_bfloat16" in header.group(0), output
    for side in ("ours", "peer"):
        positive(re.search(rf"^train round 1 {side}: {NUMBER} frames/s", output, re.MULTILINE).group(1))
    ratio = re.search(rf"^training frames/s \(bfloat16\), median of 1 rounds: ours {NUMBER}, peer {NUMBER}, "
                      rf"ours / peer {NUMBER}x", output, re.MULTILINE)
    assert ratio, output
    assert math.isclose(positive(ratio.group(3)), positive(ratio.group(1)) / positive(ratio.group(2)), rel_tol=0.01)
