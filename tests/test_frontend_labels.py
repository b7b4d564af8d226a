"""The one label reader (text/labels.py read_labels) that preprocessing and synthesis share, and the label
lines the front-end writes going through it."""
import pytest

from datasets import preprocessor
from tacotron import synthesis
from text import labels
from text.frontend import Frontend
from text.frontend import convert

GOOD = "sil n i 3 #0 h ao 3 sil"


def write(directory, files):
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return labels.list_label_files(str(directory))


def test_reader_skips_bad_lines_and_names_them_with_a_reason(tmp_path):
    (tmp_path / "g.lab").write_bytes(b"\xff\xfe\x00bad")
    paths = write(tmp_path, {
        "a.lab": f"a1|你好|{GOOD}\na2|你好|{GOOD} ~\nbad|你好|sil QQ sil\n",
        "b.lab": f"a1|你好|{GOOD}\n",
        "c.lab": "c1|only two\n",
        "d.lab": " \n",
        "e.lab": f"../e|你好|{GOOD}\n",
        "f.lab": "f1|你好|~\n",
    })
    utterances, problems = labels.read_labels(paths + [str(tmp_path / "missing.lab")])
    assert [(u.utt_id, u.phones) for u in utterances] == [("a1", GOOD.split()), ("a2", GOOD.split())]
    found = [(problem.reason, str(problem)) for problem in problems]
    assert found == [
        ("unknown phone", f"{tmp_path}/a.lab:3: unknown phone symbol 'QQ' in utterance bad"),
        ("duplicate id", f"{tmp_path}/b.lab: utterance id a1 repeats one from {tmp_path}/a.lab:1"),
        ("malformed label", f"{tmp_path}/c.lab: malformed label, expected 'id|text|phones' but got 2 field(s)"),
        ("empty label", f"{tmp_path}/d.lab: empty label"),
        ("malformed label", f"{tmp_path}/e.lab: utterance id '../e' cannot be used as a file name"),
        ("malformed label", f"{tmp_path}/f.lab: utterance f1 has no phones"),
        ("malformed label", f"{tmp_path}/g.lab: not UTF-8 text"),
        ("malformed label", f"{tmp_path}/missing.lab: cannot read (No such file or directory)"),
    ]
    assert all(problem.reason in labels.REASONS for problem in problems)
    assert all(isinstance(problem, labels.LabelError) for problem in problems)


def test_preprocessing_and_synthesis_read_alike(tmp_path):
    write(tmp_path, {"a.lab": f"a1|你好|{GOOD}\nbad|你好|sil QQ sil\n", "b.lab": f"a1|你好|{GOOD}\n",
                     "e.lab": f"..|你好|{GOOD}\n"})
    pre_utterances, skips = preprocessor.collect_utterances(str(tmp_path))
    syn_utterances, problems = synthesis.collect_utterances(label_dir=str(tmp_path))
    assert pre_utterances == syn_utterances == [labels.Utterance("a1", "你好", GOOD.split())]
    assert [skip.message for skip in skips] == problems
    assert [skip.reason for skip in skips] == ["unknown phone", "duplicate id", "malformed label"]


def test_read_label_file_still_raises_on_the_first_problem(tmp_path):
    (path,) = write(tmp_path, {"x.lab": f"x1|你好|{GOOD}\nx2|你好|sil zz sil\n"})
    with pytest.raises(labels.LabelError, match="x.lab:2: unknown phone symbol 'zz'") as info:
        labels.read_label_file(path)
    assert info.value.reason == labels.UNKNOWN_PHONE


def test_front_end_output_reads_back(tmp_path):
    lines, problems = convert(Frontend(), ["卡尔普陪外孙玩滑梯。", "今天是2024年3月5日，天气很好。"])
    assert problems == []
    (path,) = write(tmp_path, {"text.lab": "\n".join(lines) + "\n"})
    utterances, problems = labels.read_labels([path])
    assert problems == [] and [u.utt_id for u in utterances] == ["000001", "000002"]
    assert utterances[1].text == "今天是2024年3月5日，天气很好。"
