"""Progress reporting: a bar on a terminal, a few plain lines in a log."""
import io

from tacotron import progress as progress_lib


def test_format_seconds():
    assert progress_lib.format_seconds(65) == "1:05"
    assert progress_lib.format_seconds(3725) == "1:02:05"
    assert progress_lib.format_seconds(-3) == "0:00"


def test_a_log_gets_one_line_per_interval_and_one_at_the_end(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress_lib.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    progress = progress_lib.Progress(1000, "train", "step", initial=200, stream=stream, interval=30.0)
    for done in range(201, 1001):
        clock[0] += 0.5  # 0.5 s a step: 400 s in all
        progress.update(done, loss="0.5000")
        if done == 300:
            progress.write("step 300: valid loss 0.4")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 14 <= len(lines) <= 16  # 400 s / 30 s, the summary line, the final line
    assert "step 300: valid loss 0.4" in lines
    first = lines[0]
    assert first.startswith("train 260/1000 steps (26%)  loss 0.5000  0:30, ~6:10 left"), first
    assert lines[-1].startswith("train 1000/1000 steps (100%)")


def test_a_terminal_gets_a_bar():
    stream = io.StringIO()
    progress = progress_lib.Progress(10, "synthesize", "utterance", stream=stream, interactive=True)
    for done in range(1, 11):
        progress.update(done)
    progress.write("hello")
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "10/10" in text and "hello" in text
