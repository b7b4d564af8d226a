#!/usr/bin/env bash
# Quick start 1: set everything up and run the main job on the built-in demo corpus:
# make corpus -> preprocess -> train (small preset, GMM attention V2b) -> synthesize held-out utterances
# (wav + alignment PNG) -> export a SavedModel -> reload it and synthesize once more.
# Environment knobs: DEMO_DIR (default demo_output), DEMO_STEPS (training steps), DEMO_UTTERANCES.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
py=.venv/bin/python
# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is not for the reader; real errors still show.
quiet() { "$@" 2> >(grep -v -E '^(I0000|W0000|E0000 .*(cuInit|oneDNN|cuda)|WARNING: All log messages|To enable the following|AVX)' >&2); }
out=${DEMO_DIR:-demo_output}
steps=${DEMO_STEPS:-4000}
utterances=${DEMO_UTTERANCES:-1000}
hparams="save_summary_steps=500,save_checkpoints_steps=1000"

echo "== 1/6 demo corpus ($utterances utterances) -> $out/corpus"
quiet $py -m datasets.demo_corpus --out_dir "$out/corpus" --num_utterances "$utterances" --seed 1 \
    --min_phones 15 --max_phones 40
echo "== 2/6 preprocess -> $out/features"
quiet $py preprocess.py --label_dir "$out/corpus/labels" --wav_dir "$out/corpus/wavs" --out_dir "$out/features" \
    --preset small --valid_size 10 --n_jobs 2
echo "== 3/6 train $steps steps (small preset, gmm v2b) -> $out/train"
quiet $py train.py --data_dir "$out/features" --log_dir "$out/train" --preset small --max_steps "$steps" \
    --hparams "attention_type=gmm,gmm_version=v2b,$hparams"
held_out=$(head -n 3 "$out/features/valid.txt" | sed "s|^|$out/corpus/labels/|; s|$|.lab|" | paste -sd, -)
echo "== 4/6 synthesize held-out utterances -> $out/synthesis"
quiet $py synthesize.py --checkpoint_dir "$out/train" --labels "$held_out" --output_dir "$out/synthesis" --batch_size 3
echo "== 5/6 export SavedModel -> $out/saved_model"
quiet $py export.py --checkpoint_dir "$out/train" --output_dir "$out/saved_model"
echo "== 6/6 reload the SavedModel and synthesize again -> $out/synthesis_saved_model"
quiet $py synthesize.py --saved_model "$out/saved_model" --labels "$held_out" --output_dir "$out/synthesis_saved_model" \
    --batch_size 3
echo
echo "Outputs:"
echo "  corpus            $out/corpus (labels/, wavs/, durations.txt)"
echo "  features          $out/features (mels/, wavs/, metadata.csv, train.txt, valid.txt)"
echo "  training          $out/train (checkpoints/, hparams.yaml, TensorBoard events: tensorboard --logdir $out/train)"
echo "  alignment (train) $out/train/plots/alignment_latest.png and free_running_latest.png"
echo "  synthesis         $out/synthesis (<id>.wav, <id>.npy, <id>_alignment.png, <id>_alignment.npy)"
echo "  SavedModel        $out/saved_model"
echo "  reloaded model    $out/synthesis_saved_model"
