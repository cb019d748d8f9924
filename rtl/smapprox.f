// SMApprox multipliers: netlists, composition, signed and registered wrappers (paths relative to rtl/).
smapprox/smapprox_mul4x4_d0.v
smapprox/smapprox_mul4x4_d1.v
smapprox/smapprox_mul4x4_d2.v
smapprox/smapprox_mul4x4_d3.v
smapprox/smapprox_mul4x4_d4.v
smapprox/smapprox_mul4x4.v
smapprox/smapprox_ternary_adder.v
smapprox/smapprox_mul8x8.v
smapprox/smapprox_mul8x8_signed.v
smapprox/smapprox_mul8x8_signed_reg.v
