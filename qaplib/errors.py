"""Exceptions raised by qaplib. Every message names the problem and the fix."""

from __future__ import annotations


class QapError(Exception):
    """Base class of every error qaplib raises on purpose."""


class InvalidSpecError(QapError, ValueError):
    """A specification (data, model, run, generator settings) holds a value that is not allowed."""


class DatasetError(QapError):
    """A dataset file is missing, unreadable or malformed."""


class GeneratorError(QapError):
    """The jet generator could not be set up or run (Pythia, FastJet, the C++ feature kernel)."""


class FirmwareError(QapError):
    """A model cannot be turned into bit-exact firmware (unsupported layer, inexact precision, missing tool)."""
