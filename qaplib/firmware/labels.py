"""Provenance labels: every firmware number says which tool produced it and how real it is."""

from __future__ import annotations

EMULATED = "emulated (hls4ml C-sim)"
EXACT = "exact fixed-point evaluation (NumPy)"
RTL_SIMULATED = "RTL-simulated (Verilator)"
SYNTHESISED = "synthesised (Yosys, pre-place-and-route, not Vivado)"
PROVENANCES = (EXACT, EMULATED, RTL_SIMULATED, SYNTHESISED)
