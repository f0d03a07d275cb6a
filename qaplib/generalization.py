"""The paper's third claim, tested: does a model's information content predict how well it generalizes?

The abstract says the information content of equally accurate networks "varies significantly, affecting its
generalizability". Two measures of generalization, each against neural efficiency (or aIQ):

* :func:`efficiency_and_generalization`: the **gap** between the training accuracy of the kept epoch and the
  test accuracy, over the clean-label configurations of chapters 3–5 (with random labels, the training accuracy is
  measured on wrong labels and the gap mostly measures the noise, so those runs are left out).
* :func:`efficiency_and_noise_loss`: the **accuracy lost to random labels**: the clean-test accuracy of a model
  trained on clean labels minus that of the same configuration, fold and phase trained with a fraction of the
  labels randomised (chapter 6), against the clean model's efficiency.

Both give the Spearman rank correlation and a 95 % bootstrap interval that resamples independent units (a
configuration's runs, or one run's phases, move together), seeded. :func:`efficiency_change_with_noise` reports how
efficiency itself moves with label noise, with fold standard errors, beside the training length that differs
between the scales.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.tables import standard_error

#: Bootstrap draws of every interval here; the generator is seeded, so the intervals are deterministic.
BOOTSTRAP_DRAWS = 2000


def _spearman(a, b, strata=None) -> float:
    """Spearman's rho of ``a`` and ``b``; with ``strata``, of their ranks within each stratum (rank correlation at
    equal stratum: at equal pruning phase, a trend that both share with the phase does not count)."""
    a, b = pd.Series(np.asarray(a, dtype=float)), pd.Series(np.asarray(b, dtype=float))
    if strata is not None:
        groups = pd.Series(np.asarray(strata))
        a, b = (v.groupby(groups).rank() - v.groupby(groups).transform(lambda g: (len(g) + 1) / 2) for v in (a, b))
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample without spread has no rho: NaN, left out
        return float(a.corr(b) if strata is not None else a.rank().corr(b.rank()))


def _bootstrap(x: np.ndarray, y: np.ndarray, units: list, n_boot: int, seed: int, strata=None) -> tuple[float, float]:
    """95 % percentile interval of Spearman's rho (:func:`_spearman`) when whole ``units`` (lists of row indices) are
    resampled."""
    generator = np.random.default_rng(seed)
    strata = None if strata is None else np.asarray(strata)
    draws = []
    for _ in range(n_boot):
        chosen = np.concatenate([units[k] for k in generator.integers(0, len(units), len(units))])
        draws.append(_spearman(x[chosen], y[chosen], None if strata is None else strata[chosen]))
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return float(low), float(high)


def efficiency_and_generalization(summary: pd.DataFrame, predictor: str = "neural_efficiency", n_boot: int = BOOTSTRAP_DRAWS,
                                  seed: int = 0) -> dict:  # fmt: skip
    """Spearman correlation of ``predictor`` (neural efficiency or aIQ) with the generalization gap, training accuracy
    (of the kept epoch) minus test accuracy, over the fold-averaged rows of :func:`qaplib.tables.summarise` (one per
    configuration and phase), and its 95 % bootstrap interval. The bootstrap resamples configurations (all pruning
    phases of one configuration together, since they come from one run per fold and are not independent).

    Returns ``rho``, ``interval`` (low, high), the same at equal pruning phase (``rho_within_phase``,
    ``interval_within_phase``: ranks taken within each phase, since efficiency and the gap both move with the fraction
    pruned), ``n`` (rows), ``configurations`` and ``predictor``. A positive rho:
    the more efficient models overfit more; negative: they generalize better; an interval across 0: no evidence
    either way.
    """
    from qaplib.tables import CONFIG_COLUMNS

    rows = summary.dropna(subset=[predictor, "train_accuracy", "accuracy"]).reset_index(drop=True)
    x, gap = rows[predictor].to_numpy(), (rows["train_accuracy"] - rows["accuracy"]).to_numpy()
    keys = [c for c in CONFIG_COLUMNS if c in rows.columns]
    configurations = list(rows.groupby(keys, dropna=False).indices.values()) if keys else [[i] for i in range(len(rows))]
    phase = rows["phase"].to_numpy() if "phase" in rows.columns else np.zeros(len(rows))
    return {"predictor": predictor, "rho": _spearman(x, gap), "interval": _bootstrap(x, gap, configurations, n_boot, seed),
            "rho_within_phase": _spearman(x, gap, phase),
            "interval_within_phase": _bootstrap(x, gap, configurations, n_boot, seed, phase),
            "n": int(len(x)), "configurations": len(configurations)}  # fmt: skip


def noise_loss_rows(frame: pd.DataFrame, predictor: str = "neural_efficiency") -> pd.DataFrame:
    """Per bit width, fold, phase and noise level > 0: the clean model's ``predictor`` and the clean-test accuracy lost
    when that fraction of the training labels is random (clean minus noisy; the runs share the fold's split and seed).

    ``frame``: rows of :func:`qaplib.tables.results_frame` for chapter 6's sweep (noise 0 included)."""
    keys = ["bits", "fold", "phase"]
    clean = frame[frame["label_noise"] == 0].set_index(keys)
    rows = []
    for noise, noisy in frame[frame["label_noise"] > 0].groupby("label_noise"):
        noisy = noisy.set_index(keys)
        common = clean.index.intersection(noisy.index)
        rows.append(pd.DataFrame({"label_noise": noise, predictor: clean.loc[common, predictor],
                                  "accuracy lost": clean.loc[common, "accuracy"] - noisy.loc[common, "accuracy"]},
                                 index=common).reset_index())  # fmt: skip
    columns = [*keys, "label_noise", predictor, "accuracy lost"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)


def efficiency_and_noise_loss(frame: pd.DataFrame, predictor: str = "neural_efficiency", n_boot: int = BOOTSTRAP_DRAWS,
                              seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Per noise level: Spearman correlation of the clean model's ``predictor`` with the accuracy lost to random labels
    (:func:`noise_loss_rows`) over every bit width, fold and pruning phase, and its 95 % bootstrap interval, resampling
    runs (a bit width and fold: its phases together). A positive rho: the more efficient models lose more accuracy to
    noise (generalize worse); negative: they lose less. Also at equal pruning phase (ranks within each phase: both
    quantities move with the fraction pruned). Columns: label_noise, rho, low, high, ``rho within phase``,
    ``low within phase``, ``high within phase``, points, runs."""
    rows = []
    for noise, group in noise_loss_rows(frame, predictor).groupby("label_noise"):
        group = group.reset_index(drop=True)
        x, lost = group[predictor].to_numpy(), group["accuracy lost"].to_numpy()
        runs = list(group.groupby(["bits", "fold"]).indices.values())
        phase = group["phase"].to_numpy()
        low, high = _bootstrap(x, lost, runs, n_boot, seed)
        within_low, within_high = _bootstrap(x, lost, runs, n_boot, seed, phase)
        rows.append({"label_noise": noise, "rho": _spearman(x, lost), "low": low, "high": high,
                     "rho within phase": _spearman(x, lost, phase), "low within phase": within_low,
                     "high within phase": within_high, "points": len(group), "runs": len(runs)})  # fmt: skip
    return pd.DataFrame(rows)


def efficiency_change_with_noise(frame: pd.DataFrame, phase: int = 0) -> pd.DataFrame:
    """How neural efficiency moves with label noise, per bit width and noise level > 0, at pruning ``phase``
    (default: unpruned): the change noisy minus clean (paired by fold; mean and standard error), the change in
    clean-test accuracy, and the training length (mean epochs, runs at the epoch cap) of the clean and noisy runs."""
    at = frame[frame["phase"] == phase].set_index(["bits", "fold"])
    rows = []
    for (bits, noise), noisy in frame[(frame["phase"] == phase) & (frame["label_noise"] > 0)].groupby(["bits", "label_noise"]):
        noisy = noisy.set_index(["bits", "fold"])
        clean = at[at["label_noise"] == 0].loc[noisy.index]
        change = noisy["neural_efficiency"] - clean["neural_efficiency"]
        accuracy = noisy["accuracy"] - clean["accuracy"]
        rows.append({"bits": int(bits), "label_noise": noise,
                     "efficiency clean": clean["neural_efficiency"].mean(),
                     "efficiency change": change.mean(), "efficiency change_se": standard_error(change),
                     "accuracy change": accuracy.mean(), "accuracy change_se": standard_error(accuracy),
                     "epochs clean": clean["epochs"].mean(), "epochs noisy": noisy["epochs"].mean(),
                     "noisy runs at cap": int((noisy["epochs"] >= noisy["max_epochs"]).sum()), "folds": len(noisy)})  # fmt: skip
    return pd.DataFrame(rows)


def _sign(low: float, high: float) -> str:
    """The sign a 95 % interval supports: positive, negative, or none."""
    return "positive" if low > 0 else "negative" if high < 0 else "none"


def _rho(rho: float, low: float, high: float) -> str:
    return f"ρ = {rho:+.2f} ({low:+.2f} to {high:+.2f})"


def _widest(gap: dict, records: list[dict]) -> float:
    """The largest distance from zero of any interval bound at equal pruning phase."""
    bounds = [*gap["interval_within_phase"], *(r[k] for r in records for k in ("low within phase", "high within phase"))]
    return float(np.max(np.abs(bounds)))


def generalization_verdict(gap: dict, noise_loss: pd.DataFrame, change: pd.DataFrame) -> str:
    """The paper's third claim in words, from :func:`efficiency_and_generalization`,
    :func:`efficiency_and_noise_loss` and :func:`efficiency_change_with_noise`: the conclusion first (the at-a-glance
    table shows the first sentence), then each rank correlation with its 95 % interval, over all models and at equal
    pruning phase."""
    name = "neural efficiency" if gap["predictor"] == "neural_efficiency" else gap["predictor"]
    records = noise_loss.to_dict("records")
    signs = {"all": {_sign(*gap["interval"])} | {_sign(r["low"], r["high"]) for r in records},
             "within": {_sign(*gap["interval_within_phase"])}
             | {_sign(r["low within phase"], r["high within phase"]) for r in records}}  # fmt: skip
    measures = "the gap between training and test accuracy" + (" or the accuracy lost to random labels" if records else "")
    if signs["within"] == {"none"}:
        head = (f"At equal pruning, a model's {name} does not predict how well it generalizes: its rank correlation with "
                f"{measures} is nowhere distinguishable from zero (95 % bootstrap intervals)"
                + ("; the correlations over all models follow the fraction pruned, which moves both" if signs["all"] != {"none"}
                   else "")
                + ". The paper's link between information content and generalizability is not supported by these runs."
                + (" The intervals at equal phase are wide, so a moderate correlation is not excluded either."
                   if _widest(gap, records) > 0.3 else ""))  # fmt: skip
    else:
        found = " and ".join(sorted(signs["within"] - {"none"}))
        head = (f"At equal pruning, a model's {name} carries information about how well it generalizes: some of its rank "
                f"correlations with {measures} are {found} beyond their 95 % bootstrap interval (a positive ρ: more "
                "efficient models generalize worse).")  # fmt: skip
    text = (f"{head} Gap between training and test accuracy, over the {gap['configurations']} clean-label configurations "
            f"of chapters 3–5 ({gap['n']} models): {_rho(gap['rho'], *gap['interval'])} over all models, "
            f"{_rho(gap['rho_within_phase'], *gap['interval_within_phase'])} at equal pruning phase.")  # fmt: skip
    if records:
        text += (" Accuracy lost to random labels, against the clean model's " + name + ": "
                 + "; ".join(f"{100 * r['label_noise']:.0f} % random labels {_rho(r['rho'], r['low'], r['high'])} over all "
                             f"models, {_rho(r['rho within phase'], r['low within phase'], r['high within phase'])} at "
                             "equal phase" for r in records) + ".")  # fmt: skip
    if len(change):
        noisiest = change[change["label_noise"] == change["label_noise"].max()]
        moves = "; ".join(f"{'float' if r['bits'] == 32 else str(r['bits']) + '-bit'} {r['efficiency change']:+.3f}"
                          + (f" ± {r['efficiency change_se']:.3f}" if np.isfinite(r["efficiency change_se"]) else "")
                          for r in noisiest.to_dict("records"))  # fmt: skip
        capped = int(noisiest["noisy runs at cap"].sum())
        text += (f" With {100 * noisiest['label_noise'].iloc[0]:.0f} % random labels the unpruned models' efficiency "
                 f"changes by {moves} (noisy minus clean, mean ± standard error over folds); {capped} of "
                 f"{int(noisiest['folds'].sum())} of those noisy runs stop at the epoch cap. Why efficiency moves with "
                 "label noise is not established by these runs (see the table).")
    return text


def correlation_table(gap: dict, noise_loss: pd.DataFrame) -> pd.DataFrame:
    """Every correlation of the verdict as the chapter shows it: one row per measure (the train-test gap, then the
    accuracy lost at each noise level), ρ with its 95 % interval over all models and at equal pruning phase, the
    models and the independent units (configurations or runs) the bootstrap resamples."""
    def cell(rho: float, low: float, high: float) -> str:
        return f"{rho:+.2f} [{low:+.2f}, {high:+.2f}]"

    rows = [{"measure": "gap between training and test accuracy", "ρ, all models": cell(gap["rho"], *gap["interval"]),
             "ρ, equal pruning phase": cell(gap["rho_within_phase"], *gap["interval_within_phase"]), "models": gap["n"],
             "units": f"{gap['configurations']} configurations"}]  # fmt: skip
    for r in noise_loss.to_dict("records"):
        rows.append({"measure": f"accuracy lost to {100 * r['label_noise']:.0f} % random labels",
                     "ρ, all models": cell(r["rho"], r["low"], r["high"]),
                     "ρ, equal pruning phase": cell(r["rho within phase"], r["low within phase"], r["high within phase"]),
                     "models": r["points"], "units": f"{r['runs']} runs"})  # fmt: skip
    return pd.DataFrame(rows)
