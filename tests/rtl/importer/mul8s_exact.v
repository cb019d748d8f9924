// SPDX-License-Identifier: Apache-2.0
// Test multiplier for `approxhil rtl import --signed`: exact two's-complement 8x8 product.
module mul8s_exact (
    input  wire [7:0]  x,
    input  wire [7:0]  w,
    output wire [15:0] prod
);
    assign prod = $signed(x) * $signed(w);
endmodule
