# Digilent PYNQ-Z1 (Zynq-7020). Board files: Digilent's vivado-boards repository (see docs/hardware.md).
set board_part "www.digilentinc.com:pynq-z1:part0:1.0"
set fpga_part "xc7z020clg400-1"
