"""The paper's experiments as sweeps, for any profile: what each chapter of the book asks for.

Every function returns a :class:`qaplib.sweep.SweepSpec`; runs shared between chapters (the
FT runs with batch norm and L1, for instance) have identical specs, hence identical keys, and are
computed once.
"""

from __future__ import annotations

import dataclasses
import itertools

import yaml

from qaplib.errors import InvalidSpecError
from qaplib.hgq import HGQ_RULES, HgqSpec
from qaplib.models import ModelSpec, check_bit_width
from qaplib.profiles import Profile
from qaplib.runs import PruningSpec, RunSpec
from qaplib.sweep import SweepSpec
from qaplib.validation import check_value

#: The paper's bit widths (8 bits was commented out of the authors' job list; the book shows it).
QAP_BITS = (32, 12, 8, 6, 4)
SCHEME_BITS = (32, 12, 6, 4)
ABLATION_BITS = (32, 6)
LABEL_NOISE = (0.0, 0.5, 0.75, 0.9)
L1_STRENGTH = 1e-4
#: HGQ's resource-penalty strengths (chapter 9): log-spaced around its tutorial's 3e-6, from nearly free bit widths
#: (1e-7) to a penalty that costs accuracy (1e-4).
HGQ_BETAS = (1e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4)


def as_list(value, name: str):
    """A list parameter as given, or parsed from the YAML/JSON text that ``papermill -p bits "[32, 6]"`` passes.

    Other values are returned unchanged, for the caller's own check.
    """
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InvalidSpecError(f"parameter {name!r}: {value!r} is not a list (write it like [32, 6])") from None
        if isinstance(parsed, list):
            return parsed
    return value


def check_bits(bits, name: str = "bits") -> tuple[int, ...]:
    """A validated tuple of bit widths (a notebook parameter, or its text "[32, 6]"); clear error otherwise."""
    bits = as_list(bits, name)
    if isinstance(bits, int) and not isinstance(bits, bool):
        bits = (bits,)
    if not isinstance(bits, (list, tuple)) or not bits:
        raise InvalidSpecError(f"parameter {name!r} must be a non-empty list of bit widths, got {bits!r}")
    return tuple(check_bit_width(b, f"parameter {name!r}: ") for b in bits)


def run_spec(profile: Profile, bits: int, scheme: str = "ft", fold: int = 0, batchnorm: bool = True,
             l1: float = L1_STRENGTH, label_noise: float = 0.0) -> RunSpec:
    """One run of the paper's study under ``profile``."""
    return RunSpec(
        model=ModelSpec(bits=bits, batchnorm=batchnorm, l1=l1),
        pruning=PruningSpec(scheme=scheme, sparsities=profile.sparsities),
        train=profile.train,
        data=dataclasses.replace(profile.data, fold=fold, label_noise=label_noise),
        seed=fold,
    )


def baseline_spec(profile: Profile, fold: int = 0, seed: int | None = None, unpruned_only: bool = False) -> RunSpec:
    """The float tagger of the dataset chapter.

    It is the 32-bit FT run of chapter 2 (same spec, so stored once); with ``unpruned_only`` (a
    chapter-1 rerun on other data, where nothing else needs the pruning phases) only its unpruned phase.
    """
    spec = run_spec(profile, 32, fold=fold)
    if seed is not None:
        spec = dataclasses.replace(spec, seed=seed)
    if unpruned_only:
        spec = dataclasses.replace(spec, pruning=PruningSpec(sparsities=(0.0,)))
    return spec


#: How many times its profile's epoch cap the uncapped float baseline may train (:func:`uncapped_baseline`).
UNCAPPED_EPOCH_FACTOR = 4


def uncapped_baseline(profile: Profile, fold: int = 0) -> SweepSpec:
    """Does the float baseline converge within the profile's epoch cap? Its unpruned phase trained again with
    :data:`UNCAPPED_EPOCH_FACTOR` times the cap, the same patience, data and seed (chapter 1). Early stopping keeps
    the epoch of lowest validation loss, so this run's accuracy is what the capped one would reach with more time."""
    spec = baseline_spec(profile, fold, unpruned_only=True)
    train = dataclasses.replace(spec.train, max_epochs=UNCAPPED_EPOCH_FACTOR * spec.train.max_epochs)
    return SweepSpec(name=f"uncapped float baseline ({profile.name})", runs=(dataclasses.replace(spec, train=train),))


def _sweep(name: str, profile: Profile, combinations) -> SweepSpec:
    runs = []
    for options in combinations:
        for fold in profile.folds:
            spec = run_spec(profile, fold=fold, **options)
            if spec not in runs:
                runs.append(spec)
    return SweepSpec(name=f"{name} ({profile.name})", runs=tuple(runs))


def qap_sweep(profile: Profile, bits=QAP_BITS) -> SweepSpec:
    """Fine-tuning pruning at each bit width (chapter 2)."""
    return _sweep("qap", profile, ({"bits": b} for b in check_bits(bits)))


def pruning_schemes(profile: Profile, bits=SCHEME_BITS) -> SweepSpec:
    """FT and LT pruning at each bit width (chapter 3)."""
    return _sweep("schemes", profile, ({"bits": b, "scheme": s} for b, s in itertools.product(check_bits(bits), ("ft", "lt"))))


