// SPDX-License-Identifier: Apache-2.0
// A third-party-style multiplier for the gradient experiments (docs/experiments.md, imported with
// `approxhil rtl import`): an 8x8 unsigned broken-array multiplier that drops every partial product
// a[i] b[j] with i + j < 6 (columns 0..5), written out gate by gate. The test multiplier
// tests/rtl/importer/mul8u_bam4.v with two more columns broken.
module mul8u_bam6 (
    input  [7:0]  A,
    input  [7:0]  B,
    output [15:0] O
);
    wire [15:0] row [0:7];
    genvar i, j;
    generate
        for (j = 0; j < 8; j = j + 1) begin : g_row
            for (i = 0; i < 8; i = i + 1) begin : g_bit
                assign row[j][i + j] = (i + j >= 6) ? (A[i] & B[j]) : 1'b0;
            end
            if (j > 0) begin : g_low
                assign row[j][j - 1:0] = {j{1'b0}};
            end
            if (j < 8) begin : g_high
                assign row[j][15:j + 8] = {(8 - j){1'b0}};
            end
        end
    endgenerate
    assign O = row[0] + row[1] + row[2] + row[3] + row[4] + row[5] + row[6] + row[7];
endmodule
