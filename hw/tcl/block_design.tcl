# The block design: PS7 (M_AXI_GP0 for control, S_AXI_HP0 for data, FCLK_CLK0 = fclk_mhz),
# an AXI DMA in simple mode (MM2S -> s_axis, m_axis -> S2MM) and the approxhil_accel core.
# Sourced by project.tcl with the variables of settings.tcl.

create_bd_design $design_name

# ---------------------------------------------------------------- Zynq processing system
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 ps7]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
set_property -dict [list \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz \
    CONFIG.PCW_USE_M_AXI_GP0 1 \
    CONFIG.PCW_USE_S_AXI_HP0 1 \
    CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64 \
] $ps

# ---------------------------------------------------------------- AXI DMA (simple mode)
# stream widths: 16 bits per lane in (an int8 pair), 32 bits per lane out (an int32 result);
# the memory-mapped side must be at least as wide as the stream (minimum 32 bits).
set mm2s_stream [expr {16 * $lanes}]
set s2mm_stream [expr {32 * $lanes}]
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 axi_dma_0]
set_property -dict [list \
    CONFIG.c_include_sg 0 \
    CONFIG.c_sg_include_stscntrl_strm 0 \
    CONFIG.c_sg_length_width 26 \
    CONFIG.c_include_mm2s 1 \
    CONFIG.c_include_s2mm 1 \
    CONFIG.c_m_axis_mm2s_tdata_width $mm2s_stream \
    CONFIG.c_m_axi_mm2s_data_width [expr {max(32, $mm2s_stream)}] \
    CONFIG.c_s_axis_s2mm_tdata_width $s2mm_stream \
    CONFIG.c_m_axi_s2mm_data_width [expr {max(32, $s2mm_stream)}] \
    CONFIG.c_mm2s_burst_size 64 \
    CONFIG.c_s2mm_burst_size 64 \
] $dma

# ---------------------------------------------------------------- the accelerator
set core [create_bd_cell -type module -reference approxhil_accel approxhil_accel_0]
set_property -dict [list \
    CONFIG.LANES $lanes \
    CONFIG.NUM_CONFIGS [llength $configs] \
    CONFIG.CONFIGS [configs_parameter $configs] \
] $core

connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins approxhil_accel_0/s_axis]
connect_bd_intf_net [get_bd_intf_pins approxhil_accel_0/m_axis] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]

# ---------------------------------------------------------------- control: GP0 -> DMA and core registers
foreach slave {/axi_dma_0/S_AXI_LITE /approxhil_accel_0/s_axi_control} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
        Clk_master {/ps7/FCLK_CLK0} Clk_slave {/ps7/FCLK_CLK0} Clk_xbar {/ps7/FCLK_CLK0} \
        Master {/ps7/M_AXI_GP0} Slave $slave ddr_seg {Auto} intc_ip {New AXI Interconnect} master_apm {0} \
    ] [get_bd_intf_pins [string trimleft $slave /]]
}

# ---------------------------------------------------------------- data: DMA masters -> HP0 (DDR)
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
    Clk_master {/ps7/FCLK_CLK0} Clk_slave {/ps7/FCLK_CLK0} Clk_xbar {/ps7/FCLK_CLK0} \
    Master {/axi_dma_0/M_AXI_MM2S} Slave {/ps7/S_AXI_HP0} ddr_seg {Auto} intc_ip {New AXI SmartConnect} master_apm {0} \
] [get_bd_intf_pins ps7/S_AXI_HP0]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
    Clk_master {/ps7/FCLK_CLK0} Clk_slave {/ps7/FCLK_CLK0} Clk_xbar {/ps7/FCLK_CLK0} \
    Master {/axi_dma_0/M_AXI_S2MM} Slave {/ps7/S_AXI_HP0} ddr_seg {Auto} intc_ip {Auto} master_apm {0} \
] [get_bd_intf_pins axi_dma_0/M_AXI_S2MM]

# every clock pin still open (the core's aclk if automation left it) on FCLK_CLK0
foreach pin [get_bd_pins -quiet -of_objects [get_bd_cells {axi_dma_0 approxhil_accel_0}] -filter {TYPE == clk}] {
    if {[llength [get_bd_nets -quiet -of_objects $pin]] == 0} {
        connect_bd_net [get_bd_pins ps7/FCLK_CLK0] $pin
    }
}

assign_bd_address
validate_bd_design
save_bd_design