def batchnorm_l1(profile: Profile, bits=ABLATION_BITS) -> SweepSpec:
    """With/without batch norm and with/without L1, FT pruning (chapter 4)."""
    variants = ({"batchnorm": True, "l1": L1_STRENGTH}, {"batchnorm": False, "l1": L1_STRENGTH}, {"batchnorm": True, "l1": 0.0})
    return _sweep("bn-l1", profile, ({"bits": b, **v} for b, v in itertools.product(check_bits(bits), variants)))


def generalizability(profile: Profile, bits=ABLATION_BITS, label_noise=LABEL_NOISE) -> SweepSpec:
    """Label randomisation of the training set at each bit width, FT pruning (chapter 6)."""
    label_noise = as_list(label_noise, "label_noise")
    if not isinstance(label_noise, (list, tuple)) or not label_noise:
        raise InvalidSpecError(f"parameter 'label_noise' must be a non-empty list of fractions, got {label_noise!r}")
    combos = ({"bits": b, "label_noise": float(n)} for b, n in itertools.product(check_bits(bits), label_noise))
    return _sweep("generalizability", profile, combos)


def check_betas(betas, name: str = "betas") -> tuple[float, ...]:
    """``betas`` as a tuple of distinct HGQ penalty strengths (each as :class:`qaplib.hgq.HgqSpec` takes it)."""
    betas = as_list(betas, name)
    if not isinstance(betas, (list, tuple)) or not betas:
        raise InvalidSpecError(f"parameter {name!r} must be a non-empty list of HGQ penalty strengths, got {betas!r}")
    for beta in betas:
        check_value(HGQ_RULES["beta"], beta, f"parameter {name!r}: ")
    if len(set(betas)) != len(betas):
        raise InvalidSpecError(f"parameter {name!r} names a penalty strength twice: {list(betas)}")
    return tuple(float(beta) for beta in betas)


def hgq_spec(profile: Profile, beta: float, fold: int = 0) -> RunSpec:
    """One HGQ run under ``profile``: the tagger's widths, the profile's data, fold, seed and training budget
    (learning rate, epochs, patience, batch size), the ``hgq`` engine."""
    return RunSpec(
        model=ModelSpec(bits=32, batchnorm=False, l1=0.0),
        pruning=PruningSpec(sparsities=(0.0,)),
        train=dataclasses.replace(profile.train, engine="hgq"),
        data=dataclasses.replace(profile.data, fold=fold),
        seed=fold,
        hgq=HgqSpec(beta),
    )


def hgq_sweep(profile: Profile, betas=HGQ_BETAS) -> SweepSpec:
    """HGQ at each penalty strength on every fold of ``profile`` (chapter 9)."""
    runs = tuple(hgq_spec(profile, beta, fold) for beta in check_betas(betas) for fold in profile.folds)
    return SweepSpec(name=f"hgq ({profile.name})", runs=runs)


def union(name: str, *sweeps: SweepSpec) -> SweepSpec:
    """The distinct runs of several sweeps, in order of first appearance."""
    runs = []
    for sweep in sweeps:
        runs.extend(spec for spec in sweep.runs if spec not in runs)
    return SweepSpec(name=name, runs=tuple(runs))


#: The Pareto-front models of the firmware chapter: (bits, target fraction of weights pruned).
FIRMWARE_MODELS = ((32, 0.0), (6, 0.0), (6, 0.5), (6, 0.8), (6, 0.9), (4, 0.8))


def nearest_phase(profile: Profile, sparsity: float) -> int:
    """Index of the profile's pruning phase whose target sparsity is closest to ``sparsity``."""
    return int(min(range(len(profile.sparsities)), key=lambda k: abs(profile.sparsities[k] - sparsity)))


def firmware_models(profile: Profile, models=FIRMWARE_MODELS, fold: int = 0) -> list[tuple[RunSpec, int]]:
    """(FT run spec of chapter 2, phase) for each requested (bits, sparsity)."""
    models = as_list(models, "models")
    if not isinstance(models, (list, tuple)) or not models:
        raise InvalidSpecError(f"parameter 'models' must be a non-empty list of [bits, sparsity] pairs, got {models!r}")
    chosen = []
    for entry in models:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise InvalidSpecError(f"parameter 'models': each entry must be [bits, sparsity], got {entry!r}")
        bits, sparsity = check_bits(entry[0], "models")[0], entry[1]
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
            raise InvalidSpecError(f"parameter 'models': sparsity must be a fraction in [0, 1), got {sparsity!r}")
        chosen.append((run_spec(profile, bits, fold=fold), nearest_phase(profile, sparsity)))
    return chosen


def bo_searches(profile: Profile, bits=None, seed: int = 0):
    """One :class:`qaplib.bayesopt.SearchSpec` per bit width (default: the profile's ``bo_bits``) with the
    profile's trial budget."""
    from qaplib.bayesopt import SearchSpec

    bits = profile.bo_bits if bits is None else bits
    return [SearchSpec(bits=b, trials=profile.bo_trials, search_epochs=profile.bo_epochs, seed=seed) for b in check_bits(bits)]
