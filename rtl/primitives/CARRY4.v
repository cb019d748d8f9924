// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation model of the Xilinx 7-series CARRY4: a 4-bit slice of the fast carry chain.
// Carry into bit 0 is CI | CYINIT; O[k] = S[k] ^ c[k]; CO[k] = c[k+1] = S[k] ? c[k] : DI[k].
// Synthesis uses the vendor cell (see LUT6_2.v for the SYNTHESIS guard).
`ifndef SYNTHESIS
module CARRY4
(
    // Outputs
    output wire [3:0] CO,
    output wire [3:0] O,
    // Inputs
    input  wire       CI,
    input  wire       CYINIT,
    input  wire [3:0] DI,
    input  wire [3:0] S
);

// Scalar carries: no vector feeds back into itself, so Verilator sees no UNOPTFLAT loop.
wire c0 = CI | CYINIT;
wire c1 = S[0] ? c0 : DI[0];
wire c2 = S[1] ? c1 : DI[1];
wire c3 = S[2] ? c2 : DI[2];
wire c4 = S[3] ? c3 : DI[3];

assign CO = {c4, c3, c2, c1};
assign O = S ^ {c3, c2, c1, c0};

endmodule
`endif

`resetall
