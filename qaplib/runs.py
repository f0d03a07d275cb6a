"""The run core: what one quantization-aware pruning run is, its key, its result, and how a phase is scored.

A :class:`RunSpec` fixes everything that changes the result (model, pruning scheme and schedule,
training settings, data and label noise, seed); :func:`run_key` is its cache key. An engine
(:mod:`qaplib.engines`) trains it: phase k prunes the Dense kernels globally to ``sparsities[k]`` by
magnitude, then trains with a fresh Adam and early stopping (best weights restored), then scores the
phase on the test set with :func:`evaluate`.

* **FT** (fine-tuning): each phase continues from the previous phase's trained weights.
* **LT** (lottery ticket): each phase rewinds every weight to its initial value, keeps the mask,
  and retrains from there (rewinding to iteration 0, as in the paper).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

import numpy as np

from qaplib import columns, metrics
from qaplib.data import PIPELINE_VERSION, DataSpec, JetData, load_jets, source_fingerprint
from qaplib.engines import ENGINE_VERSIONS
from qaplib.errors import InvalidSpecError
from qaplib.generator.settings import CLASS_NAMES
from qaplib.hgq import HgqSpec
from qaplib.models import ModelSpec
from qaplib.pruning import PAPER_SPARSITIES, measured_sparsity
from qaplib.records import content_key
from qaplib.train import TrainSettings
from qaplib.validation import check_fields, rule

#: Bump when the content or layout of a stored result changes; it is part of every result key.
#: 2: keys cover the code versions (:func:`code_versions`) and every phase carries the effective BOPs and
#: sparsity (:data:`WEIGHT_METRICS`); every stored run was recomputed then, so nothing needed filling in.
RESULT_FORMAT_VERSION = 2
#: Version of the evaluation (:func:`evaluate` and the metrics it calls), part of every run key: bump it
#: when a change there alters any stored metric, and every run is recomputed.
EVALUATION_VERSION = 1
PRUNING_SCHEMES = ("ft", "lt")
#: Largest run seed: phase seeds are ``seed * 1000 + phase`` and NumPy's legacy seeding stops at 2**32 - 1.
MAX_SEED = 999_999

#: The rules of :class:`PruningSpec`'s fields (:mod:`qaplib.validation`); the sparsities must also increase.
PRUNING_RULES: dict[str, dict] = {
    "scheme": rule({"type": "string", "enum": list(PRUNING_SCHEMES)},
                   f"pruning scheme must be one of {PRUNING_SCHEMES}, got <value>",
                   "'ft': each phase fine-tunes the previous one's weights; 'lt': each rewinds to the initial weights "
                   "(lottery ticket)."),
    "sparsities": rule({"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}},
                       "sparsities must be a non-empty list of fractions in [0, 1), got <value>",
                       "Target fraction of Dense weights pruned in each phase, strictly increasing (the paper's 12)."),
}  # fmt: skip
#: The rules of :class:`RunSpec`'s own field.
RUN_RULES: dict[str, dict] = {
    "seed": rule({"type": "integer", "minimum": 0, "maximum": MAX_SEED}, f"seed must be an integer in [0, {MAX_SEED}], "
                 "got <value>", "Seeds the initial weights and each phase's shuffling."),
}  # fmt: skip


@dataclass(frozen=True)
class PruningSpec:
    """Pruning scheme ('ft' or 'lt') and the target sparsity of each phase (strictly increasing)."""

    scheme: str = "ft"
    sparsities: tuple[float, ...] = PAPER_SPARSITIES

    def __post_init__(self) -> None:
        check_fields(PRUNING_RULES, vars(self))
        object.__setattr__(self, "sparsities", tuple(self.sparsities))
        values = self.sparsities
        if any(b <= a for a, b in zip(values, values[1:], strict=False)):
            raise InvalidSpecError(f"sparsities must be strictly increasing, got {list(values)}")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's result. JSON round-trips; :func:`run_key` is its cache key."""

    model: ModelSpec = field(default_factory=ModelSpec)
    pruning: PruningSpec = field(default_factory=PruningSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSpec = field(default_factory=DataSpec)
    seed: int = 0
    #: The HGQ settings, for a run of the ``hgq`` engine (:mod:`qaplib.hgq`); None for every QAP run.
    hgq: HgqSpec | None = None

    def __post_init__(self) -> None:
        for name, kind in (("model", ModelSpec), ("pruning", PruningSpec), ("train", TrainSettings), ("data", DataSpec)):
            if not isinstance(getattr(self, name), kind):
                raise InvalidSpecError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        if self.hgq is not None and not isinstance(self.hgq, HgqSpec):
            raise InvalidSpecError(f"hgq must be an HgqSpec or None, got {type(self.hgq).__name__}")
        check_fields(RUN_RULES, vars(self))
        _check_hgq_run(self)

    def to_dict(self) -> dict:
        """Plain data; a QAP run has no ``hgq`` entry (so that its key is what it was before HGQ runs existed)."""
        raw = json.loads(json.dumps(dataclasses.asdict(self)))
        if raw["hgq"] is None:
            del raw["hgq"]
        return raw

    @classmethod
    def from_dict(cls, raw: dict) -> RunSpec:
        """Build and validate a spec from plain data (as read from JSON or YAML)."""
        if not isinstance(raw, dict):
            raise InvalidSpecError(f"a run spec must be a mapping, got {type(raw).__name__}")
        parts = {"model": ModelSpec, "pruning": PruningSpec, "train": TrainSettings, "data": DataSpec, "hgq": HgqSpec}
        unknown = sorted(set(raw) - {*parts, "seed"})
        if unknown:
            raise InvalidSpecError(f"unknown run spec fields {unknown}; allowed: {sorted({*parts, 'seed'})}")
        built = {}
        for name, kind in parts.items():
            if name == "hgq" and raw.get(name) is None:
                built[name] = None
                continue
            section = raw.get(name, {})
            if not isinstance(section, dict):
                raise InvalidSpecError(f"{name} must be a mapping, got {section!r}")
            allowed = {f.name for f in dataclasses.fields(kind)}
            extra = sorted(set(section) - allowed)
            if extra:
                raise InvalidSpecError(f"unknown {name} fields {extra}; allowed: {sorted(allowed)}")
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
            try:
                built[name] = kind(**values)
            except TypeError as exc:
                raise InvalidSpecError(f"{name}: {exc}") from None
        return cls(**built, seed=raw.get("seed", 0))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunSpec:
        try:
            return cls.from_dict(json.loads(text))
        except UnicodeDecodeError:
            raise InvalidSpecError("run spec is not UTF-8 text; save it as UTF-8 JSON") from None
        except json.JSONDecodeError as exc:
            raise InvalidSpecError(f"run spec is not valid JSON: {exc}") from None


def _check_hgq_run(spec: RunSpec) -> None:
    """A run of the ``hgq`` engine has an ``hgq`` section, and every other run has none. HGQ learns every bit width and
    prunes by itself, so its run keeps ``model.bits`` at 32 and ``input_bits`` unset, has no batch normalisation and no
    L1 (its resource penalty replaces both) and one phase with nothing pruned."""
    if spec.train.engine != "hgq":
        if spec.hgq is not None:
            raise InvalidSpecError(f"an hgq section needs train.engine 'hgq', got engine {spec.train.engine!r}")
        return
    if spec.hgq is None:
        raise InvalidSpecError("train.engine 'hgq' needs an hgq section, e.g. {\"hgq\": {\"beta\": 3e-6}}")
    model = spec.model
    wrong = {"model.bits": (model.bits, 32), "model.input_bits": (model.input_bits, None),
             "model.batchnorm": (model.batchnorm, False), "model.l1": (model.l1, 0.0),
             "pruning.sparsities": (tuple(spec.pruning.sparsities), (0.0,))}  # fmt: skip
    for name, (value, needed) in wrong.items():
        if value != needed:
            raise InvalidSpecError(f"an HGQ run learns its own bit widths and pruning: {name} must be {needed!r}, got {value!r}")


def code_versions(spec: RunSpec) -> dict[str, int]:
    """The versions of the code that computes ``spec``'s result: its engine, the data pipeline, the evaluation."""
    return {"engine": ENGINE_VERSIONS[spec.train.engine], "data_pipeline": PIPELINE_VERSION, "evaluation": EVALUATION_VERSION}


def run_key(spec: RunSpec) -> str:
    """Content hash of a run: the spec, the data's fingerprint, the code versions and the result format.

    Any change to any field, to the data files, to the version of the engine, data pipeline or
    evaluation (:func:`code_versions`), or to the stored format gives a different key, so a stored result
    made by other code counts as missing and is recomputed.
    """
    payload = {
        "spec": spec.to_dict(),
        "data": source_fingerprint(spec.data.source),
        "test_data": source_fingerprint(spec.data.test_source) if spec.data.test_source else None,
        "code": code_versions(spec),
        "format": RESULT_FORMAT_VERSION,
    }
    return content_key(payload)


@dataclass(frozen=True)
class RunResult:
    """What a run produced: one metrics row per phase, the weights after each phase, curves."""

    spec: RunSpec
    key: str
    phases: list[dict]
    weights: list[list[np.ndarray]]
    curves: list[dict[str, list[float]]]
    meta: dict


@functools.lru_cache(maxsize=4)
def cached_jets(spec: DataSpec) -> JetData:
    """:func:`qaplib.data.load_jets`, memoised per process (a worker runs many specs on the same data)."""
    return load_jets(spec)


def configure_tensorflow(threads: int = 1) -> None:
    """Fix TensorFlow's thread pools (once per process) so results do not depend on the machine."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices: every phase compiles a fresh optimiser on purpose
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in this process: keep what was set first
        pass


#: Phase columns that depend on the weights alone: a record stored before one existed, or made under an older
#: definition of it, is filled in from its stored weights (:func:`fill_in_weight_metrics`), never retrained.
WEIGHT_METRICS = columns.WEIGHT_METRICS
#: The definition of the weight-derived columns, noted in every record's ``meta["weight_metrics_version"]``
#: (absent: 1). 2: the effective counts are taken from the trained quantized weights, which the firmware of the
#: trained network implements (batch normalisation is a stage of its own); 1 took them from the weights folded
#: with batch normalisation and rounded back onto the quantizer's grid, a different network.
WEIGHT_METRICS_VERSION = 2
#: The columns whose definition a version change can move (the paper's count never changes).
VERSIONED_WEIGHT_METRICS = columns.VERSIONED_WEIGHT_METRICS


def weight_metrics(model) -> dict:
    """The :data:`WEIGHT_METRICS` of a model: paper and effective BOPs, and the effective sparsity."""
    from qaplib.layer_chain import implemented_dense_weights

    exported = implemented_dense_weights(model)  # quantizers once for both effective columns
    return {
        "bops": metrics.bops(model),
        "effective_bops": metrics.effective_bops(model, exported),
        "effective_sparsity": metrics.effective_sparsity(model, exported),
    }


def weight_metrics_version(result: RunResult) -> int:
    """The definition the record's weight-derived columns were computed under (:data:`WEIGHT_METRICS_VERSION`)."""
    return int(result.meta.get("weight_metrics_version", 1))


def stale_weight_metrics(result: RunResult) -> list[str]:
    """The :data:`WEIGHT_METRICS` columns of ``result`` that are missing or computed under an older definition (none
    for an HGQ run: its engine writes its own cost columns, :data:`qaplib.columns.HGQ_COSTS`)."""
    if result.spec.train.engine == "hgq":
        return []
    missing = {name for row in result.phases for name in WEIGHT_METRICS if name not in row}
    if weight_metrics_version(result) < WEIGHT_METRICS_VERSION:
        missing |= set(VERSIONED_WEIGHT_METRICS)
    return sorted(missing)


def fill_in_weight_metrics(result: RunResult) -> RunResult:
    """``result`` with every stale column (:func:`stale_weight_metrics`) computed from its stored weights, and
    noted as of the current :data:`WEIGHT_METRICS_VERSION`.

    Columns that are current are kept as stored (the paper count is never recomputed); a result whose columns
    are all current is returned unchanged.
    """
    stale = stale_weight_metrics(result)
    if not stale:
        return result
    from qaplib.models import build_model

    model = build_model(result.spec.model)
    phases = []
    for row, weights in zip(result.phases, result.weights, strict=True):
        model.set_weights(weights)
        computed = weight_metrics(model)
        phases.append({**row, **{name: computed[name] for name in stale}})
    return dataclasses.replace(result, phases=phases, meta={**result.meta, "weight_metrics_version": WEIGHT_METRICS_VERSION})


def evaluate(model, jets: JetData) -> dict:
    """Test-set metrics of one phase (accuracy, AUCs, background efficiencies, efficiency, aIQ) and its
    :data:`WEIGHT_METRICS` (paper and effective BOPs)."""
    scored = score_columns(jets.y_test, model.predict(jets.x_test, batch_size=8192, verbose=0))
    efficiency = metrics.neural_efficiency(model, jets.x_test)
    return {  # accuracy and macro AUC keep their places at the front; the per-class columns follow
        "accuracy": scored["accuracy"],
        "macro_auc": scored["macro_auc"],
        **weight_metrics(model),
        "neural_efficiency": efficiency,
        "aiq": metrics.aiq(scored["macro_auc"], efficiency),
        **scored,
    }


def score_columns(labels: np.ndarray, scores: np.ndarray) -> dict:
    """The score columns of a phase row from (n,) class indices and (n, 5) class probabilities: accuracy, macro AUC,
    then each class's AUC and background efficiency at 50 % signal efficiency."""
    aucs = metrics.auc_per_class(labels, scores)
    background = metrics.background_efficiency_at(labels, scores, 0.5)
    row = {"accuracy": metrics.accuracy(labels, scores), "macro_auc": float(aucs.mean())}
    row.update({f"auc_{c}": float(a) for c, a in zip(CLASS_NAMES, aucs, strict=True)})
    row.update({f"bkg_eff_{c}": float(b) for c, b in zip(CLASS_NAMES, background, strict=True)})
    return row


def phase_row(spec: RunSpec, phase: int, model, jets: JetData, epochs: int, history: dict, started: float) -> dict:
    """The metrics row of ``phase`` as every engine records it: target and measured sparsity, :func:`evaluate` of
    ``model`` (holding the phase's trained weights), the epochs trained, the best validation loss of ``history``
    and the seconds since ``started`` (a ``time.perf_counter()`` reading; evaluation included)."""
    import time

    row = {"phase": phase, "target_sparsity": spec.pruning.sparsities[phase], "sparsity": measured_sparsity(model),
           **evaluate(model, jets)}  # fmt: skip
    row.update({"epochs": epochs, "best_val_loss": min(history["val_loss"]), "seconds": time.perf_counter() - started})
    return row


def run_meta(spec: RunSpec, key: str, jets: JetData, producer: str, seconds: float, **extra) -> dict:
    """A result's ``meta``: provenance (``producer`` names the engine's function), the seconds it took, any
    engine-specific ``extra`` entries, the code versions in its key and the weight-metrics definition."""
    from qaplib.provenance import provenance

    meta = provenance(producer, spec.to_dict(), jets.fingerprint, [key])
    meta["seconds"] = seconds
    meta.update(extra)
    meta["code_versions"] = code_versions(spec)
    meta["weight_metrics_version"] = WEIGHT_METRICS_VERSION
    return meta


def phase_start_weights(scheme: str, phase: int, initial: list[np.ndarray], current: list[np.ndarray]) -> list[np.ndarray]:
    """Weights a phase starts from (before masking): FT continues, LT rewinds to the initial weights."""
    return [w.copy() for w in (initial if scheme == "lt" and phase > 0 else current)]
