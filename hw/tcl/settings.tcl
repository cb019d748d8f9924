# Settings shared by every stage of the bitstream flow. Each stage is started by hw/Makefile as
#   vivado -mode batch -source tcl/<stage>.tcl -tclargs <board> <build dir> <lanes> "<configs>" <fclk MHz>
# and reads the same variables from here.

if {[llength $argv] != 5} {
    error "usage: vivado -mode batch -source <stage>.tcl -tclargs <board> <build dir> <lanes> \"<configs>\" <fclk MHz>"
}
lassign $argv board build_dir lanes configs fclk_mhz

set hw_dir [file normalize [file join [file dirname [info script]] ..]]
set repo_dir [file normalize [file join $hw_dir ..]]
set build_dir [file normalize $build_dir]
set design_name "approxhil"
set project_name "approxhil_${board}"
set project_dir [file join $build_dir project]
set report_dir [file join $build_dir reports]
set output_name "approxhil_${board}"

set board_tcl [file join $hw_dir boards "${board}.tcl"]
if {![file exists $board_tcl]} {
    error "unknown board '$board': no $board_tcl (available: [join [lmap f [glob -directory [file join $hw_dir boards] *.tcl] {file rootname [file tail $f]}] {, }])"
}
source $board_tcl

# The AXI DMA streams whole bytes in widths 8..1024 that are powers of two: lanes 1, 2, 4, 8 or 16.
if {[lsearch -exact {1 2 4 8 16} $lanes] < 0} {
    error "LANES=$lanes: the board design needs 1, 2, 4, 8 or 16 lanes (AXI DMA stream widths)"
}
set configs [regexp -all -inline {\S+} $configs]
if {[llength $configs] < 1 || [llength $configs] > 16} {
    error "CONFIGS must name 1..16 SMApprox configs, got [llength $configs]"
}
foreach c $configs {
    if {![regexp {^[0-4]{4}$} $c]} {
        error "CONFIGS: '$c' is not an SMApprox config (four digits 0..4, e.g. 3330)"
    }
}

# CONFIGS parameter of approxhil_accel: 16 bits per config (its decimal value), entry 0 lowest.
proc configs_parameter {configs} {
    set hex ""
    foreach c [lreverse $configs] {
        append hex [format %04X [scan $c %d]]
    }
    return "0x$hex"
}

# Verilog sources of the accelerator from the same file lists the simulators read (minus the
# simulation models of LUT6_2/CARRY4: Vivado has the real primitives).
proc read_file_list {path} {
    set files {}
    set fh [open $path r]
    foreach line [split [read $fh] "\n"] {
        regsub {//.*$} $line {} line
        set line [string trim $line]
        if {$line ne ""} {
            lappend files [file normalize [file join [file dirname $path] $line]]
        }
    }
    close $fh
    return $files
}
set accel_sources [concat \
    [read_file_list [file join $repo_dir rtl smapprox.f]] \
    [read_file_list [file join $hw_dir approxhil_accel.f]]]

file mkdir $build_dir $report_dir
