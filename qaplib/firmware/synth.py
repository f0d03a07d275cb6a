"""Open-source logic synthesis of the da4ml Verilog with Yosys ``synth_xilinx``: LUT/FF/CARRY/DSP counts.

These are real synthesis results for the distributed-arithmetic RTL of :mod:`qaplib.firmware.rtl`, but
from Yosys, before place and route, not from Vivado (which packs better: CARRY8, dual-output LUTs), and
not for hls4ml's Latency-strategy architecture. Yosys 0.23 (Debian 12) maps carries to CARRY4 even for
UltraScale+ and lists inverters (``INV``) separately; both are reported as they are.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from qaplib.errors import FirmwareError
from qaplib.firmware.labels import SYNTHESISED

FAMILY = "xcup"  # UltraScale+, the family of the xcvu13p used elsewhere
_SCRIPT = """read_verilog -defer {files}
synth_xilinx -top {top} -family {family} -flatten
tee -o {stat} stat
"""


@dataclass(frozen=True)
class SynthReport:
    """Cell counts of one synthesised design (counts of Xilinx primitives in the flattened netlist).

    Attributes:
        lut: LUT1..LUT6 cells. inverters: INV cells (Vivado would absorb them into LUTs).
        ff: flip-flops (FDRE/FDSE/FDCE/FDPE). carry: CARRY4/CARRY8 cells. dsp: DSP48E* cells.
        bram: block RAM cells. muxf: MUXF7/8/9 cells. cells: every primitive and its count.
        seconds: Yosys wall-clock time.
    """

    provenance: str
    tool: str
    command: str
    top: str
    lut: int
    inverters: int
    ff: int
    carry: int
    dsp: int
    bram: int
    muxf: int
    cells: dict
    seconds: float


def yosys_available() -> bool:
    return shutil.which("yosys") is not None


def yosys_version() -> str:
    if not yosys_available():
        raise FirmwareError("yosys is not installed (Debian: apt-get install -y yosys)")
    return subprocess.run(["yosys", "-V"], capture_output=True, text=True, check=True).stdout.strip()


def verilog_sources(project: Path, top: str) -> list[Path]:
    """The Verilog files of a da4ml project that make up ``top``: the shared primitives (without the
    lookup-table module, whose ``$readmemh`` placeholder Yosys cannot read; our networks use no tables)
    and the generated modules (without the simulation I/O wrapper)."""
    static = sorted(p for p in (project / "src" / "static").glob("*.v") if p.name != "lookup_table.v")
    generated = sorted(p for p in (project / "src").glob(f"{top}*.v") if not p.name.endswith("_wrapper.v"))
    if not generated:
        raise FirmwareError(f"no Verilog for top module {top!r} under {project / 'src'}")
    return static + generated


def parse_stat(text: str) -> dict[str, int]:
    """{cell type: count} from the text of Yosys's ``stat`` command."""
    return {match.group(1): int(match.group(2)) for match in re.finditer(r"^\s+(\w+)\s+(\d+)\s*$", text, re.MULTILINE)}


def summarise(cells: dict[str, int]) -> dict[str, int]:
    """LUT/INV/FF/CARRY/DSP/BRAM/MUXF totals from Xilinx primitive counts."""

    def total(pattern: str) -> int:
        return sum(count for name, count in cells.items() if re.fullmatch(pattern, name))

    return {
        "lut": total(r"LUT[1-6]"),
        "inverters": total(r"INV"),
        "ff": total(r"FD[RSCP]E"),
        "carry": total(r"CARRY\d"),
        "dsp": total(r"DSP48E\d?"),
        "bram": total(r"RAMB\w+"),
        "muxf": total(r"MUXF\d"),
    }


def synthesise(project: Path, top: str, workdir: Path, family: str = FAMILY) -> SynthReport:
    """Run ``synth_xilinx`` on the da4ml Verilog project ``project`` (top module ``top``); logs go to ``workdir``."""
    tool = yosys_version()
    workdir.mkdir(parents=True, exist_ok=True)
    stat_path = workdir / "yosys_stat.txt"
    script = workdir / "synth.ys"
    files = " ".join(str(path) for path in verilog_sources(project, top))
    script.write_text(_SCRIPT.format(files=files, top=top, family=family, stat=stat_path))
    start = time.perf_counter()
    result = subprocess.run(["yosys", "-q", "-l", str(workdir / "yosys.log"), str(script)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise FirmwareError(f"yosys failed on {top!r} (log: {workdir / 'yosys.log'}): {result.stderr.strip()[-500:]}")
    cells = parse_stat(stat_path.read_text())
    return SynthReport(
        provenance=SYNTHESISED,
        tool=tool,
        command=f"synth_xilinx -family {family} -flatten",
        top=top,
        cells=cells,
        seconds=round(seconds, 1),
        **summarise(cells),
    )
