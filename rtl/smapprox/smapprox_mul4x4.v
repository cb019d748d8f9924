// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// SMApprox 4x4 unsigned multiplier p = M[DESIGN](a, b): selects one LUT6_2/CARRY4 netlist.
module smapprox_mul4x4 #
(
    // 4x4 design: 0 exact, 1..3 the paper's approximate designs, 4 a labelled variant of 1.
    // Any other value stops elaboration (unknown module smapprox_mul4x4_illegal_DESIGN).
    parameter integer DESIGN = 0
)
(
    // Operands: a is the slice of operand A
    input  wire [3:0] a,
    input  wire [3:0] b,
    // Product
    output wire [7:0] p
);

generate
if (DESIGN == 0) begin : g_d0
    smapprox_mul4x4_d0 u_core (.a(a), .b(b), .p(p));
end else if (DESIGN == 1) begin : g_d1
    smapprox_mul4x4_d1 u_core (.a(a), .b(b), .p(p));
end else if (DESIGN == 2) begin : g_d2
    smapprox_mul4x4_d2 u_core (.a(a), .b(b), .p(p));
end else if (DESIGN == 3) begin : g_d3
    smapprox_mul4x4_d3 u_core (.a(a), .b(b), .p(p));
end else if (DESIGN == 4) begin : g_d4
    smapprox_mul4x4_d4 u_core (.a(a), .b(b), .p(p));
end else begin : g_illegal
    // Verilog-2005 has no portable elaboration-time $error (Icarus 11 rejects it): instantiating
    // a module that does not exist stops every tool at this line, naming the problem.
    smapprox_mul4x4_illegal_DESIGN u_illegal_design ();
end
endgenerate

endmodule

`resetall
