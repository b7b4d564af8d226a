"""The README's main-job command (scripts/demo.sh) end to end at a small scale."""
import os
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_demo_script_runs_the_whole_loop(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, DEMO_DIR=str(out), DEMO_STEPS="12", DEMO_UTTERANCES="24")
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Outputs:" in result.stdout
    held_out = [line.strip() for line in open(out / "features" / "valid.txt", encoding="utf-8")][:3]
    assert held_out
    hop = 200
    for utt_id in held_out:
        for folder in ("synthesis", "synthesis_saved_model"):
            mel = np.load(out / folder / f"{utt_id}.npy")
            wav, rate = soundfile.read(out / folder / f"{utt_id}.wav")
            assert rate == 16000 and mel.shape[1] == 80
            assert len(wav) == mel.shape[0] * hop
            assert (out / folder / f"{utt_id}_alignment.png").stat().st_size > 0
            alignment = np.load(out / folder / f"{utt_id}_alignment.npy")
            assert alignment.shape[0] == -(-mel.shape[0] // 5)
        np.testing.assert_allclose(np.load(out / "synthesis" / f"{utt_id}.npy"),
                                   np.load(out / "synthesis_saved_model" / f"{utt_id}.npy"), atol=1e-4)
    assert (out / "train" / "plots" / "alignment_latest.png").is_file()
    assert (out / "saved_model" / "saved_model.pb").is_file()
