// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// SMApprox 8x8 unsigned multiplier p = LL + ((HL + LH) << 4) + (HH << 8) from four 4x4 blocks,
// added exactly by a LUT6_2/CARRY4 ternary adder (docs/multipliers.md).
module smapprox_mul8x8 #
(
    // Four decimal digits d_LL d_HL d_LH d_HH, each a 4x4 design 0..4 (e.g. 3330; 0000 is exact):
    // LL = M[d_LL](a[3:0], b[3:0]), HL = M[d_HL](a[7:4], b[3:0]), LH = M[d_LH](a[3:0], b[7:4]),
    // HH = M[d_HH](a[7:4], b[7:4]). Other values stop elaboration
    // (unknown module smapprox_mul8x8_illegal_CONFIG).
    parameter integer CONFIG = 3330
)
(
    // Operands: a is operand A
    input  wire [7:0]  a,
    input  wire [7:0]  b,
    // Product
    output wire [15:0] p
);

localparam integer D_LL = (CONFIG / 1000) % 10;
localparam integer D_HL = (CONFIG / 100) % 10;
localparam integer D_LH = (CONFIG / 10) % 10;
localparam integer D_HH = CONFIG % 10;

generate
if (CONFIG < 0 || CONFIG > 9999 || D_LL > 4 || D_HL > 4 || D_LH > 4 || D_HH > 4) begin : g_illegal
    // No portable elaboration-time $error in Verilog-2005: a missing module stops every tool here.
    smapprox_mul8x8_illegal_CONFIG u_illegal_config ();
end
endgenerate

wire [7:0] p_ll;
wire [7:0] p_hl;
wire [7:0] p_lh;
wire [7:0] p_hh;

smapprox_mul4x4 #(.DESIGN(D_LL)) u_ll (.a(a[3:0]), .b(b[3:0]), .p(p_ll));
smapprox_mul4x4 #(.DESIGN(D_HL)) u_hl (.a(a[7:4]), .b(b[3:0]), .p(p_hl));
smapprox_mul4x4 #(.DESIGN(D_LH)) u_lh (.a(a[3:0]), .b(b[7:4]), .p(p_lh));
smapprox_mul4x4 #(.DESIGN(D_HH)) u_hh (.a(a[7:4]), .b(b[7:4]), .p(p_hh));

// LL and HH do not overlap: one addend {HH, LL}, the middle blocks enter at bit 4.
smapprox_ternary_adder u_add (.z({p_hh, p_ll}), .u(p_hl), .v(p_lh), .s(p));

endmodule

`resetall
