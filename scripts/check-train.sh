#!/usr/bin/env bash
# Runs examples/train.rs (a training loop on the GPU: model forward, segloss loss and gradient,
# model backward and Adam, one submission a step) and checks what it printed: the loss lines
# ("step N  loss X") must fall to at most half the first, and the last line must report a
# held-out IoU ("held-out IoU X") of at least 0.9. The example checks the same and exits
# non-zero itself; this script also catches output that does not say what it should.
# Uses the default adapter; set WGPU_BACKEND to choose one.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # silences a harmless lavapipe warning

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
cargo run --release -q --example train | tee "$out" || status=$?
if [ "$status" -ne 0 ]; then
  echo "check-train: the example exited with status $status" >&2
  exit 1
fi
awk '
  $1 == "step" && $3 == "loss" { if (n++ == 0) first = $4; last = $4 }
  $1 == "held-out" && $2 == "IoU" { iou = $3; seen = 1 }
  END {
    if (n < 2) { print "check-train: fewer than two loss lines" > "/dev/stderr"; exit 1 }
    if (!(last + 0 <= 0.5 * first)) {
      printf "check-train: the loss did not fall: %s -> %s\n", first, last > "/dev/stderr"; exit 1
    }
    if (!seen) { print "check-train: no held-out IoU line" > "/dev/stderr"; exit 1 }
    if (!(iou + 0 >= 0.9)) { printf "check-train: held-out IoU %s < 0.9\n", iou > "/dev/stderr"; exit 1 }
    printf "check-train: ok (loss %s -> %s over %d readings, held-out IoU %s)\n", first, last, n, iou
  }
' "$out"
