// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Board top of the approxhil measurement accelerator: AXI4-Stream operands in, int32 products or
// dot products out, AXI4-Lite control (register map in hil_axil_regs.v), LANES signed 8x8 SMApprox
// multipliers in parallel, each lane holding every config of CONFIGS behind a run-time select.
// Three register stages (operands, products, results); one input beat per cycle.
module approxhil_accel #(
    // Multipliers in parallel (1..16): s_axis is 16*LANES bits, m_axis 32*LANES bits wide.
    parameter integer LANES = 4,
    // Number of selectable SMApprox configs (1..16); sets the length of CONFIGS.
    parameter integer NUM_CONFIGS = 9,
    // SMApprox configs, 16 bits each (decimal value, e.g. 3330), entry 0 in the low bits.
    // Default: the exact 0000 and the eight configs of the paper's Table 2.
    parameter [16*NUM_CONFIGS-1:0] CONFIGS = {
        16'd2222, 16'd3333, 16'd2220, 16'd3330, 16'd1110, 16'd3300, 16'd2200, 16'd1100, 16'd0000
    }
) (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axi_control:s_axis:m_axis, ASSOCIATED_RESET aresetn" *)
    input  wire                aclk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire                aresetn,

    // AXI4-Lite control
    input  wire [6:0]          s_axi_control_awaddr,
    input  wire                s_axi_control_awvalid,
    output wire                s_axi_control_awready,
    input  wire [31:0]         s_axi_control_wdata,
    input  wire [3:0]          s_axi_control_wstrb,
    input  wire                s_axi_control_wvalid,
    output wire                s_axi_control_wready,
    output wire [1:0]          s_axi_control_bresp,
    output wire                s_axi_control_bvalid,
    input  wire                s_axi_control_bready,
    input  wire [6:0]          s_axi_control_araddr,
    input  wire                s_axi_control_arvalid,
    output wire                s_axi_control_arready,
    output wire [31:0]         s_axi_control_rdata,
    output wire [1:0]          s_axi_control_rresp,
    output wire                s_axi_control_rvalid,
    input  wire                s_axi_control_rready,

    // AXI4-Stream operand pairs (from the DMA's MM2S channel)
    input  wire [16*LANES-1:0] s_axis_tdata,
    input  wire                s_axis_tvalid,
    output wire                s_axis_tready,
    input  wire                s_axis_tlast,

    // AXI4-Stream int32 results (to the DMA's S2MM channel)
    output wire [32*LANES-1:0] m_axis_tdata,
    output wire                m_axis_tvalid,
    input  wire                m_axis_tready,
    output wire                m_axis_tlast
);

    // synchronous active-high reset from the active-low AXI reset
    reg rst;
    always @(posedge aclk) begin
        rst <= !aresetn;
    end

    wire        start, cancel, clear;
    wire [1:0]  mode;
    wire [3:0]  sel;
    wire [31:0] length, dot_len;
    wire        busy, done, err_tlast_early, err_tlast_missing, err_config;
    wire [31:0] in_beats, out_beats, cycles;

    hil_axil_regs #(
        .LANES(LANES),
        .NUM_CONFIGS(NUM_CONFIGS),
        .CONFIGS(CONFIGS)
    ) regs (
        .clk(aclk),
        .rst(rst),
        .s_axi_awaddr(s_axi_control_awaddr),
        .s_axi_awvalid(s_axi_control_awvalid),
        .s_axi_awready(s_axi_control_awready),
        .s_axi_wdata(s_axi_control_wdata),
        .s_axi_wstrb(s_axi_control_wstrb),
        .s_axi_wvalid(s_axi_control_wvalid),
        .s_axi_wready(s_axi_control_wready),
        .s_axi_bresp(s_axi_control_bresp),
        .s_axi_bvalid(s_axi_control_bvalid),
        .s_axi_bready(s_axi_control_bready),
        .s_axi_araddr(s_axi_control_araddr),
        .s_axi_arvalid(s_axi_control_arvalid),
        .s_axi_arready(s_axi_control_arready),
        .s_axi_rdata(s_axi_control_rdata),
        .s_axi_rresp(s_axi_control_rresp),
        .s_axi_rvalid(s_axi_control_rvalid),
        .s_axi_rready(s_axi_control_rready),
        .start(start),
        .cancel(cancel),
        .clear(clear),
        .mode(mode),
        .sel(sel),
        .length(length),
        .dot_len(dot_len),
        .busy(busy),
        .done(done),
        .err_tlast_early(err_tlast_early),
        .err_tlast_missing(err_tlast_missing),
        .err_config(err_config),
        .in_beats(in_beats),
        .out_beats(out_beats),
        .cycles(cycles)
    );

    hil_engine #(
        .LANES(LANES),
        .NUM_CONFIGS(NUM_CONFIGS),
        .CONFIGS(CONFIGS)
    ) engine (
        .clk(aclk),
        .rst(rst),
        .start(start),
        .cancel(cancel),
        .clear(clear),
        .mode(mode),
        .sel(sel),
        .length(length),
        .dot_len(dot_len),
        .busy(busy),
        .done(done),
        .err_tlast_early(err_tlast_early),
        .err_tlast_missing(err_tlast_missing),
        .err_config(err_config),
        .in_beats(in_beats),
        .out_beats(out_beats),
        .cycles(cycles),
        .s_tdata(s_axis_tdata),
        .s_tvalid(s_axis_tvalid),
        .s_tready(s_axis_tready),
        .s_tlast(s_axis_tlast),
        .m_tdata(m_axis_tdata),
        .m_tvalid(m_axis_tvalid),
        .m_tready(m_axis_tready),
        .m_tlast(m_axis_tlast)
    );

endmodule

`resetall
