"""The result numbers of the methods page (``book/methods.md``), written by code from the committed store and studies.

Each entry of :data:`GENERATORS` fills the page's block ``<!-- generated: NAME -->`` (:mod:`qaplib.prose`).
``python -m qaplib.methods_page`` (``make prose``) rewrites the blocks; a test holds the page to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from qaplib.provenance import REPO_ROOT

METHODS_PAGE = REPO_ROOT / "book" / "methods.md"
#: The tagger's layers (inputs, outputs) and the bit widths the BOPs paragraph gives unpruned totals for.
LAYERS = ((16, 64), (64, 32), (32, 32), (32, 5))
TOTAL_BITS = (32, 16, 12, 8, 6, 4)


def unpruned_bops(bits: int) -> int:
    """The paper's BOPs of the unpruned tagger at ``bits`` (float inputs into the first layer)."""
    from qaplib.metrics import layer_bops

    total = sum(layer_bops(n, m, bits, 32 if index == 0 else bits, 1.0) for index, (n, m) in enumerate(LAYERS))
    return int(round(total))


def _unpruned_totals() -> str:
    first, *rest = TOTAL_BITS
    return f"{unpruned_bops(first):,} ({first} bits), " + ", ".join(f"{unpruned_bops(b):,} ({b})" for b in rest)


def _effective_example() -> str:
    from qaplib.experiments import run_spec
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    phase = ResultStore(COMMITTED_ROOT).load(run_key(run_spec(get_profile("default"), 6, fold=0))).phases[0]
    return f"{int(phase['effective_bops']):,} against the paper's {int(phase['bops']):,}"


@cache
def _book_frame(profile_name: str):
    from qaplib.manifest import book_sweep
    from qaplib.profiles import get_profile
    from qaplib.store import COMMITTED_ROOT, ResultStore
    from qaplib.tables import results_frame

    return results_frame(ResultStore(COMMITTED_ROOT), book_sweep(get_profile(profile_name)))


def _convergence() -> str:
    from qaplib.analysis import epoch_cap_counts
    from qaplib.profiles import get_profile

    parts = []
    for name in ("default", "paper"):
        frame = _book_frame(name)
        caps = epoch_cap_counts(frame)
        unpruned, later = caps[caps["phase"] == 0].iloc[0], caps[caps["phase"] > 0][["runs", "at_cap"]].sum()
        parts.append(f"at the {name} scale (at most {get_profile(name).train.max_epochs} epochs per phase) "
                     f"{int(unpruned['at_cap'])} of {int(unpruned['runs'])} unpruned runs and {int(later['at_cap'])} of "
                     f"{int(later['runs'])} pruning phases after them")  # fmt: skip
    return "; ".join(parts)


def _uncapped() -> str:
    from qaplib.analysis import _pp
    from qaplib.experiments import baseline_spec, uncapped_baseline
    from qaplib.manifest import chapter
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    store, fold, parts = ResultStore(COMMITTED_ROOT), chapter("01_dataset").parameter_defaults["uncapped_fold"], []
    for name in ("default", "paper"):
        profile = get_profile(name)
        capped = store.load(run_key(baseline_spec(profile, fold)))
        again = uncapped_baseline(profile, fold).runs[0]
        uncapped = store.load(run_key(again))
        change = _pp(uncapped.phases[0]["accuracy"] - capped.phases[0]["accuracy"])
        parts.append(f"at the {name} scale it stopped after {len(capped.curves[0]['val_loss'])} of "
                     f"{profile.train.max_epochs} epochs, and with a cap of {again.train.max_epochs} stops after "
                     f"{len(uncapped.curves[0]['val_loss'])}, test accuracy {change}")  # fmt: skip
    return f"The float baseline of fold {fold}: " + "; ".join(parts)


@cache
def _calibration():
    from qaplib.store import COMMITTED_ROOT, ResultStore
    from qaplib.verify import calibrate

    return calibrate(ResultStore(COMMITTED_ROOT))


def _verify_threshold() -> str:
    c = _calibration()
    measured = c.held_out_exceedances() / c.pairs
    return (f"$T$ is the largest such statistic over every ordered fold pair of the default and paper books: {c.pairs} "
            f"pairs, less those of the sampled records' configurations, which take no part. If a recomputed run is "
            f"exchangeable with those $N$ pairs, it exceeds $T$ with probability at most $1/(N+1)$ "
            f"({c.false_alarm_bound(1):.2%} for {c.pairs}), so a call of 3 runs fails falsely at most "
            f"{c.false_alarm_bound(3):.2%} of the time (the target is 1 %). That bound is also measured: holding out "
            f"each configuration in turn against the $T$ of all the others, {c.held_out_exceedances()} of the {c.pairs} "
            f"pairs exceed it, which is {measured:.2%} per run and {1 - (1 - measured) ** 3:.2%} for 3 runs.")  # fmt: skip


def _verify_sensitivity() -> str:
    c = _calibration()
    return (f"$T$ is {c.threshold:.1f}: in a configuration of typical spread, a run fails when its phase-averaged "
            f"accuracy moves by more than {100 * c.detectable_accuracy_shift('default'):.1f} percentage points at the "
            f"default scale and {100 * c.detectable_accuracy_shift('paper'):.1f} at the paper's.")  # fmt: skip


def _fidelity_table() -> str:
    from qaplib import fidelity_study

    return "\n" + fidelity_study.markdown_table(fidelity_study.load_results()) + "\n"


def _learning_curve() -> str:
    from qaplib import fidelity_study

    rows = json.loads((fidelity_study.COMMITTED_STUDY / "learning_curve.json").read_text())
    return "\n" + fidelity_study.learning_curve_table(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "fidelity-study": _fidelity_table,
    "learning-curve": _learning_curve,
    "unpruned-bops": _unpruned_totals,
    "effective-bops-example": _effective_example,
    "convergence": _convergence,
    "uncapped": _uncapped,
    "verify-threshold": _verify_threshold,
    "verify-sensitivity": _verify_sensitivity,
}


def regenerated(path: Path = METHODS_PAGE) -> str:
    """The methods page with every generated block rewritten from the committed results."""
    from qaplib.prose import regenerate

    return regenerate(Path(path).read_text(), GENERATORS)


if __name__ == "__main__":
    METHODS_PAGE.write_text(regenerated())
    print(f"rewrote the generated blocks of {METHODS_PAGE.relative_to(REPO_ROOT)}")
