"""CITATION.cff: valid under the official CFF 1.2.0 schema, with the paper as the preferred citation."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CITATION = REPO_ROOT / "CITATION.cff"
# Official CFF 1.2.0 schema.json of citation-file-format (tag 1.2.0; copied byte-identical from cffconvert 2.0.0), CC-BY-4.0.
SCHEMA = Path(__file__).parent / "data" / "citation-file-format-1.2.0.schema.json"
PAPER_DOI = "10.3389/frai.2021.676564"
PAPER_AUTHORS = [("Hawks", "Benjamin"), ("Duarte", "Javier"), ("Fraser", "Nicholas J."),
                 ("Pappalardo", "Alessandro"), ("Tran", "Nhan"), ("Umuroglu", "Yaman")]  # fmt: skip


def _stringify_dates(value):
    """YAML dates become strings, as the schema asks of tools ("cast YAML 'date' objects to string objects")."""
    if isinstance(value, dict):
        return {key: _stringify_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stringify_dates(item) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def citation():
    return _stringify_dates(yaml.safe_load(CITATION.read_text(encoding="utf-8")))


def _error_messages(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def test_citation_file_is_valid_cff_1_2_0(validator, citation):
    assert citation["cff-version"] == "1.2.0"
    assert _error_messages(validator, citation) == []


def test_companion_is_the_software_and_the_paper_the_preferred_citation(citation):
    assert citation["type"] == "software"
    assert citation["license"] == "MIT"
    assert citation["authors"] == [{"name": "qap-companion contributors"}]
    assert "repository-code" not in citation
    paper = citation["preferred-citation"]
    assert paper["type"] == "article"
    assert paper["doi"] == PAPER_DOI
    assert [(a["family-names"], a["given-names"]) for a in paper["authors"]] == PAPER_AUTHORS
    assert (paper["journal"], paper["volume"], paper["start"], paper["year"]) == (
        "Frontiers in Artificial Intelligence", 4, 676564, 2021)  # fmt: skip
    identifiers = {(i["type"], i["value"]) for i in paper["identifiers"]}
    assert ("doi", PAPER_DOI) in identifiers
    assert ("other", "arXiv:2102.11289") in identifiers


def _without_cff_version(doc):
    del doc["cff-version"]


def _author_with_empty_name(doc):
    # An author with no keys at all would still be a valid (empty) `person`, which requires nothing;
    # an entity whose name is empty is not.
    doc["authors"] = [{"name": ""}]


def _malformed_doi(doc):
    doc["preferred-citation"]["doi"] = "https://doi.org/" + PAPER_DOI


def _impossible_release_date(doc):
    doc["date-released"] = "2026-13-01"


def _unknown_key(doc):
    doc["repository"] = "somewhere"


@pytest.mark.parametrize("breakage", [_without_cff_version, _author_with_empty_name, _malformed_doi,
                                      _impossible_release_date, _unknown_key])  # fmt: skip
def test_a_broken_copy_fails_validation(validator, citation, breakage):
    broken = copy.deepcopy(citation)
    breakage(broken)
    assert _error_messages(validator, broken), f"{breakage.__name__} should not validate"


def test_format_checker_is_active(validator, citation):
    """`date` is also checked as a format: 2026-02-30 fits the schema's pattern but is not a date."""
    broken = copy.deepcopy(citation)
    broken["date-released"] = "2026-02-30"
    assert any("is not a 'date'" in message for message in _error_messages(validator, broken))
