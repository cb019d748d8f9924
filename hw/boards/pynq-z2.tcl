# TUL PYNQ-Z2 (Zynq-7020). Board files: Vivado's board store (tul.com.tw:pynq-z2), or the
# PYNQ repository's boards/Pynq-Z2 folder on the board repo path (see docs/hardware.md).
set board_part "tul.com.tw:pynq-z2:part0:1.0"
set fpga_part "xc7z020clg400-1"
