"""benchmarks/attention_benchmark.py --quick runs the whole pipeline and writes a well-formed report (the
pipeline is checked here, not the findings)."""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBER = r"\d+(?:\.\d+)?"
MEAN = rf"{NUMBER}(?: ± {NUMBER})?"              # one seed: "0.50"; several: "0.50 ± 0.10"
STEPS = r">?\d+(?: / >?\d+)*"                   # steps to align per seed, ">N" = never
PNGS = ("alignments_free_running.png", "alignments_teacher_forced.png", "scores_vs_length.png",
        "accuracy_vs_step.png")


def run_benchmark(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "attention_benchmark.py"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def table_after(text, heading):
    """The rows (lists of cell strings) of the first markdown table after `heading`, header row first."""
    lines = text[text.index(heading):].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert set("".join(rows[1])) <= set("- "), f"no separator row under the header: {rows[1]}"
    return [rows[0]] + rows[2:]


@pytest.mark.slow  # about 1 minute on 2 shared CPU cores (two tiny trainings)
def test_quick_run_writes_tables_and_pictures_to_its_scratch_directory(tmp_path):
    """Without --doc the report goes to the scratch directory: the published one is left alone."""
    published = os.path.join(ROOT, "docs", "attention_benchmark.md")
    published_before = open(published, "rb").read()
    doc = tmp_path / "scratch" / "attention_benchmark.md"
    result = run_benchmark("--quick", "--out_dir", str(tmp_path / "scratch"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert open(published, "rb").read() == published_before
    assert re.search(r"benchmark \d+/60 steps .*run bahdanau seed 1", result.stdout), result.stdout[-2000:]
    text = doc.read_text(encoding="utf-8")
    mechanisms = ["gmm_v2b", "bahdanau"]  # the --quick default
    summary = table_after(text, "## Summary")
    assert summary[0][0] == "mechanism" and len(summary[0]) == 8
    assert [row[0] for row in summary[1:]] == mechanisms
    for row in summary[1:]:
        assert len(row) == len(summary[0])
        assert re.fullmatch(STEPS, row[1]), row
        for value in row[2:]:
            assert re.fullmatch(MEAN, value), row
    for heading in ("## valid", "## 1x", "## 2x", "## 4x", "## 8x"):
        rows = table_after(text, heading)
        assert [row[0] for row in rows[1:]] == mechanisms
        for row in rows[1:]:
            assert len(row) == len(rows[0]) and all(re.fullmatch(MEAN, value) for value in row[1:]), row
    assert "Command: `" in text and "--quick" in text and "TensorFlow" in text and "Wall time" in text
    for name in PNGS:
        png = tmp_path / "scratch" / "attention_benchmark" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    results = json.loads((tmp_path / "scratch" / "results.json").read_text(encoding="utf-8"))
    assert [run["mechanism"] for run in results["runs"]] == mechanisms
    for run in results["runs"]:  # each run left a checkpoint directory that synthesize.py can load
        run_dir = tmp_path / "scratch" / "runs" / f"{run['mechanism']}_seed1"
        assert (run_dir / "hparams.yaml").is_file() and (run_dir / "checkpoints" / "checkpoint").is_file()
    # --report_only rewrites the same report from results.json and the runs' pictures.npz, without training.
    os.remove(doc)
    again = run_benchmark("--quick", "--out_dir", str(tmp_path / "scratch"), "--report_only")
    assert again.returncode == 0, again.stderr[-3000:]
    assert doc.read_text(encoding="utf-8") == text


@pytest.mark.slow  # about 1 minute on 2 shared CPU cores (two tiny trainings)
def test_every_run_trains_under_the_requested_mixed_precision_policy(tmp_path):
    """The policy is set per run: the keras.backend.clear_session() that ends a run resets the global one, so a
    policy set once would leave the second seed in float32."""
    result = run_benchmark("--quick", "--mechanisms", "gmm_v2b", "--seeds", "2", "--mixed_precision", "mixed_bfloat16",
                           "--out_dir", str(tmp_path / "scratch"))
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "scratch" / "results.json").read_text(encoding="utf-8"))
    assert [(run["seed"], run["policy"]) for run in results["runs"]] == [(1, "mixed_bfloat16"), (2, "mixed_bfloat16")]
    assert "--mixed_precision mixed_bfloat16" in (tmp_path / "scratch" / "attention_benchmark.md").read_text(
        encoding="utf-8")
