#!/usr/bin/env bash
# The CPU benchmarks as on a CPU without VNNI/AVX-512 (e.g. AMD Zen 2/3, Intel before Ice Lake), measured
# on a newer CPU by capping every library at AVX2: oneDNN (ONEDNN_MAX_CPU_ISA), ATen's kernels
# (ATEN_CPU_CAPABILITY), MKL (MKL_ENABLE_INSTRUCTIONS) and the C kernels (-march=x86-64-v3).
# Writes docs/benchmarks-avx2.md; `make bench` writes docs/benchmarks.md for the CPU as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 APPROXHIL_KERNEL_FLAGS=-march=x86-64-v3
exec "${PYTHON:-python3}" -m bench nn errormodel --out docs/benchmarks-avx2.md "$@"
