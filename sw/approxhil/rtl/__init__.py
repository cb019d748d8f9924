"""The RTL stage: simulate, synthesize, read and import Verilog multipliers, export truth tables.

``tools`` finds Icarus, Verilator and Yosys; ``sources`` the ``rtl/`` file lists; ``runner`` builds
and runs cocotb tests on a simulator; ``sweep`` (with the cocotb module ``cocotb_sweep``) sweeps
multipliers exhaustively; ``export`` turns a sweep into a :class:`~approxhil.tables.TruthTable`;
``verify`` checks every netlist against the golden models; ``netlist`` reads the LUT6_2/CARRY4
netlists with pyverilog and evaluates them in Python; ``yosys`` reports LUT/CARRY4 counts;
``importer`` turns third-party Verilog into a table; ``netgen`` generates the checked-in netlists.
"""
