# Stage 1: the Vivado project with the accelerator's sources and the block design
# (Zynq PS, AXI DMA in simple mode, approxhil_accel), its wrapper and the hardware handoff.
source [file join [file dirname [info script]] settings.tcl]

create_project -force $project_name $project_dir -part $fpga_part
if {[catch {set_property board_part $board_part [current_project]} err]} {
    error "board files for $board_part are not installed ($err); see docs/hardware.md, 'Board files'"
}
set_property target_language Verilog [current_project]
add_files -norecurse $accel_sources
update_compile_order -fileset sources_1

source [file join $hw_dir tcl block_design.tcl]

set bd_file [get_files ${design_name}.bd]
generate_target all $bd_file
make_wrapper -files $bd_file -top
set wrapper [glob -nocomplain \
    [file join $project_dir ${project_name}.gen sources_1 bd $design_name hdl ${design_name}_wrapper.v] \
    [file join $project_dir ${project_name}.srcs sources_1 bd $design_name hdl ${design_name}_wrapper.v]]
if {[llength $wrapper] == 0} {
    error "make_wrapper wrote no ${design_name}_wrapper.v"
}
add_files -norecurse [lindex $wrapper 0]
set_property top ${design_name}_wrapper [current_fileset]
update_compile_order -fileset sources_1
puts "approxhil: project $project_dir ready (board $board, lanes $lanes, configs $configs, fclk $fclk_mhz MHz)"
