"""Declared validation: each field a user can set is one JSON-Schema rule with one message.

The specification classes (:class:`qaplib.models.ModelSpec`, :class:`qaplib.runs.PruningSpec`,
:class:`qaplib.train.TrainSettings`, :class:`qaplib.data.DataSpec`, :class:`qaplib.runs.RunSpec`) declare their
fields with :func:`rule` and check themselves with :func:`check_fields` when they are built, from Python or from a
file. The same declarations are published as JSON Schemas a user can read (and point an editor at):
``qaplib/schemas/run-spec.schema.json`` and ``grid.schema.json``, written by :func:`qaplib.schemas.write_schemas`
and kept equal to the code by a test.

Types follow JSON, strictly: an ``integer`` is an int that is not a bool (JSON's ``true`` is not the count 1, nor
``6.0`` the bit width 6), a ``number`` is a finite int or float that is not a bool (JSON has no NaN or infinity),
and an ``array`` may also be a tuple.
"""

from __future__ import annotations

import functools
import json
import math

from qaplib.errors import InvalidSpecError

#: The key of a rule's message: the error text, with ``<value>`` standing for the value given (its repr).
MESSAGE = "x-message"


def _integer(_checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(_checker, value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _array(_checker, value) -> bool:
    return isinstance(value, (list, tuple))


def strict_validator(schema: dict):
    """A Draft 2020-12 validator of ``schema`` with the strict JSON types above. (jsonschema is imported on first
    use: the firmware worker's environment imports the specification modules but never validates.)"""
    return _strict_validator_class()(schema)


@functools.cache
def _strict_validator_class():
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    types = Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _integer, "number": _number, "array": _array})
    return extend(Draft202012Validator, type_checker=types)


def rule(schema: dict, message: str, description: str) -> dict:
    """One field's rule: a JSON Schema, what the field means (``description``) and the error when a value breaks it
    (``message``, with ``<value>`` for the value's repr)."""
    return {"description": description, **schema, MESSAGE: message}


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str):
    return strict_validator(json.loads(schema_json))


def breaks(field_rule: dict, value) -> bool:
    """Whether ``value`` breaks ``field_rule``."""
    return not _validator(json.dumps(field_rule, sort_keys=True)).is_valid(value)


def check_value(field_rule: dict, value, prefix: str = ""):
    """``value`` if it keeps ``field_rule``; else :class:`qaplib.errors.InvalidSpecError` with the rule's message."""
    if breaks(field_rule, value):
        raise InvalidSpecError(prefix + field_rule[MESSAGE].replace("<value>", repr(value)))
    return value


def check_fields(rules: dict[str, dict], values: dict) -> None:
    """Check every field of ``values`` that ``rules`` declares, in declaration order; the first that breaks its rule
    raises its message."""
    for name, field_rule in rules.items():
        if name in values:
            check_value(field_rule, values[name])


def object_schema(title: str, rules: dict[str, dict], defaults: dict | None = None) -> dict:
    """A JSON Schema of an object with the fields ``rules`` declares (and their ``defaults``), no others."""
    properties = {}
    for name, field_rule in rules.items():
        published = {k: v for k, v in field_rule.items() if k != MESSAGE}
        if defaults is not None and name in defaults:
            published["default"] = defaults[name]
        properties[name] = published
    return {"title": title, "type": "object", "properties": properties, "additionalProperties": False}
