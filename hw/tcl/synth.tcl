# Stage 2: synthesis of the project made by project.tcl.
source [file join [file dirname [info script]] settings.tcl]

open_project [file join $project_dir ${project_name}.xpr]
reset_run synth_1
launch_runs synth_1 -jobs [expr {max(1, [exec nproc])}]
wait_on_run synth_1
if {[get_property PROGRESS [get_runs synth_1]] ne "100%" || [string match "*ERROR*" [get_property STATUS [get_runs synth_1]]]} {
    error "synthesis failed: [get_property STATUS [get_runs synth_1]] (log: [get_property DIRECTORY [get_runs synth_1]]/runme.log)"
}
open_run synth_1
report_utilization -file [file join $report_dir synth_utilization.rpt]
report_utilization -hierarchical -hierarchical_depth 4 -file [file join $report_dir synth_utilization_hier.rpt]
puts "approxhil: synthesis done"
