// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Streaming measurement engine: LANES signed 8x8 SMApprox multipliers in parallel compute either
// the raw product of every streamed operand pair (mode 0) or dot products of streamed vectors
// accumulated exactly in 32 bits (mode 1); results leave as int32 words, LANES per output beat.
//
// Input beat: LANES pairs, lane l in bits [16l+15:16l] as {b, a} (operand A in the low byte).
// Mode 0: `length` pairs in ceil(length/LANES) beats -> `length` products.
// Mode 1: `length` vectors of `dot_len` pairs, each vector padded to whole beats (the padding
//         lanes are masked off) -> `length` dot products, packed LANES per output beat.
// The last output beat carries tlast; unused lanes of it are zero. The whole pipeline stalls
// while the output is held (valid and not ready), so no result is ever dropped.
module hil_engine #(
    // Multipliers working in parallel (1..16); input beat 16*LANES bits, output beat 32*LANES bits.
    parameter integer LANES = 4,
    // Number of selectable multiplier configs (1..16).
    parameter integer NUM_CONFIGS = 1,
    // SMApprox configs, 16 bits each (decimal value, e.g. 3330), entry 0 in the low bits.
    parameter [16*NUM_CONFIGS-1:0] CONFIGS = 16'd3330
) (
    input  wire                   clk,
    input  wire                   rst,

    // Job control (from the register file)
    input  wire                   start,
    input  wire                   cancel,
    input  wire                   clear,
    input  wire [1:0]             mode,
    input  wire [3:0]             sel,
    input  wire [31:0]            length,
    input  wire [31:0]            dot_len,

    // Job status
    output reg                    busy,
    output reg                    done,
    output reg                    err_tlast_early,
    output reg                    err_tlast_missing,
    output reg                    err_config,
    output reg  [31:0]            in_beats,
    output reg  [31:0]            out_beats,
    output reg  [31:0]            cycles,

    // Operand stream
    input  wire [16*LANES-1:0]    s_tdata,
    input  wire                   s_tvalid,
    output wire                   s_tready,
    input  wire                   s_tlast,

    // Result stream
    output reg  [32*LANES-1:0]    m_tdata,
    output reg                    m_tvalid,
    input  wire                   m_tready,
    output reg                    m_tlast
);

    initial begin
        if (LANES < 1 || LANES > 16) begin
            $error("%m: LANES must be 1..16, got %0d", LANES);
            $finish;
        end
    end

    localparam [1:0] MODE_PRODUCTS = 2'd0;
    localparam [1:0] MODE_DOT = 2'd1;
    localparam integer SUM_W = 17 + $clog2(LANES + 1);

    // ------------------------------------------------------------------ job sequencing
    reg         accepting;     // input phase of a job: more beats are expected
    reg         dot_mode;
    reg  [3:0]  sel_r;
    reg  [31:0] group_len;     // pairs per group: length (mode 0) or dot_len (mode 1)
    reg  [31:0] left_in_group; // pairs of the current group not yet received
    reg  [31:0] groups_left;   // groups not yet started, including the current one

    // global stall: everything advances unless a result is held at the output
    wire en = !m_tvalid || m_tready;
    assign s_tready = accepting && en;
    wire take = s_tvalid && s_tready;

    wire last_of_group = left_in_group <= LANES;
    wire last_of_job = last_of_group && groups_left == 32'd1;
    // a beat that closes the job: the expected final beat, or an early tlast
    wire closes = last_of_job || s_tlast;

    wire config_bad = (mode != MODE_PRODUCTS && mode != MODE_DOT) || length == 32'd0
        || (mode == MODE_DOT && dot_len == 32'd0) || {28'd0, sel} >= NUM_CONFIGS;

    // ------------------------------------------------------------------ stage 1: operands
    reg  [16*LANES-1:0] s1_data;
    reg  [LANES-1:0]    s1_mask;
    reg                 s1_valid;
    reg                 s1_eog;    // end of a group (a dot product is complete)
    reg                 s1_eoj;    // end of the job

    reg [LANES-1:0] lane_mask;
    integer lm;
    always @* begin
        for (lm = 0; lm < LANES; lm = lm + 1) begin
            lane_mask[lm] = !last_of_group || (lm < left_in_group);
        end
    end

    always @(posedge clk) begin
        if (rst || cancel) begin
            accepting <= 1'b0;
            busy <= 1'b0;
            s1_valid <= 1'b0;
            s1_eog <= 1'b0;
            s1_eoj <= 1'b0;
            if (rst) begin
                done <= 1'b0;
                err_tlast_early <= 1'b0;
                err_tlast_missing <= 1'b0;
                err_config <= 1'b0;
                in_beats <= 32'd0;
                cycles <= 32'd0;
                dot_mode <= 1'b0;
                sel_r <= 4'd0;
                group_len <= 32'd0;
                left_in_group <= 32'd0;
                groups_left <= 32'd0;
            end
        end else begin
            if (busy) begin
                cycles <= cycles + 32'd1;
            end
            if (clear && !busy) begin
                done <= 1'b0;
                err_config <= 1'b0;
                err_tlast_early <= 1'b0;
                err_tlast_missing <= 1'b0;
                in_beats <= 32'd0;
                cycles <= 32'd0;
            end
            if (start && !busy) begin
                done <= config_bad;
                err_config <= config_bad;
                err_tlast_early <= 1'b0;
                err_tlast_missing <= 1'b0;
                in_beats <= 32'd0;
                cycles <= 32'd0;
                if (!config_bad) begin
                    busy <= 1'b1;
                    accepting <= 1'b1;
                    dot_mode <= mode == MODE_DOT;
                    sel_r <= sel;
                    group_len <= mode == MODE_DOT ? dot_len : length;
                    left_in_group <= mode == MODE_DOT ? dot_len : length;
                    groups_left <= mode == MODE_DOT ? length : 32'd1;
                end
            end
            if (en) begin
                s1_valid <= take;
                s1_data <= s_tdata;
                s1_mask <= lane_mask;
                s1_eog <= take && (last_of_group || s_tlast);
                s1_eoj <= take && closes;
            end
            if (take) begin
                in_beats <= in_beats + 32'd1;
                if (closes) begin
                    accepting <= 1'b0;
                    if (s_tlast && !last_of_job) begin
                        err_tlast_early <= 1'b1;
                    end
                    if (!s_tlast) begin
                        err_tlast_missing <= 1'b1;
                    end
                end
                if (last_of_group) begin
                    left_in_group <= group_len;
                    groups_left <= groups_left - 32'd1;
                end else begin
                    left_in_group <= left_in_group - LANES;
                end
            end
            if (m_tvalid && m_tready && m_tlast) begin
                busy <= 1'b0;
                done <= 1'b1;
            end
        end
    end

    // ------------------------------------------------------------------ stage 2: products
    wire [17*LANES-1:0] mul_p;
    genvar g;
    generate
        for (g = 0; g < LANES; g = g + 1) begin : g_lane
            hil_mul_bank #(
                .NUM_CONFIGS(NUM_CONFIGS),
                .CONFIGS(CONFIGS)
            ) bank (
                .a(s1_data[16*g +: 8]),
                .b(s1_data[16*g + 8 +: 8]),
                .sel(sel_r),
                .p(mul_p[17*g +: 17])
            );
        end
    endgenerate

    reg [17*LANES-1:0] s2_p;
    reg                s2_valid;
    reg                s2_eog;
    reg                s2_eoj;
    integer            ms;

    always @(posedge clk) begin
        if (rst || cancel) begin
            s2_valid <= 1'b0;
            s2_eog <= 1'b0;
            s2_eoj <= 1'b0;
        end else if (en) begin
            s2_valid <= s1_valid;
            s2_eog <= s1_eog;
            s2_eoj <= s1_eoj;
            for (ms = 0; ms < LANES; ms = ms + 1) begin
                s2_p[17*ms +: 17] <= s1_mask[ms] ? mul_p[17*ms +: 17] : 17'd0;
            end
        end
    end

    // ------------------------------------------------------------------ stage 3: results
    reg signed [SUM_W-1:0] lane_sum;
    reg [32*LANES-1:0]     products_word;
    integer                ls;
    always @* begin
        lane_sum = {SUM_W{1'b0}};
        for (ls = 0; ls < LANES; ls = ls + 1) begin
            lane_sum = lane_sum + {{(SUM_W-17){s2_p[17*ls+16]}}, s2_p[17*ls +: 17]};
            products_word[32*ls +: 32] = {{15{s2_p[17*ls+16]}}, s2_p[17*ls +: 17]};
        end
    end

    reg  [31:0]          acc;
    wire [31:0]          dot_result = acc + {{(32-SUM_W){lane_sum[SUM_W-1]}}, lane_sum};
    reg  [32*LANES-1:0]  pack;      // finished dot products waiting for a full beat
    reg  [4:0]           pack_n;    // how many slots of `pack` are filled
    reg  [32*LANES-1:0]  pack_word; // `pack` with dot_result in slot pack_n
    integer              ps;
    always @* begin
        pack_word = pack;
        for (ps = 0; ps < LANES; ps = ps + 1) begin
            if (ps == {27'd0, pack_n}) begin
                pack_word[32*ps +: 32] = dot_result;
            end
        end
    end

    always @(posedge clk) begin
        if (rst || cancel) begin
            m_tvalid <= 1'b0;
            m_tlast <= 1'b0;
            acc <= 32'd0;
            pack <= {32*LANES{1'b0}};
            pack_n <= 5'd0;
            if (rst) begin
                out_beats <= 32'd0;
            end
        end else begin
            if ((start || clear) && !busy) begin
                out_beats <= 32'd0;
            end
            if (m_tvalid && m_tready) begin
                out_beats <= out_beats + 32'd1;
            end
            if (en) begin
                m_tvalid <= 1'b0;
                m_tlast <= 1'b0;
                if (s2_valid) begin
                    if (!dot_mode) begin
                        m_tdata <= products_word;
                        m_tvalid <= 1'b1;
                        m_tlast <= s2_eoj;
                    end else if (!s2_eog) begin
                        acc <= dot_result;
                    end else begin
                        acc <= 32'd0;
                        if ({27'd0, pack_n} == LANES - 1 || s2_eoj) begin
                            m_tdata <= pack_word;
                            m_tvalid <= 1'b1;
                            m_tlast <= s2_eoj;
                            pack <= {32*LANES{1'b0}};
                            pack_n <= 5'd0;
                        end else begin
                            pack <= pack_word;
                            pack_n <= pack_n + 5'd1;
                        end
                    end
                end
            end
        end
    end

endmodule

`resetall
