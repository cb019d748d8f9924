// The approxhil measurement accelerator (paths relative to hw/); needs rtl/smapprox.f (and, in
// simulation, rtl/primitives.f) before it.
rtl/hil_mul_bank.v
rtl/hil_engine.v
rtl/hil_axil_regs.v
rtl/approxhil_accel.v
