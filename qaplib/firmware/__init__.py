"""Firmware for the tagger: bit-exact hls4ml C-simulation, da4ml Verilog checked with Verilator, Yosys synthesis.

Flow (each step returns a frozen, JSON-serialisable report; nothing is cached here)::

    trained model --export--> NetworkSpec / exported QKeras model (batch norm folded)
        --hls--> hls4ml C-sim, compared bit for bit with QKeras          "emulated (hls4ml C-sim)"
        --rtl--> da4ml Verilog + Verilator simulation (in .venv-fw)     "RTL-simulated (Verilator)"
        --synth--> Yosys synth_xilinx cell counts                        "synthesised (Yosys, ...)"

``python -m qaplib.firmware`` runs the whole flow on a random 6-bit, 75 %-pruned model.
Importing this package does not load TensorFlow.
"""

from qaplib.firmware.export import DEFAULT_INPUT_TYPE, ExportReport, export_network, export_report, qkeras_model
from qaplib.firmware.hls import CsimReport, csim_report, float_csim_report
from qaplib.firmware.labels import EMULATED, PROVENANCES, RTL_SIMULATED, SYNTHESISED
from qaplib.firmware.report import FirmwareReport, firmware_report
from qaplib.firmware.rtl import RtlReport, firmware_env_available, rtl_report
from qaplib.firmware.spec import DenseLayer, NetworkSpec
from qaplib.firmware.synth import SynthReport, synthesise, yosys_available
from qaplib.fixed import FixedType
from qaplib.layer_chain import check_supported

__all__ = [
    "DEFAULT_INPUT_TYPE",
    "EMULATED",
    "PROVENANCES",
    "RTL_SIMULATED",
    "SYNTHESISED",
    "CsimReport",
    "DenseLayer",
    "ExportReport",
    "FirmwareReport",
    "FixedType",
    "NetworkSpec",
    "RtlReport",
    "SynthReport",
    "check_supported",
    "csim_report",
    "export_network",
    "export_report",
    "firmware_env_available",
    "firmware_report",
    "float_csim_report",
    "qkeras_model",
    "rtl_report",
    "synthesise",
    "yosys_available",
]
