#!/usr/bin/env bash
# Trains Manyfold's built-in toy model from scratch with `manyfold train`, stage by stage, and installs the
# pipeline folder into resources/models/manyfold-toy (model_index.json, transformer/, text_encoder/, vae/,
# scheduler/; tokenizer/ is already there), then measures it with `manyfold eval-toy`.
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
for stage in vae mfm; do
  sed -e "s|@OUT@|$out|g" -e "s|@REPO@|$repo|g" "$here/$stage.json" > "$out/configs/$stage.json"
  if [ -f "$out/$stage/summary.json" ] && grep -q '"finished": true' "$out/$stage/summary.json"; then
    echo "stage $stage: already finished in $out/$stage"
    continue
  fi
  "$bin" train --config "$out/configs/$stage.json" --out "$out/$stage" --resume
done
dest="$repo/resources/models/manyfold-toy"
for part in model_index.json transformer text_encoder vae scheduler; do
  rm -rf "${dest:?}/$part"
  cp -r "$out/mfm/pipeline/$part" "$dest/$part"
done
cmp -s "$out/mfm/pipeline/tokenizer/spiece.model" "$dest/tokenizer/spiece.model" ||
  { echo "the trained pipeline's tokenizer differs from $dest/tokenizer" >&2; exit 1; }
mkdir -p "$dest/preview" && "$bin" fit-preview --vae "$dest/vae" --out "$dest/preview/manyfold-toy.json" --name manyfold-toy || echo "fit-preview failed (the default preview map is used)"
"$bin" eval-toy --model "$dest" --out "$out/eval.json" --markdown "$out/eval.md" || true
echo "installed the toy model into $dest; metrics in $out/eval.md"
