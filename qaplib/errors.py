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


class TrainingDivergedError(QapError):
    """The loss of one or more runs became NaN or infinite: each stopped there and is recorded as failed.

    ``failures`` maps each such run's key to the reason; ``completed`` holds the results of the runs trained
    alongside them that finished (the other runs of a batch), to be stored as usual.
    """

    def __init__(self, failures: dict[str, str], completed: list | tuple = ()):
        self.failures = dict(failures)
        self.completed = list(completed)
        super().__init__("; ".join(self.failures.values()))
