#!/usr/bin/env bash
# Real-GPU comparison: segloss (through Vulkan) against the same losses in PyTorch.
#
# Needs: a Linux machine with an NVIDIA GPU and its Vulkan driver (libvulkan1 + the NVIDIA
# ICD), a Rust toolchain, and Python with PyTorch built for CUDA. Runs `segloss bench --json
# --full` (8 images of 256² … 1024², multiclass and Lovasz softmax at 19 classes, GPU
# timestamps), then scripts/torch_bench.py over the same workloads (eager PyTorch, autograd
# for the backward, torch.compile when it works), and prints one table: segloss GB/s, % of
# the device's measured copy bandwidth, and the speed-up over PyTorch.
#
# Usage: scripts/gpu-bench.sh [--reps N]   (output also saved to target/gpu-bench.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=10
if [ "${1:-}" = "--reps" ]; then reps=$2; fi
cargo build --release --bin segloss
export WGPU_BACKEND=vulkan
./target/release/segloss info
./target/release/segloss bench --json --full --reps "$reps" > target/segloss-bench.json
python3 scripts/torch_bench.py target/segloss-bench.json --device cuda --reps "$reps" | tee target/gpu-bench.txt
