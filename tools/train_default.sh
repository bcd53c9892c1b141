#!/usr/bin/env bash
# The bundled model, from nothing: its data, its training run, its score calibration (docs/training.md,
# "The bundled model"). About 1.5 h on 2 cores of the BF16 machine; every step skips what is done, and
# an interrupted training run resumes exactly where it stopped. OUT=runs/default by default.
set -euo pipefail
out=${OUT:-runs/default}
mkdir -p "$out"

# training data: the generator's training look, and the physics cell's own renders in that look
[ -d "$out/look_train" ] || grasp-scorer-synth --out "$out/look_train" --count 3000 --seed 7 --look train --workers 2 --quiet
[ -d "$out/cell_train" ] || grasp-scorer-cell-renders --out "$out/cell_train" --count 1500 --seed 3000 --look train --quiet
# validation looks, never trained on: they choose the final score's weight and fit its calibration
[ -d "$out/look_val" ] || grasp-scorer-synth --out "$out/look_val" --count 600 --seed 8 --look heldout --workers 2 --quiet
[ -d "$out/cell_val" ] || grasp-scorer-cell-renders --out "$out/cell_val" --count 300 --seed 2000 --quiet

resume=()
[ -f "$out/run/last.pt" ] && resume=(--resume "$out/run/last.pt")
[ -f "$out/run/final.pt" ] || grasp-scorer-train --dataset jacquard --data-root "$out/look_train" \
    --extra-train-root "$out/cell_train" --extra-share 0.3 \
    --backbone efficientnet_lite0 --pretrained required --freeze-stages 3 --fe-batch-norm frozen \
    --optimizer adam --lr 0.0003 --batch-size 10 --iterations 1000 --seed 0 \
    --threads 1 --workers 0 --eval-every 500 --eval-limit 300 --checkpoint-every 250 \
    --cache "$out/cache" --out "$out/run" "${resume[@]}"

python -m grasp_scorer_ros.training.score_calibration --checkpoint "$out/run/final.pt" \
    --look heldout_val="$out/look_val" --look cell_val="$out/cell_val" --scorer-weight 0.1 --half \
    --out "$out/default.pt"
# its int8 FE + PGP for engine:=openvino onnx_model:=int8, checked against float32 on held-out images
grasp-scorer-export --checkpoint "$out/default.pt" --int8 --out "$out/default_int8.onnx" \
    --check objects="$out/look_train:fold0" --check look="$out/look_val"
echo "wrote $out/default.pt and $out/default_int8.onnx (with .json): copy them to grasp_scorer_ros/weights/ to ship them"
