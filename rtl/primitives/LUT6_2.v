// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation model of the Xilinx 7-series LUT6_2: O6 = INIT[{I5..I0}], O5 = INIT[{1'b0, I4..I0}].
// Synthesis uses the vendor cell: the model is compiled only when SYNTHESIS is not defined
// (Yosys and Vivado define it), and rtl/primitives.f is read only by simulators.
`ifndef SYNTHESIS
module LUT6_2 #
(
    // Truth table: bit i is the output for inputs {I5,I4,I3,I2,I1,I0} == i; the lower 32 bits
    // also drive O5. With both outputs used, tie I5 high so O6 reads the upper half.
    parameter [63:0] INIT = 64'h0000000000000000
)
(
    // Outputs
    output wire O6,
    output wire O5,
    // Inputs
    input  wire I0,
    input  wire I1,
    input  wire I2,
    input  wire I3,
    input  wire I4,
    input  wire I5
);

// One indexed read per output keeps event-driven simulators fast.
assign O6 = INIT[{I5, I4, I3, I2, I1, I0}];
assign O5 = INIT[{1'b0, I4, I3, I2, I1, I0}];

endmodule
`endif

`resetall
