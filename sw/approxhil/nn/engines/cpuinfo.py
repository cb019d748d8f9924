"""The CPU features that decide which engines are fast and exact here, as `make bench` prints them.

oneDNN's int8 convolution is exact only with VNNI (AVX512-VNNI, AVX-VNNI) or AMX; without them the
``lowrank`` engine is refused and ``auto`` measures ``lowrank-f32`` (float32, fast on AVX2, AVX-512 and
NEON alike) against the C ``gather`` kernel. ``ONEDNN_MAX_CPU_ISA`` caps what oneDNN uses, so a VNNI
machine can measure the no-VNNI case; the report names the cap and the probes' verdicts.
"""

from __future__ import annotations

import os
import platform

import torch

from approxhil.nn.engines import native

#: Feature label -> flag names (x86 ``/proc/cpuinfo`` flags, ARM ``Features``).
FEATURES = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f",),
    "VNNI": ("avx512_vnni", "avx_vnni"),
    "AMX-INT8": ("amx_int8",),
    "NEON": ("asimd", "neon"),
    "ARM-DOTPROD": ("asimddp",),
}
_X86 = ("AVX2", "AVX-512", "VNNI", "AMX-INT8")
_ARM = ("NEON", "ARM-DOTPROD")


def cpu_features() -> dict[str, bool]:
    """Which of :data:`FEATURES` this CPU has (for its architecture)."""
    flags = set(native.cpu_flags().lower().split())
    arch = platform.machine().lower()
    arm = arch in ("arm64", "aarch64") or arch.startswith("arm")
    found = {label: any(name in flags for name in FEATURES[label]) for label in (_ARM if arm else _X86)}
    if arm and arch in ("arm64", "aarch64"):
        found["NEON"] = True  # every 64-bit ARM CPU has Advanced SIMD (macOS has no /proc/cpuinfo)
    return found


def isa_report() -> dict[str, str]:
    """Instruction-set features, the ISA caps in force and the exactness probes of the int8/float32 paths."""
    from approxhil.nn.engines import floatconv, lowrank
    from approxhil.nn.engines.torchops import int_mm_exact

    features = cpu_features()
    caps = [
        f"{name}={os.environ[name]}"
        for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "APPROXHIL_KERNEL_FLAGS")
        if os.environ.get(name)
    ]
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    return {
        "features": ", ".join(f"{label} {yes(have)}" for label, have in features.items()),
        "caps": ", ".join(caps) or "none",
        "aten": torch.backends.cpu.get_cpu_capability(),
        "onednn_int8_exact": yes(lowrank.onednn_exact()),
        "int_mm_exact": yes(int_mm_exact()),
        "float32_conv_exact": yes(floatconv.float_conv_exact()),
        "c_kernels": "built" if native.library() is not None else "unavailable",
    }


def isa_summary() -> str:
    """One line: features, caps, ATen's kernels and which exact paths the probes accept."""
    r = isa_report()
    return (
        f"{platform.machine()}: {r['features']}; ISA caps: {r['caps']}; ATen kernels: {r['aten']}; "
        f"oneDNN int8 exact: {r['onednn_int8_exact']}, torch._int_mm exact: {r['int_mm_exact']}, "
        f"float32 convolution exact: {r['float32_conv_exact']}; C kernels: {r['c_kernels']}"
    )
