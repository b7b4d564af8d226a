"""The benchmark scripts run end to end with tiny sizes and print consistent, positive figures."""
import math
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

NUMBER = r"(\d+(?:\.\d*)?(?:e[-+]?\d+)?)"


def run_script(name, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def matches(pattern, text):
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert found, f"no line matches {pattern!r} in:\n{text}"
    return found


def positive(text):
    value = float(text)
    assert value > 0 and math.isfinite(value), text
    return value


@pytest.mark.slow  # about 20 s on 2 shared CPU cores (two models traced)
def test_train_speed_prints_both_presets_and_their_ratio(tiny_overrides):
    batch_size, output_frames = 2, 10
    output = run_script("train_speed.py", "--preset", "both", "--batch_size", str(batch_size), "--input_length", "5",
                        "--output_frames", str(output_frames), "--steps", "2", "--warmup", "1",
                        "--hparams", tiny_overrides())
    assert f"{batch_size * output_frames} frames per step" in output
    lines = matches(rf"^(course|small) model \({NUMBER} M parameters\): {NUMBER} frames/s, {NUMBER} s/step "
                    rf"\(first step with tracing {NUMBER} s\)$", output)
    assert [line[0] for line in lines] == ["course", "small"]
    frames_per_second = {}
    for preset, parameters, fps, seconds, first in lines:
        positive(parameters), positive(first)
        frames_per_second[preset] = positive(fps)
        # frames/s is the frames of one batch over the median step time (both printed rounded).
        assert math.isclose(positive(fps) * float(seconds), batch_size * output_frames, rel_tol=0.2)
    (ratio,) = matches(rf"^small / course training frames per second: {NUMBER}x$", output)
    assert math.isclose(positive(ratio), frames_per_second["small"] / frames_per_second["course"], rel_tol=0.02)


def test_griffin_lim_speed_prints_ours_xla_and_the_course_loop():
    output = run_script("griffin_lim_speed.py", "--seconds", "0.5", "--iters", "2", "--repeats", "1")
    rtfs, convergences = [], []
    for name in (r"TF Griffin-Lim \(tf\.function, warm\)", r"TF Griffin-Lim, XLA \(warm\)", r"librosa loop \(course\)"):
        ((seconds, rtf, convergence),) = matches(rf"^{name}: +{NUMBER} s  RTF {NUMBER}  spectral convergence {NUMBER}",
                                                 output)
        assert math.isclose(positive(rtf), float(seconds) / 0.5, rel_tol=0.2, abs_tol=2e-3)  # 40 frames: 0.5 s
        rtfs.append(float(rtf))
        convergences.append(positive(convergence))
    assert max(convergences) - min(convergences) < 2e-3  # the same phase and loop: the same reconstruction
    positive(matches(rf"\(first call, compiling: {NUMBER} s\)$", output)[0])
    (ratio,) = matches(rf"^speed-up of XLA over TF: {NUMBER}x$", output)
    assert math.isclose(positive(ratio), rtfs[0] / rtfs[1], rel_tol=0.05)


@pytest.mark.slow  # about 20 s on 2 shared CPU cores (four infer functions traced)
def test_synth_speed_prints_acoustic_and_griffin_lim_real_time_factors(tiny_overrides):
    batch_size, input_length, frames_per_phone, r = 3, 5, 3, 2
    output = run_script("synth_speed.py", "--preset", "both", "--batch_size", str(batch_size), "--input_length",
                        str(input_length), "--max_frames_per_phone", str(frames_per_phone), "--outputs_per_step",
                        str(r), "--repeats", "1", "--seconds", "0.5", "--iters", "2", "--precision", "both",
                        "--hparams", tiny_overrides())
    acoustic = matches(rf"^(course|small) acoustic model \({NUMBER} M parameters\) (float32|bfloat16) batch (\d+): "
                       rf"(\d+) frames \({NUMBER} s of audio, (\d+)/(\d+) at the step limit\) in {NUMBER} s  "
                       rf"RTF {NUMBER}$", output)
    assert [(line[0], line[2], int(line[3])) for line in acoustic] == [
        (preset, precision, batch) for preset in ("course", "small") for precision in ("float32", "bfloat16")
        for batch in (1, batch_size)]
    acoustic = [line[:2] + line[3:] for line in acoustic]
    throughput = matches(rf"^(course|small) (float32|bfloat16): batch (\d+) throughput = {NUMBER}x batch 1's$",
                         output)
    assert len(throughput) == 4 and all(int(line[2]) == batch_size and positive(line[3]) for line in throughput)
    errors = matches(rf"^(course|small) bfloat16 vs float32 at batch (\d+): speed-up {NUMBER}x; mean abs error "
                     rf"{NUMBER}, 99th percentile {NUMBER}, max {NUMBER} \(normalised mel units\), (\d+)/(\d+) "
                     rf"lengths differ$", output)
    assert [(line[0], int(line[1])) for line in errors] == [
        ("course", 1), ("course", batch_size), ("small", 1), ("small", batch_size)]
    for _, _, speedup, mean, p99, largest, _, rows in errors:
        positive(speedup)
        # bfloat16 rounds (errors > 0) but stays close (untrained tiny models: mels of about +-1 around 0)
        assert 0 < float(mean) <= float(p99) <= float(largest) < 0.5, (mean, p99, largest)
    # The stop token is ignored by default; the limit grows with the input but is at least the course's
    # minimum of 12 decoder steps.
    limit = max(-(-input_length * frames_per_phone // r), 12) * r
    for _, parameters, batch, frames, audio, at_limit, rows, seconds, rtf in acoustic:
        positive(parameters)
        assert int(frames) == int(batch) * limit and int(at_limit) == int(rows) == int(batch)
        assert math.isclose(positive(audio), int(frames) * 200 / 16000, rel_tol=0.01)
        assert math.isclose(positive(rtf), positive(seconds) / float(audio), rel_tol=0.2, abs_tol=1e-3)

    ours = matches(rf"^Griffin-Lim ours \(tf\.function, warm\) batch (\d+): {NUMBER} s of audio in {NUMBER} s  "
                   rf"RTF {NUMBER}  spectral convergence {NUMBER}$", output)
    assert [int(line[0]) for line in ours] == [1, batch_size]
    for batch, audio, seconds, rtf, convergence in ours:
        assert math.isclose(positive(audio), int(batch) * 0.5, rel_tol=0.01)
        positive(seconds), positive(rtf), positive(convergence)
    ((audio, seconds, librosa_rtf, convergence),) = matches(
        rf"^Griffin-Lim librosa loop \(course\) per utterance: {NUMBER} s of audio in {NUMBER} s  RTF {NUMBER}  "
        rf"spectral convergence {NUMBER}$", output)
    positive(audio), positive(seconds), positive(librosa_rtf)
    # Same initial phase and iterations as ours: the same reconstruction quality.
    assert math.isclose(float(convergence), float(ours[0][4]), abs_tol=2e-3)
    ((speedup_1, speedup_b, batch),) = matches(
        rf"^speed-up of ours over the librosa loop: {NUMBER}x at batch 1, {NUMBER}x at batch (\d+)$", output)
    assert int(batch) == batch_size
    assert math.isclose(positive(speedup_1), float(librosa_rtf) / float(ours[0][3]), rel_tol=0.02)
    positive(speedup_b)
    totals = matches(rf"^(course|small) acoustic model \+ our Griffin-Lim \(sum of the RTFs above\): "
                     rf"RTF {NUMBER} at batch 1 \(float32\), RTF {NUMBER} at batch (\d+) \(float32\), "
                     rf"RTF {NUMBER} at batch 1 \(bfloat16\), RTF {NUMBER} at batch \d+ \(bfloat16\)$", output)
    assert [line[0] for line in totals] == ["course", "small"]
    for _, total_1, total_b, _, bf16_1, bf16_b in totals:
        positive(total_1), positive(total_b), positive(bf16_1), positive(bf16_b)


@pytest.mark.slow  # about 60 s on 2 shared CPU cores (two models, seven functions traced)
def test_profile_train_step_prints_parts_loop_bodies_and_op_times(tiny_overrides):
    output = run_script("profile_train_step.py", "--preset", "small", "--batch_size", "2", "--input_length", "5",
                        "--output_frames", "8", "--steps", "1", "--op_profile", "5", "--hparams", tiny_overrides())
    rows = dict((name.strip(), float(seconds)) for name, seconds in matches(
        rf"^((?:full step|forward|forward \+ gradients|encoder|decoder loop|post-net)[^\d]*?)\s+{NUMBER}\s+\d+%$",
        output))
    assert set(rows) == {"full step", "forward", "forward + gradients", "encoder (fwd + grad)",
                         "decoder loop (fwd + grad)", "post-net (fwd + grad)",
                         "decoder loop, tiny widths (fwd + grad)"}, rows
    assert all(positive(seconds) for seconds in rows.values())
    bodies = matches(r"^loop body (\S+): (\d+) ops; (.+)$", output)
    assert any("grad" in name for name, _, _ in bodies) and any("grad" not in name for name, _, _ in bodies)
    for _, total, top in bodies:  # the listed counts are the largest ones and sum to at most the total
        counts = [int(item.rsplit(" ", 1)[1]) for item in top.split(", ")]
        assert counts == sorted(counts, reverse=True) and sum(counts) <= int(total)
    ops = matches(rf"^  (\S+)\s+{NUMBER} ms\s+(\d+) calls$", output)
    assert len(ops) == 5 and all(positive(ms) and int(calls) > 0 for _, ms, calls in ops)
    assert [float(ms) for _, ms, _ in ops] == sorted((float(ms) for _, ms, _ in ops), reverse=True)


def test_lstm_step_speed_prints_each_batch_and_precision_with_its_real_time_factor():
    output = run_script("lstm_step_speed.py", "--batch_sizes", "1,3", "--precision", "both", "--steps", "3",
                        "--repeats", "1", "--outputs_per_step", "2")
    rows = matches(rf"^batch +(\d+) (float32|bfloat16) *: +{NUMBER} ms per step -> RTF of the LSTMs alone "
                   rf"{NUMBER} \(batch throughput: {NUMBER} per utterance\)$", output)
    assert [(int(batch), precision) for batch, precision, *_ in rows] == [
        (1, "float32"), (1, "bfloat16"), (3, "float32"), (3, "bfloat16")]
    for batch, _, ms, rtf, per_utterance in rows:
        # r = 2 frames of 12.5 ms per step: RTF = ms / 25; per utterance = RTF / batch (printed rounded).
        assert positive(rtf) == pytest.approx(positive(ms) / 25.0, rel=0.01, abs=1e-3)
        assert float(per_utterance) == pytest.approx(float(rtf) / int(batch), rel=0.02, abs=1e-4)
