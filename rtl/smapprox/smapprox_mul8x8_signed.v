// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Signed 8x8 SMApprox multiply in sign-magnitude form: p = sign(a) sign(b) M(|a|, |b|), with M the
// unsigned core smapprox_mul8x8 #(CONFIG) and |a|, |b| <= 128 (docs/multipliers.md). Combinational.
module smapprox_mul8x8_signed #
(
    // Config of the unsigned core, four digits 0..4 (see smapprox_mul8x8).
    parameter integer CONFIG = 3330
)
(
    // Operands: two's complement -128..127; a is operand A
    input  wire signed [7:0]  a,
    input  wire signed [7:0]  b,
    // Product: -65535..65535
    output wire signed [16:0] p
);

// Magnitudes: 8 bits hold |-128| = 128.
wire [7:0] mag_a = a[7] ? 8'd0 - a : a;
wire [7:0] mag_b = b[7] ? 8'd0 - b : b;
wire negative = a[7] ^ b[7];

wire [15:0] m;

smapprox_mul8x8 #(.CONFIG(CONFIG)) u_core (.a(mag_a), .b(mag_b), .p(m));

// M(0, x) = M(x, 0) = 0 for every design, so a zero operand gives 0 whatever its sign.
assign p = negative ? 17'sd0 - $signed({1'b0, m}) : $signed({1'b0, m});

endmodule

`resetall
