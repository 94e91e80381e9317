#!/usr/bin/env bash
# Trains Manyfold's built-in toy model from scratch with `manyfold train`, stage by stage, and installs the
# pipeline folder into resources/models/manyfold-toy (model_index.json, transformer/, text_encoder/, vae/,
# scheduler/; tokenizer/ is already there) when `manyfold eval-toy` finds that it beats every baseline.
#
#   resources/models/manyfold-toy/recipe/train_toy_model.sh [OUT]     (default OUT: toy-train)
#
# Stages: vae.json (CogVideoX-architecture VAE) -> mfm.json (MfM transformer + small T5 on the frozen VAE).
# Each stage resumes from its checkpoints when OUT already holds some, so an interrupted run continues where it
# stopped. Threads: MF_NUM_THREADS / OMP_NUM_THREADS (default: all cores). Times on 2 cores: see RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
out="$(mkdir -p "${1:-toy-train}" && cd "${1:-toy-train}" && pwd)"
bin="${MANYFOLD_BIN:-$repo/build/bin/manyfold}"
[ -x "$bin" ] || { echo "manyfold not found at $bin: build first (./setup.sh build) or set MANYFOLD_BIN" >&2; exit 2; }
mkdir -p "$out/configs"
# MF_VAE_DIR=<folder> skips the VAE stage and trains the transformer on that VAE (a diffusers-layout vae folder
# with config.json and diffusion_pytorch_model.safetensors, e.g. a finished run's OUT/vae/vae).
vae_dir="$out/vae/vae"
stages="vae mfm"
if [ -n "${MF_VAE_DIR:-}" ]; then
  vae_dir="$(cd "$MF_VAE_DIR" && pwd)" || { echo "MF_VAE_DIR=$MF_VAE_DIR is not a folder" >&2; exit 2; }
  [ -f "$vae_dir/config.json" ] && [ -f "$vae_dir/diffusion_pytorch_model.safetensors" ] ||
    { echo "MF_VAE_DIR=$vae_dir needs config.json and diffusion_pytorch_model.safetensors (a vae folder)" >&2; exit 2; }
  stages="mfm"
  echo "stage vae: skipped, using $vae_dir (MF_VAE_DIR)"
fi
for stage in $stages; do
  sed -e "s|@OUT@/vae/vae|$vae_dir|g" -e "s|@OUT@|$out|g" -e "s|@REPO@|$repo|g" "$here/$stage.json" > "$out/configs/$stage.json"
  if [ -f "$out/$stage/summary.json" ] && grep -q '"finished": true' "$out/$stage/summary.json"; then
    echo "stage $stage: already finished in $out/$stage"
    continue
  fi
  "$bin" train --config "$out/configs/$stage.json" --out "$out/$stage" --resume
done
dest="$repo/resources/models/manyfold-toy"
# Measure the trained pipeline first; install it as the built-in model only when it beats every baseline
# (MF_INSTALL_ANYWAY=1 installs a losing model too, for inspection).
if "$bin" eval-toy --model "$out/mfm/pipeline" --guidance 1 --out "$out/eval.json" --markdown "$out/eval.md"; then
  echo "the trained model beats every baseline"
elif [ "${MF_INSTALL_ANYWAY:-0}" = 1 ]; then
  echo "the trained model loses baseline rows (see $out/eval.md); installing anyway (MF_INSTALL_ANYWAY=1)" >&2
else
  echo "the trained model loses baseline rows (see $out/eval.md): not installed into $dest" >&2
  echo "(pipeline folder: $out/mfm/pipeline; MF_INSTALL_ANYWAY=1 installs it anyway)" >&2
  exit 1
fi
cmp -s "$out/mfm/pipeline/tokenizer/spiece.model" "$dest/tokenizer/spiece.model" ||
  { echo "the trained pipeline's tokenizer differs from $dest/tokenizer" >&2; exit 1; }
for part in model_index.json transformer text_encoder vae scheduler; do
  rm -rf "${dest:?}/$part"
  cp -r "$out/mfm/pipeline/$part" "$dest/$part"
done
cp "$out/eval.json" "$dest/eval_reference.json"  # what tests/model holds the installed model to
rm -rf "$dest/training" && mkdir -p "$dest/training"
for stage in vae mfm; do
  [ -f "$out/$stage/summary.json" ] || continue
  cp "$out/$stage/summary.json" "$dest/training/${stage}_summary.json"
  cp "$out/$stage/loss.csv" "$dest/training/${stage}_loss.csv"
done
{
  echo "# manyfold-toy: Manyfold's built-in toy model"
  echo
  echo "MfM architecture (transformer with the official condition adapter, CogVideoX VAE, T5 encoder, toy"
  echo "tokenizer, flow-matching scheduler) trained on the procedural toy world by recipe/train_toy_model.sh"
  echo "(configs recipe/vae.json and recipe/mfm.json; training record, steps, losses and times: recipe/RESULTS.md)."
  echo "A toy: it knows only the toy world's shapes, colours, stripes and motions at 96x64."
  echo
  lost=$(grep -c '[*][*]no[*][*]' "$out/eval.md" || true)
  total=$(grep '^| [a-z0-9]* | ' "$out/eval.md" | grep -vc '^| task |' || true)
  if [ "$lost" -gt 0 ]; then
    echo "**Status: not yet the model the product needs.** It loses $lost of the $total baseline rows below (the"
    echo "rows marked **no**): a simple non-learnt baseline does better there. It is installed so that the offline"
    echo "features run end to end on a trained model; tests/model holds it to these numbers, so a change that"
    echo "makes it worse fails."
  else
    echo "**Status:** it beats all $total baseline rows below; tests/model fails if a change loses one."
  fi
  echo
  echo "## Training"
  echo
  for stage in vae mfm; do
    summary="$out/$stage/summary.json"
    [ "$stage" = vae ] && [ -n "${MF_VAE_DIR:-}" ] && { echo "- vae: taken from $MF_VAE_DIR (MF_VAE_DIR)"; continue; }
    steps=$(grep -o '"step": *[0-9]*' "$summary" | tail -1 | grep -o '[0-9]*$')
    secs=$(grep -o '"train_seconds": *[0-9]*' "$summary" | head -1 | grep -o '[0-9]*$')
    echo "- $stage: recipe/$stage.json, $steps steps, $secs s of training on $(nproc) cores; loss curve and final"
    echo "  evaluation: training/${stage}_loss.csv, training/${stage}_summary.json"
  done
  echo
  echo "## Held-out quality (manyfold eval-toy --guidance 1, validation scenes disjoint from training)"
  echo
  cat "$out/eval.md"
} > "$dest/MODEL_CARD.md"
mkdir -p "$dest/preview" && "$bin" fit-preview --vae "$dest/vae" --out "$dest/preview/manyfold-toy.json" --name manyfold-toy || echo "fit-preview failed (the default preview map is used)"
echo "installed the toy model into $dest; metrics in $out/eval.md"
