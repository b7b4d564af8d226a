"""The attention benchmark's report: scoring thresholds, markdown tables, findings and pictures.

benchmarks/attention_benchmark.py trains and scores; this module turns its results (one dict per run, see
`train_and_score` there) into docs/attention_benchmark.md and its PNGs.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets import fileio  # noqa: E402  (after the sys.path line)

MULTIPLES = (1, 2, 4, 8)
ALIGNED = 0.8  # teacher-forced valid accuracy that counts as "aligned" ...
IN_A_ROW = 3  # ... at this many evaluations in a row
HOLDS = 0.5    # free-running clean share from which a mechanism "holds" at a length
# The hand-written study of why content-based attention aligns or not, included in the report as it is.
STUDY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention_study.md")
METRICS = (("tf_accuracy", "TF accuracy"), ("reaches_end", "reaches end"), ("skipped_phones", "skipped/utt"),
           ("repeated_phones", "repeats/utt"), ("stopped", "stop fired"), ("length_ratio", "length ratio"),
           ("clean", "clean"), ("dtw_accuracy", "FR accuracy"))


def cell(values, digits=2):
    """Mean over seeds +- half their range (the interval covers every seed)."""
    mean, half = float(np.mean(values)), float(np.max(values) - np.min(values)) / 2.0
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def steps_cell(runs, steps):
    """Steps to align of every seed, '>N' for a run that never aligned (N = its trained steps)."""
    return " / ".join(f"{run['steps_to_align']}" if run["steps_to_align"] else f">{steps}" for run in runs)


def values(runs, name, key):
    return [run["sets"][name][key] for run in runs]


def holds_up_to(runs):
    """Largest multiple up to which the mean clean share stays >= HOLDS (0 when it fails at 1x)."""
    longest = 0
    for multiple in MULTIPLES:
        if np.mean(values(runs, f"{multiple}x", "clean")) < HOLDS:
            break
        longest = multiple
    return longest


def holds_text(runs):
    """ "holds up to 4x", or "does not hold at 1x" when it fails at the training lengths already."""
    longest = holds_up_to(runs)
    return f"holds up to {longest}x" if longest else f"does not hold at {MULTIPLES[0]}x"


def num_aligned(runs):
    return sum(run["steps_to_align"] is not None for run in runs)


def paper_rows(by_mechanism, steps):
    """(paper's finding, measured here, verdict) for the mechanisms that were run. A mechanism that did not
    align on its own is judged by its "+guided" row when there is one (the guided loss acts in training only,
    so length generalisation at synthesis is still the mechanism's own)."""
    rows, last = [], MULTIPLES[-1]
    for name, claim, agrees in (
            ("bahdanau", "content-based: errors rise as soon as inputs exceed the training length",
             lambda n: n < 2),
            ("location_sensitive", "location-sensitive: fails around 3x the training length", lambda n: n == 2),
            ("gmm_v2b", "GMM V2b: holds over the whole tested range", lambda n: n == last),
            ("dca", "DCA: holds over the whole tested range", lambda n: n == last)):
        runs = by_mechanism.get(name)
        if runs and not num_aligned(runs) and num_aligned(by_mechanism.get(f"{name}+guided", [])):
            name = f"{name}+guided"
            runs = by_mechanism[name]
        if runs and not num_aligned(runs):
            rows.append((claim, f"{name} never aligned in {steps} steps", "not testable here"))
        elif runs:
            measured = (f"{name} {holds_text(runs)} (clean share at {last}x: "
                        f"{cell(values(runs, f'{last}x', 'clean'))})")
            rows.append((claim, measured, "agrees" if agrees(holds_up_to(runs)) else "differs"))
    for name in ("gmm_v2b", "dca"):
        if name in by_mechanism:
            runs = by_mechanism[name]
            rows.append((f"{name}: aligns quickly and consistently", f"steps to align {steps_cell(runs, steps)}",
                         "agrees" if num_aligned(runs) == len(runs) else "differs"))

    def mean_steps(name):
        return np.mean([run["steps_to_align"] or steps + 1 for run in by_mechanism[name]])

    for name in ("gmm_v0", "gmm_v1"):
        if name in by_mechanism and "gmm_v2b" in by_mechanism:
            measured = (f"steps to align {steps_cell(by_mechanism[name], steps)} "
                        f"(V2b: {steps_cell(by_mechanism['gmm_v2b'], steps)})")
            rows.append((f"{name}: often fails to align or aligns late", measured,
                         "agrees" if mean_steps(name) > mean_steps("gmm_v2b") else "differs"))
    return rows


def findings(by_mechanism, steps):
    """One line per mechanism, read off the numbers (so that it stays true when the benchmark is rerun)."""
    lines, last = [], f"{MULTIPLES[-1]}x"
    for name, runs in by_mechanism.items():
        aligned = [str(run["steps_to_align"]) for run in runs if run["steps_to_align"] is not None]
        if not aligned:
            lines.append(f"- **{name}** did not align in {steps} steps with any seed (teacher-forced valid "
                         f"accuracy {cell(values(runs, 'valid', 'tf_accuracy'))}); its long-input scores show an "
                         "untrained attention, not length generalisation.")
            continue
        clean = ", ".join(f"{set_name} {cell(values(runs, set_name, 'clean'))}" for set_name in runs[0]["sets"])
        lines.append(
            f"- **{name}** aligned in {len(aligned)} of {len(runs)} runs (after {', '.join(aligned)} steps). "
            f"Free running it {holds_text(runs)} (clean share {clean}). Teacher-forced accuracy "
            f"goes from {cell(values(runs, 'valid', 'tf_accuracy'))} (valid) to "
            f"{cell(values(runs, last, 'tf_accuracy'))} ({last}), free-running accuracy from "
            f"{cell(values(runs, 'valid', 'dtw_accuracy'))} to {cell(values(runs, last, 'dtw_accuracy'))}.")
    return lines


def window_rows(by_mechanism, names):
    """Rows "mechanism | clean share without -> with the attention window" per set, for the runs that were
    also scored with the window (softmax mechanisms)."""
    rows = []
    for mechanism, runs in by_mechanism.items():
        if all("windowed" in run for run in runs):
            rows.append([mechanism] + [
                f"{np.mean(values(runs, name, 'clean')):.2f} → "
                f"{np.mean([run['windowed'][name]['clean'] for run in runs]):.2f}" for name in names]
                + [f"{np.mean(values(runs, names[-1], 'dtw_accuracy')):.2f} → "
                   f"{np.mean([run['windowed'][names[-1]]['dtw_accuracy'] for run in runs]):.2f}"])
    return rows


def table(header, rows):
    return (["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in rows] + [""])


def save(figure, path):
    with fileio.atomic_path(path) as temp_path:
        figure.savefig(temp_path, format="png", dpi=72)
    plt.close(figure)


def plot_grid(pictures, lengths, mode, path):
    """Alignments (mechanism x set) of the first utterance of each set, first seed; mode 0 = teacher forced,
    1 = free running."""
    rows, columns = list(pictures), list(lengths)
    figure, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                                figsize=(2.6 * len(columns), 1.9 * len(rows)))
    for row, mechanism in enumerate(rows):
        for column, name in enumerate(columns):
            axes[row, column].imshow(pictures[mechanism][name][mode].T, aspect="auto", origin="lower",
                                     interpolation="none", cmap="viridis")
            axes[row, column].set_title(f"{mechanism}, {name} ({lengths[name]} tok)", fontsize=8)
            axes[row, column].tick_params(labelsize=6)
    figure.supxlabel("decoder step")
    figure.supylabel("encoder step (phone)")
    figure.tight_layout()
    save(figure, path)


def plot_curves(by_mechanism, image_dir):
    """Scores vs input length (mean over seeds, bars = range), and valid accuracy vs training step."""
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    keys = (("tf_accuracy", "teacher-forced accuracy"), ("clean", "free-running clean share"),
            ("dtw_accuracy", "free-running accuracy (DTW)"))
    for mechanism, runs in by_mechanism.items():
        for axis, (key, _) in zip(axes, keys):
            scores = np.array([values(runs, f"{m}x", key) for m in MULTIPLES])  # [lengths, seeds]
            mean = scores.mean(axis=1)
            axis.errorbar(MULTIPLES, mean, yerr=[mean - scores.min(axis=1), scores.max(axis=1) - mean],
                          marker="o", capsize=3, label=mechanism)
    for axis, (_, title) in zip(axes, keys):
        axis.set_xscale("log", base=2)
        axis.set_xticks(MULTIPLES, [f"{m}x" for m in MULTIPLES])
        axis.set(ylim=(-0.05, 1.05), xlabel="input length / longest training input", title=title)
    axes[0].legend(fontsize=8)
    save(figure, os.path.join(image_dir, "scores_vs_length.png"))
    figure, axis = plt.subplots(figsize=(7, 4))
    for mechanism, runs in by_mechanism.items():
        usable = min(len(run["history"]) for run in runs)
        accuracy = np.mean([[score for _, score in run["history"][:usable]] for run in runs], axis=0)
        axis.plot([step for step, _ in runs[0]["history"][:usable]], accuracy, label=mechanism)
    axis.axhline(ALIGNED, color="gray", linestyle=":")
    axis.set(xlabel="training step", ylabel="teacher-forced valid accuracy")
    axis.legend(fontsize=8)
    save(figure, os.path.join(image_dir, "accuracy_vs_step.png"))


# Prose of the report; markdown joins the lines of a paragraph. Filled with str.format(**info).
INTRO = """Generated by `benchmarks/attention_benchmark.py` (rerun it rather than editing). Each mechanism is
trained the same way (small preset, {parameters} parameters, r = 5, batch 16, the same data and {steps} steps,
seeds 1..{seeds}) on the generated demo corpus ({num_utterances} utterances of {valid_tokens} tokens), then
scored on held-out utterances of the training lengths (`valid`) and on {long_utterances} utterances each with
{multiples} the tokens of the longest training utterance ({long_tokens} tokens). A cell is the mean over seeds
± half their range (the interval covers every seed).

"+guided" rows add the guided attention loss in training (`guided_attention_weight=1`, `guided_attention_sigma=0.4`);
everything else, synthesis included, is the mechanism's own.{hparams_note}

- Command: `{command}`
- Machine: {machine}
- Wall time: {wall_minutes:.1f} min (data {data_minutes:.1f} min), {seconds_per_step:.3f} s/step on average"""
DEFINITIONS = """Metrics (`tacotron/alignment_metrics.py`). **Teacher forced** (the decoder is fed the recorded
mel, so its timing follows the recording): *TF accuracy* = share of decoder steps whose attended phone (the row
argmax of the alignment; for GMM of the mixture alignment) is within ±1 token of the phone that contains the
step's middle frame. *Steps to align* = first evaluation (every {eval_every} steps) from which the TF accuracy on
the valid set is ≥ {aligned} at {in_a_row} evaluations in a row; `>{steps}` = never. **Free running** (synthesis
as in `synthesize.py`, pre-net dropout on, seeded per utterance): *reaches end* = the attended phone gets to the
last label token or `~`; *skipped/utt* = tokens jumped over by forward jumps of more than 3 tokens in one step
(short tokens are legitimately passed within one 5-frame step); *repeats/utt* = backward jumps by 2 tokens or
more; *stop fired* = the stop token ended decoding (else the step limit did, 20 frames per input token);
*length ratio* = generated / recorded frames; *clean* = reaches the end, no skip, no repeat, stop fired and
length ratio in [0.67, 1.5]; *FR accuracy* = like TF accuracy, with the true phone of each generated frame found
by dynamic time warping of the generated mel onto the recorded one. A mechanism *holds* at a length when its
mean clean share there is ≥ {holds}."""
READING = """Reading the two modes: teacher forcing imposes the recording's timing on the decoder, so an
attention whose own pace is slightly off drifts further from the audio the longer the input. A low
teacher-forced accuracy on long inputs together with clean free running means that the attention keeps its own
steady pace (and the generated audio follows it), not that it got lost. Free running is what synthesis does;
*FR accuracy* checks that the generated audio says the attended phones, in the text's order."""
CAVEATS = """Why this can differ from the paper (Battenberg et al. 2019): a small model trained for minutes (the
paper trained full-size models on real speech far longer and judged long utterances by listening and speech
recognition), synthetic Mandarin-like audio whose tokens have fixed spectra and durations, r = 5,
{long_utterances} utterances per long set and {seeds} seed(s) per mechanism. A mechanism that has not aligned
after these steps may still align later (`--mechanisms bahdanau,location_sensitive --steps 10000` tells).

## Runs

Checkpoints and `results.json` (the scores of every utterance) are in `{out_dir}`;
`synthesize.py --checkpoint_dir {out_dir}/runs/<mechanism>_seed<k>` synthesises with one of them.
"""


def write_doc(path, by_mechanism, lengths, info):
    """The markdown report (see the module docstring)."""
    steps, images, names = info["steps"], os.path.basename(os.path.splitext(path)[0]), list(lengths)
    last = f"{MULTIPLES[-1]}x"
    info = dict(info, valid_tokens=lengths["valid"], multiples=", ".join(names[1:]), aligned=ALIGNED,
                long_tokens=", ".join(lengths[name] for name in names[1:]), in_a_row=IN_A_ROW, holds=HOLDS)
    info["hparams_note"] = (f" Every run also had `--hparams {info['hparams']}`." if info.get("hparams") else "")
    lines = ["# Attention benchmark: why GMM attention", "", INTRO.format(**info), "", "## Summary", ""]
    lines += table(["mechanism", "steps to align (per seed)", "TF accuracy valid", f"TF accuracy {last}"]
                   + [f"clean {name}" for name in ["valid"] + names[2:]],
                   [[mechanism, steps_cell(runs, steps)]
                    + [cell(values(runs, name, "tf_accuracy")) for name in ("valid", last)]
                    + [cell(values(runs, name, "clean")) for name in ["valid"] + names[2:]]
                    for mechanism, runs in by_mechanism.items()])
    lines += [DEFINITIONS.format(**info), ""]
    for name in names:
        lines += [f"## {name}: {lengths[name]} tokens", ""]
        lines += table(["mechanism"] + [title for _, title in METRICS] + ["hit max steps (all seeds)"],
                       [[mechanism] + [cell(values(runs, name, key)) for key, _ in METRICS]
                        + [str(sum(values(runs, name, "hit_max_steps")))]
                        for mechanism, runs in by_mechanism.items()])
    windowed = window_rows(by_mechanism, names)
    if windowed:
        lines += ["## Attention window at synthesis", "",
                  f"The softmax mechanisms' trained weights scored a second time with the attention window "
                  f"`attention_window={info.get('window')}` (attend only from {info.get('window', [0])[0]} token "
                  f"before to {info.get('window', [0, 0])[-1]} after the previous step's peak): clean share "
                  f"without → with the window, mean over seeds.", ""]
        lines += table(["mechanism"] + [f"clean {name}" for name in names] + [f"FR accuracy {last}"], windowed)
    lines += ["## Pictures", "", "Free-running alignments (first utterance of each set, seed 1):", "",
              f"![free-running alignments]({images}/alignments_free_running.png)", "",
              "Teacher-forced alignments of the same utterances:", "",
              f"![teacher-forced alignments]({images}/alignments_teacher_forced.png)", "",
              "Scores vs input length:", "", f"![scores vs length]({images}/scores_vs_length.png)", "",
              "Teacher-forced valid accuracy while training (mean over seeds):", "",
              f"![accuracy vs step]({images}/accuracy_vs_step.png)", "", "## What the numbers show", ""]
    lines += findings(by_mechanism, steps) + ["", READING, "", "### Compared with the paper", ""]
    lines += table(["paper", "here", "verdict"], paper_rows(by_mechanism, steps))
    if os.path.isfile(STUDY):
        with open(STUDY, encoding="utf-8") as handle:
            lines += [handle.read().strip(), ""]
    lines += [CAVEATS.format(**info)]
    lines += table(["mechanism", "seed", "s/step", "train min", "final loss", "diverged at"],
                   [[run["mechanism"], str(run["seed"]), f"{run['seconds_per_step']:.3f}",
                     f"{run['train_seconds'] / 60:.1f}", f"{run['final_loss']:.3f}",
                     str(run["diverged_at"] or "-")]
                    for runs in by_mechanism.values() for run in runs])
    fileio.write_text(path, "\n".join(lines))
