"""What each notebook parameter may hold: the rules, declared once, and :func:`check_parameters` that applies them.

The same rules run twice: in ``qap figures`` before any kernel starts (:func:`qaplib.book.check_parameters`),
and in a notebook's first cell (:func:`qaplib.notebook.start`), where a plain papermill run lands. A rule
checks the value alone; what depends on the profile (a fold beyond the profile's folds) is left to the
specs the notebook builds from it, which check themselves on construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from qaplib.errors import InvalidSpecError
from qaplib.inputs import EXECUTORS, MAX_WORKERS


def check_type(name: str, value, expected: type | tuple[type, ...]) -> None:
    """Raise a clear error when a notebook parameter has the wrong type (bool is not an int)."""
    expected_types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in expected_types:
        ok = False
    else:
        ok = isinstance(value, expected_types)
    if not ok:
        names = " or ".join("None" if t is type(None) else t.__name__ for t in expected_types)
        raise InvalidSpecError(f"parameter {name!r} must be {names}, got {value!r} ({type(value).__name__})")


def _profile(name: str, value) -> None:
    from qaplib.profiles import get_profile

    check_type(name, value, str)
    get_profile(value)


def _data_source(name: str, value) -> None:
    check_type(name, value, (str, type(None)))
    if value == "":
        raise InvalidSpecError(f"parameter {name!r} must be None or a file or folder ('default', 'full' or a path), "
                               f"got {value!r}")  # fmt: skip


def _executor(name: str, value) -> None:
    check_type(name, value, str)
    if value not in EXECUTORS:
        raise InvalidSpecError(f"parameter {name!r} must be {' or '.join(map(repr, EXECUTORS))}, got {value!r}")


def _workers(name: str, value) -> None:
    check_type(name, value, (int, type(None)))
    if value is not None and not 1 <= value <= MAX_WORKERS:
        raise InvalidSpecError(f"parameter {name!r} must be None (all cores) or a positive integer (at most {MAX_WORKERS}), "
                               f"got {value!r}")  # fmt: skip


def _flag(name: str, value) -> None:
    check_type(name, value, bool)


def _seed_up_to(maximum: int) -> Callable[[str, object], None]:
    """The rule of a seed: an integer in [0, ``maximum``]."""

    def rule(name: str, value) -> None:
        check_type(name, value, int)
        if not 0 <= value <= maximum:
            raise InvalidSpecError(f"parameter {name!r} must be an integer in [0, {maximum}], got {value}")

    return rule


def _optional_run_seed(name: str, value) -> None:
    from qaplib.runs import MAX_SEED

    if value is not None:
        _seed_up_to(MAX_SEED)(name, value)


def _search_seed(name: str, value) -> None:
    from qaplib.bayesopt import MAX_SEARCH_SEED

    _seed_up_to(MAX_SEARCH_SEED)(name, value)


def _test_jet_count(name: str, value) -> None:
    check_type(name, value, (int, type(None)))
    if value is not None and value < 1:
        raise InvalidSpecError(f"parameter {name!r} must be None (every test jet) or a positive number of jets, got {value}")


def _figure_dir(name: str, value) -> None:
    from qaplib.files import writable_directory

    check_type(name, value, str)
    writable_directory(value, f"figure folder (parameter {name!r})")  # before the computing, not at the first figure


def _integer(name: str, value) -> None:
    check_type(name, value, int)


def _fold(name: str, value) -> None:
    from qaplib.data import DataSpec

    check_type(name, value, int)
    folds = DataSpec().n_folds
    if not 0 <= value < folds:
        raise InvalidSpecError(f"parameter {name!r} must be a fold in 0..{folds - 1}, got {value!r}")


def _accuracy_margin(name: str, value) -> None:
    check_type(name, value, float)
    if not (math.isfinite(value) and 0 <= value < 1):
        raise InvalidSpecError(f"parameter {name!r} must be a fraction of accuracy in [0, 1), like 0.01, got {value!r}")


def _bit_widths(name: str, value) -> None:
    from qaplib.experiments import check_bits

    if value is not None:  # None: the profile's, where a notebook allows it (the notebook says so)
        check_bits(value, name)


def _label_noise(name: str, value) -> None:
    from qaplib.experiments import as_list

    fractions = as_list(value, name)
    if not isinstance(fractions, (list, tuple)) or not fractions:
        raise InvalidSpecError(f"parameter {name!r} must be a non-empty list of fractions in [0, 1), got {value!r}")
    for fraction in fractions:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise InvalidSpecError(f"parameter {name!r}: label_noise must be a fraction in [0, 1), got {fraction!r}")


def _betas(name: str, value) -> None:
    from qaplib.experiments import check_betas

    check_betas(value, name)


#: Parameter name -> its rule (``rule(name, value)`` raises :class:`InvalidSpecError` naming the value). A name
#: means the same in every notebook that declares it.
RULES: dict[str, Callable[[str, object], None]] = {
    "profile": _profile,
    "source": _data_source,
    "test_source": _data_source,
    "executor": _executor,
    "workers": _workers,
    "figure_dir": _figure_dir,
    "store_only": _flag,
    "seed": _optional_run_seed,
    "search_seed": _search_seed,
    "n_samples": _test_jet_count,
    "fold": _integer,
    "uncapped_fold": _fold,
    "bits": _bit_widths,
    "ablation_bits": _bit_widths,
    "scheme_bits": _bit_widths,
    "tolerance": _accuracy_margin,
    "accuracy_window": _accuracy_margin,
    "label_noise": _label_noise,
    "betas": _betas,
}


def check_parameters(parameters: dict) -> None:
    """Apply :data:`RULES` to every parameter in ``parameters`` that has one."""
    for name, value in parameters.items():
        if name in RULES:
            RULES[name](name, value)
