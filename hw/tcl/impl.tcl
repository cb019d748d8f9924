# Stage 3: implementation and bitstream; reports, the timing check that fails the build, and the
# outputs <name>.bit + <name>.hwh that pynq.Overlay loads.
source [file join [file dirname [info script]] settings.tcl]

open_project [file join $project_dir ${project_name}.xpr]
reset_run impl_1
launch_runs impl_1 -to_step write_bitstream -jobs [expr {max(1, [exec nproc])}]
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%" || [string match "*ERROR*" [get_property STATUS [get_runs impl_1]]]} {
    error "implementation failed: [get_property STATUS [get_runs impl_1]] (log: [get_property DIRECTORY [get_runs impl_1]]/runme.log)"
}
open_run impl_1
report_utilization -file [file join $report_dir impl_utilization.rpt]
report_utilization -hierarchical -hierarchical_depth 4 -file [file join $report_dir impl_utilization_hier.rpt]
report_timing_summary -max_paths 10 -file [file join $report_dir timing_summary.rpt]
report_power -file [file join $report_dir power.rpt]

# timing check: any negative setup or hold slack fails the build
set setup [get_timing_paths -max_paths 1 -nworst 1 -setup]
set hold [get_timing_paths -max_paths 1 -nworst 1 -hold]
set wns [get_property SLACK $setup]
set whs [get_property SLACK $hold]
puts "approxhil: WNS $wns ns, WHS $whs ns at $fclk_mhz MHz"
if {$wns eq "" || $wns < 0 || $whs eq "" || $whs < 0} {
    error "timing not met: WNS $wns ns, WHS $whs ns (see [file join $report_dir timing_summary.rpt]); lower FCLK_MHZ or LANES"
}

set run_dir [get_property DIRECTORY [get_runs impl_1]]
set bit [file join $run_dir ${design_name}_wrapper.bit]
set hwh [glob -nocomplain \
    [file join $project_dir ${project_name}.gen sources_1 bd $design_name hw_handoff ${design_name}.hwh] \
    [file join $project_dir ${project_name}.srcs sources_1 bd $design_name hw_handoff ${design_name}.hwh]]
if {![file exists $bit] || [llength $hwh] == 0} {
    error "missing outputs: bitstream $bit or the hardware handoff ${design_name}.hwh"
}
file copy -force $bit [file join $build_dir ${output_name}.bit]
file copy -force [lindex $hwh 0] [file join $build_dir ${output_name}.hwh]
puts "approxhil: wrote [file join $build_dir ${output_name}.bit] and ${output_name}.hwh"
