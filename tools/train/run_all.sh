#!/usr/bin/env bash
# Regenerate data, tokenizer, weights, every export, evaluation and fixtures from the seed.
# Needs: the Debian package `fortunes` (English text) and a venv from requirements.txt.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-../../.venv-train/bin/python}
SEED=${SEED:-1234}
# Export and evaluation: one thread per process (with two OpenMP threads on a contended 2-core
# machine, torch spent most of its time spinning; AWQ ran ~10x slower). Training uses 2.
export TORCH_THREADS=${TORCH_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=PASSIVE
STEPS=${STEPS:-3200}
nice -n 10 "$PY" gen_data.py --seed "$SEED"
nice -n 10 "$PY" train_tokenizer.py
# A step-based cosine schedule (bit-reproducible on one torch build): 3200 steps ≈ 35 min on an
# idle 2-core machine. STEPS=0 MINUTES=N follows the wall clock instead.
OMP_NUM_THREADS=2 nice -n 10 "$PY" train.py --seed "$SEED" --steps "$STEPS" --minutes "${MINUTES:-33}" --threads 2
nice -n 10 "$PY" export.py --n-calib 16 --n-grid 20
M=../../models/minimax-m2-tiny
nice -n 10 "$PY" check_hf_equivalence.py $M/bf16/config.json $M/bf16/model.safetensors
nice -n 10 "$PY" evaluate.py --n-prompts 50 --n-quant-prompts 20 --n-ppl-docs 200 --max-new 120
nice -n 10 "$PY" write_card.py
