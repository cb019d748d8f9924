// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// One lane's bank of signed 8x8 SMApprox multipliers, one per config, with a run-time select.
// Operands reach only the selected multiplier (the others see zeros), so unselected multipliers
// do not toggle; the product of the selected one is returned combinationally.
module hil_mul_bank #(
    // Number of multipliers in the bank (1..16).
    parameter integer NUM_CONFIGS = 1,
    // Their SMApprox configs, 16 bits each (decimal value, e.g. 3330), entry 0 in the low bits.
    parameter [16*NUM_CONFIGS-1:0] CONFIGS = 16'd3330
) (
    // Operands (two's-complement values; sign-magnitude multiply inside)
    input  wire signed [7:0]  a,
    input  wire signed [7:0]  b,
    // Which multiplier: 0..NUM_CONFIGS-1 (others give 0)
    input  wire [3:0]         sel,
    // Product of the selected multiplier
    output wire signed [16:0] p
);

    initial begin
        if (NUM_CONFIGS < 1 || NUM_CONFIGS > 16) begin
            $error("%m: NUM_CONFIGS must be 1..16, got %0d", NUM_CONFIGS);
            $finish;
        end
    end

    wire [17*NUM_CONFIGS-1:0] products;

    genvar i;
    generate
        for (i = 0; i < NUM_CONFIGS; i = i + 1) begin : g_mul
            wire hit = (sel == i);
            wire signed [7:0] a_g = hit ? a : 8'sd0;
            wire signed [7:0] b_g = hit ? b : 8'sd0;
            wire signed [16:0] p_i;
            smapprox_mul8x8_signed #(
                .CONFIG({16'd0, CONFIGS[16*i +: 16]})
            ) mul (
                .a(a_g),
                .b(b_g),
                .p(p_i)
            );
            assign products[17*i +: 17] = hit ? p_i : 17'd0;
        end
    endgenerate

    // one-hot AND-OR select: at most one slice is non-zero
    reg [16:0] p_sel;
    integer k;
    always @* begin
        p_sel = 17'd0;
        for (k = 0; k < NUM_CONFIGS; k = k + 1) begin
            p_sel = p_sel | products[17*k +: 17];
        end
    end

    assign p = p_sel;

endmodule

`resetall
