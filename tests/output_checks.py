"""What an executed chapter must not show a reader: stderr, warnings, progress bars, machine paths, injected cells."""

from __future__ import annotations

import re

#: Progress bars (tqdm) and the log lines of TensorFlow, XLA and absl.
NOISE = re.compile(r"\d+%\|[^|]*\||it/s\]|run/s\]|WARNING|Warning:|absl::|XLA|retracing|I0000|E0000|Traceback")
#: Absolute paths of a machine (a reader's copy has other ones).
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|home|root|usr|opt|var|mnt)/")
#: Sloppy text that a reader should not meet.
SLOPPY = re.compile(r"\b1 runs\b|-0\.0+\b|\bnan\b|\bNaN\b")


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(v) for k, v in data.items() if k.startswith(("text/", "application/papermill.record/text")))


def output_problems(nb, allowed_paths: tuple[str, ...] = ()) -> list[str]:
    """Every problem found in the code-cell outputs of notebook ``nb`` (an nbformat node), as readable lines."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.metadata.get("tags", []):
            problems.append(f"cell {index}: papermill's injected-parameters cell is shown")
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"cell {index}: stderr output {output.get('text', '')[:120]!r}")
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: error {output.get('ename')}")
            text = _output_text(output)
            for allowed in allowed_paths:
                text = text.replace(allowed, "<allowed>")
            for name, pattern in (("log noise", NOISE), ("machine path", MACHINE_PATH), ("sloppy text", SLOPPY)):
                found = pattern.search(text)
                if found:
                    problems.append(f"cell {index}: {name} {text[max(0, found.start() - 60):found.end() + 60]!r}")
    return problems
