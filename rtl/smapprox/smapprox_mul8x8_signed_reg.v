// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Registered signed 8x8 SMApprox multiplier for the accelerator: smapprox_mul8x8_signed between an
// input and an output register. Fixed latency of 2 cycles (two register stages): operands driven
// with in_valid during cycle n are sampled at the end of it and leave on p with out_valid during
// cycle n + 2 (right after the next rising edge); one result per cycle, no stall.
module smapprox_mul8x8_signed_reg #
(
    // Config of the unsigned core, four digits 0..4 (see smapprox_mul8x8).
    parameter integer CONFIG = 3330
)
(
    // Clock and synchronous active-high reset (clears the valid pipeline only)
    input  wire               clk,
    input  wire               rst,
    // Operands: two's complement -128..127; a is operand A
    input  wire signed [7:0]  a,
    input  wire signed [7:0]  b,
    input  wire               in_valid,
    // Product
    output wire signed [16:0] p,
    output wire               out_valid
);

reg signed [7:0]  a_reg = 8'sd0;
reg signed [7:0]  b_reg = 8'sd0;
reg               valid_reg = 1'b0;
reg signed [16:0] p_reg = 17'sd0;
reg               out_valid_reg = 1'b0;

wire signed [16:0] p_comb;

smapprox_mul8x8_signed #(.CONFIG(CONFIG)) u_mul (.a(a_reg), .b(b_reg), .p(p_comb));

always @(posedge clk) begin
    a_reg <= a;
    b_reg <= b;
    p_reg <= p_comb;
    valid_reg <= in_valid;
    out_valid_reg <= valid_reg;
    if (rst) begin
        valid_reg <= 1'b0;
        out_valid_reg <= 1'b0;
    end
end

assign p = p_reg;
assign out_valid = out_valid_reg;

endmodule

`resetall
