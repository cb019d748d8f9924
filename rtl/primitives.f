// Simulation models of the Xilinx primitives: simulators only (Yosys and Vivado use their own cells).
primitives/LUT6_2.v
primitives/CARRY4.v
