"""The JSON Schemas of the files a user writes: a run spec (``qap run``) and a grid (``qap sweep --grid``).

They are assembled from the field rules the specification classes check themselves with (:mod:`qaplib.validation`),
so they cannot drift from the code, and shipped in ``qaplib/schemas/`` for readers and editors
(``# yaml-language-server: $schema=.../grid.schema.json``). :func:`write_schemas` rewrites them; a test keeps the
shipped files equal to :func:`schemas`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from qaplib.data import DATA_RULES, DataSpec
from qaplib.hgq import HGQ_RULES, HgqSpec
from qaplib.models import MODEL_RULES, ModelSpec
from qaplib.runs import PRUNING_RULES, RUN_RULES, PruningSpec, RunSpec
from qaplib.train import TRAIN_RULES, TrainSettings
from qaplib.validation import object_schema

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SECTIONS = (("model", ModelSpec, MODEL_RULES), ("pruning", PruningSpec, PRUNING_RULES),
             ("train", TrainSettings, TRAIN_RULES), ("data", DataSpec, DATA_RULES))  # fmt: skip


def _defaults(kind) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(kind())))


def run_spec_schema() -> dict:
    """The schema of a run spec: four sections and a seed, every field optional (its default shown)."""
    sections = {name: object_schema(kind.__name__, rules, _defaults(kind)) for name, kind, rules in _SECTIONS}
    hgq = {"anyOf": [{"type": "null"}, object_schema(HgqSpec.__name__, HGQ_RULES, _defaults(HgqSpec))], "default": None,
           "description": "High-granularity quantization settings, for train.engine 'hgq' only; null for QAP runs."}  # fmt: skip
    schema = object_schema("RunSpec", RUN_RULES, {"seed": RunSpec().seed})
    schema["properties"] = {**sections, "hgq": hgq, **schema["properties"]}
    return {"$schema": _DIALECT, "$id": "run-spec.schema.json", **schema,
            "description": "One quantization-aware pruning run (qap run SPEC.json), or one HGQ run. Cross-field rules "
                           "checked by qaplib besides: the sparsities increase strictly, fold < n_folds, and an hgq "
                           "section goes with train.engine 'hgq' (one phase, bits 32, no batch norm, no L1)."}  # fmt: skip


def grid_schema() -> dict:
    """The schema of a grid file: a name, a base run spec, and the dotted fields to vary with their values."""
    base = {k: v for k, v in run_spec_schema().items() if k not in ("$schema", "$id")}
    dotted = [f"{name}\\.({'|'.join(rules)})" for name, _, rules in (*_SECTIONS, ("hgq", HgqSpec, HGQ_RULES))] + ["seed"]
    return {
        "$schema": _DIALECT,
        "$id": "grid.schema.json",
        "title": "Grid",
        "description": "A sweep (qap sweep --grid FILE): every combination of the grid's values applied to base.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "A short text that names the sweep."},
            "base": {**base, "description": "The run spec every run starts from."},
            "grid": {
                "type": "object",
                "minProperties": 1,
                "description": "Dotted field -> the values it takes, e.g. model.bits: [32, 6].",
                "patternProperties": {f"^({'|'.join(dotted)})$": {"type": "array", "minItems": 1}},
                "additionalProperties": False,
            },
        },
        "required": ["grid"],
        "additionalProperties": False,
    }


def schemas() -> dict[str, dict]:
    """File name -> schema, as shipped in :data:`SCHEMA_DIR`."""
    return {"run-spec.schema.json": run_spec_schema(), "grid.schema.json": grid_schema()}


def schema_text(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``directory``; returns the paths."""
    from qaplib.files import atomic_write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        atomic_write_bytes(directory / name, schema_text(schema).encode())
        written.append(directory / name)
    return written
