"""Provenance of a result or figure: parameters, package versions, git commit and data hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qaplib.platform import TRACKED_PACKAGES, current_platform, package_versions

__all__ = ["REPO_ROOT", "TRACKED_PACKAGES", "git_commit", "package_versions", "provenance"]

REPO_ROOT = Path(__file__).resolve().parents[1]


#: Generated outputs (both scales' chapters, the table of contents and the at-a-glance table written from them,
#: and the result store): their being re-executed does not make the code that produced them dirty.
_OUTPUT_PATHS = (":(exclude)book/chapters", ":(exclude)book/paper", ":(exclude)book/_toc.yml",
                 ":(exclude)book/at_a_glance.md", ":(exclude)results")  # fmt: skip


def git_commit() -> str:
    """Short hash of HEAD, suffixed ``+dirty`` when tracked source files changed; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *_OUTPUT_PATHS],
                               cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def provenance(notebook: str, parameters: dict, data_fingerprint: str | None = None,
               result_keys: list[str] | None = None) -> dict:
    """Everything needed to say where a result or figure came from (JSON-serialisable), the machine included
    (:func:`qaplib.platform.current_platform`)."""

    return {
        "notebook": notebook,
        "parameters": parameters,
        "data_fingerprint": data_fingerprint,
        "result_keys": list(result_keys or []),
        "commit": git_commit(),
        "packages": package_versions(),
        "platform": current_platform().to_dict(),
    }
