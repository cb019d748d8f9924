// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// AXI4-Lite register file of the measurement accelerator (32-bit registers, byte addresses).
//
//   0x00 CTRL      W   bit0 START (pulse), bit1 CANCEL (pulse: drop the running job),
//                      bit2 CLEAR (pulse: zero STATUS flags and counters while idle)
//   0x04 STATUS    R   bit0 BUSY, bit1 DONE, bit2 ERR_TLAST_EARLY, bit3 ERR_TLAST_MISSING,
//                      bit4 ERR_CONFIG (bad MODE/SELECT/LENGTH/DOT_LEN at START)
//   0x08 MODE      RW  0 products, 1 dot products
//   0x0C SELECT    RW  multiplier index 0..NUM_CONFIGS-1
//   0x10 LENGTH    RW  results per job (products or dot products)
//   0x14 DOT_LEN   RW  pairs per dot product (mode 1)
//   0x18 IN_BEATS  R   input beats taken by the last job
//   0x1C OUT_BEATS R   output beats sent by the last job
//   0x20 CYCLES    R   clock cycles the last job was busy
//   0x24 MAGIC     R   0x4148494C ("AHIL")
//   0x28 VERSION   R   core version, major << 16 | minor
//   0x2C LANES     R   multipliers in parallel
//   0x30 NCONFIGS  R   number of selectable configs
//   0x40+4i CONFIG R   config of multiplier i (decimal, e.g. 3330)
// Writes need AWVALID and WVALID together (allowed by AXI); responses are always OKAY and
// unmapped addresses read as zero.
module hil_axil_regs #(
    // Multipliers in parallel, reported in LANES.
    parameter integer LANES = 4,
    // Number of selectable configs (1..16), reported in NCONFIGS.
    parameter integer NUM_CONFIGS = 1,
    // SMApprox configs, 16 bits each, entry 0 in the low bits; reported at 0x40.
    parameter [16*NUM_CONFIGS-1:0] CONFIGS = 16'd3330,
    // Core version reported in VERSION.
    parameter [31:0] VERSION = 32'h0001_0000
) (
    input  wire        clk,
    input  wire        rst,

    // AXI4-Lite slave (address bits [1:0] are ignored: registers are word-aligned)
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [6:0]  s_axi_awaddr,
    input  wire        s_axi_awvalid,
    output wire        s_axi_awready,
    input  wire [31:0] s_axi_wdata,
    input  wire [3:0]  s_axi_wstrb,
    input  wire        s_axi_wvalid,
    output wire        s_axi_wready,
    output wire [1:0]  s_axi_bresp,
    output reg         s_axi_bvalid,
    input  wire        s_axi_bready,
    input  wire [6:0]  s_axi_araddr,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire        s_axi_arvalid,
    output wire        s_axi_arready,
    output reg  [31:0] s_axi_rdata,
    output wire [1:0]  s_axi_rresp,
    output reg         s_axi_rvalid,
    input  wire        s_axi_rready,

    // Job control to the engine
    output reg         start,
    output reg         cancel,
    output reg         clear,
    output reg  [1:0]  mode,
    output reg  [3:0]  sel,
    output reg  [31:0] length,
    output reg  [31:0] dot_len,

    // Job status from the engine
    input  wire        busy,
    input  wire        done,
    input  wire        err_tlast_early,
    input  wire        err_tlast_missing,
    input  wire        err_config,
    input  wire [31:0] in_beats,
    input  wire [31:0] out_beats,
    input  wire [31:0] cycles
);

    localparam [6:0] REG_CTRL = 7'h00;
    localparam [6:0] REG_STATUS = 7'h04;
    localparam [6:0] REG_MODE = 7'h08;
    localparam [6:0] REG_SELECT = 7'h0C;
    localparam [6:0] REG_LENGTH = 7'h10;
    localparam [6:0] REG_DOT_LEN = 7'h14;
    localparam [6:0] REG_IN_BEATS = 7'h18;
    localparam [6:0] REG_OUT_BEATS = 7'h1C;
    localparam [6:0] REG_CYCLES = 7'h20;
    localparam [6:0] REG_MAGIC = 7'h24;
    localparam [6:0] REG_VERSION = 7'h28;
    localparam [6:0] REG_LANES = 7'h2C;
    localparam [6:0] REG_NCONFIGS = 7'h30;
    localparam [6:0] REG_CONFIG0 = 7'h40;
    localparam [31:0] MAGIC = 32'h4148_494C;

    // ------------------------------------------------------------------ write channel
    wire wr = s_axi_awvalid && s_axi_wvalid && !s_axi_bvalid;
    assign s_axi_awready = wr;
    assign s_axi_wready = wr;
    assign s_axi_bresp = 2'b00;
    wire [6:0] waddr = {s_axi_awaddr[6:2], 2'b00};

    // byte-strobed update of a 32-bit register
    function [31:0] merge;
        input [31:0] old;
        input [31:0] data;
        input [3:0] strb;
        integer k;
        begin
            merge = old;
            for (k = 0; k < 4; k = k + 1) begin
                if (strb[k]) begin
                    merge[8*k +: 8] = data[8*k +: 8];
                end
            end
        end
    endfunction

    always @(posedge clk) begin
        start <= 1'b0;
        cancel <= 1'b0;
        clear <= 1'b0;
        if (rst) begin
            s_axi_bvalid <= 1'b0;
            mode <= 2'd0;
            sel <= 4'd0;
            length <= 32'd0;
            dot_len <= 32'd0;
        end else begin
            if (s_axi_bvalid && s_axi_bready) begin
                s_axi_bvalid <= 1'b0;
            end
            if (wr) begin
                s_axi_bvalid <= 1'b1;
                case (waddr)
                    REG_CTRL: begin
                        if (s_axi_wstrb[0]) begin
                            start <= s_axi_wdata[0];
                            cancel <= s_axi_wdata[1];
                            clear <= s_axi_wdata[2];
                        end
                    end
                    REG_MODE: if (s_axi_wstrb[0]) mode <= s_axi_wdata[1:0];
                    REG_SELECT: if (s_axi_wstrb[0]) sel <= s_axi_wdata[3:0];
                    REG_LENGTH: length <= merge(length, s_axi_wdata, s_axi_wstrb);
                    REG_DOT_LEN: dot_len <= merge(dot_len, s_axi_wdata, s_axi_wstrb);
                    default: ;
                endcase
            end
        end
    end

    // ------------------------------------------------------------------ read channel
    assign s_axi_arready = s_axi_arvalid && !s_axi_rvalid;
    assign s_axi_rresp = 2'b00;
    wire [6:0] raddr = {s_axi_araddr[6:2], 2'b00};

    reg [31:0] rdata;
    always @* begin
        rdata = 32'd0;
        case (raddr)
            REG_STATUS: rdata = {27'd0, err_config, err_tlast_missing, err_tlast_early, done, busy};
            REG_MODE: rdata = {30'd0, mode};
            REG_SELECT: rdata = {28'd0, sel};
            REG_LENGTH: rdata = length;
            REG_DOT_LEN: rdata = dot_len;
            REG_IN_BEATS: rdata = in_beats;
            REG_OUT_BEATS: rdata = out_beats;
            REG_CYCLES: rdata = cycles;
            REG_MAGIC: rdata = MAGIC;
            REG_VERSION: rdata = VERSION;
            REG_LANES: rdata = LANES;
            REG_NCONFIGS: rdata = NUM_CONFIGS;
            default: begin
                if (raddr >= REG_CONFIG0 && {25'd0, raddr} < {25'd0, REG_CONFIG0} + 4 * NUM_CONFIGS) begin
                    rdata = {16'd0, CONFIGS[16 * ((raddr - REG_CONFIG0) >> 2) +: 16]};
                end
            end
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            s_axi_rvalid <= 1'b0;
            s_axi_rdata <= 32'd0;
        end else begin
            if (s_axi_rvalid && s_axi_rready) begin
                s_axi_rvalid <= 1'b0;
            end
            if (s_axi_arready) begin
                s_axi_rvalid <= 1'b1;
                s_axi_rdata <= rdata;
            end
        end
    end

endmodule

`resetall
