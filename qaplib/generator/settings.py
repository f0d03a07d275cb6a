"""Settings of the jet generator: process cards, cuts, detector model, tiers and seeds.

Everything that changes a generated jet lives in :class:`GeneratorSettings`; the manifest of a
generated dataset records it whole, so a dataset can always be regenerated from its manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qaplib.errors import InvalidSpecError

#: Class labels in the order of the original one-hot columns j_g, j_q, j_w, j_z, j_t.
CLASS_NAMES: tuple[str, ...] = ("g", "q", "w", "z", "t")

#: Version of the shard file layout and generator logic; bump it when a change alters any jet.
SCHEMA_VERSION = 1

_HADRONIC_BOSON = ("onMode = off", "onIfAny = 1 2 3 4 5")

#: Pythia 8 process card per class. W/Z/t decay hadronically; q and g come from 2->2 QCD.
PROCESS_CARDS: dict[str, tuple[str, ...]] = {
    "g": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
    "q": ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on"),
    "w": ("WeakDoubleBoson:ffbar2WW = on", *(f"24:{s}" for s in _HADRONIC_BOSON)),
    "z": (
        "WeakDoubleBoson:ffbar2gmZgmZ = on",
        "WeakZ0:gmZmode = 2",
        *(f"23:{s}" for s in _HADRONIC_BOSON),
    ),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *(f"24:{s}" for s in _HADRONIC_BOSON)),
}

#: |PDG id| of the hard-process object a jet of each class is matched to.
TRUTH_PDG_IDS: dict[str, frozenset[int]] = {
    "g": frozenset({21}),
    "q": frozenset({1, 2, 3, 4}),  # light flavours only: a b-quark jet is not a "light quark" jet
    "w": frozenset({24}),
    "z": frozenset({23}),
    "t": frozenset({6}),
}

DETECTOR_MODELS = ("r1_h022_e0175_t220_nonu", "none")
TRUTH_MATCHING = ("contain", "sample")
#: W and Z production per ``boson_source``: boson pairs (the original samples) or a boson and a parton.
BOSON_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "pair": {"w": ("WeakDoubleBoson:ffbar2WW = on",), "z": ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2")},
    "boson_jet": {"w": ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on"),
                  "z": ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "WeakZ0:gmZmode = 2")},
}
NAN_POLICIES = ("drop",)


@dataclass(frozen=True)
class GeneratorSettings:
    """Physics and sharding settings of one generated dataset.

    Energies and momenta are in GeV. ``pthat_*`` bounds the hard-process transverse momentum: a
    window of +-1 % around 1 TeV, as the original samples generated their partons and undecayed
    W/Z/t. ``jet_pt_*`` is the window a reconstructed jet must fall in. ``multiparton_interactions``
    switches Pythia's underlying event; off by default because that brings the constituent
    multiplicity closest to the real dataset (see the dataset chapter of the book).
    ``pythia_extra`` are further Pythia settings for every class (a tune, colour reconnection).
    ``min_track_pt_gev`` and ``min_cell_energy_gev`` are the detector's readout thresholds.
    ``boson_source`` makes W and Z jets from boson pairs (``"pair"``: qqbar -> WW, ZZ, as the
    original MadGraph samples) or from a boson recoiling against a parton (``"boson_jet"``).
    ``truth_matching``: ``"contain"`` keeps a jet only if it holds its hard object (and, for W, Z and t,
    every decay quark) within the jet radius; ``"sample"`` labels every selected jet by the process
    that made the event, as a sample-based dataset does.
    """

    sqrt_s_gev: float = 13000.0
    pthat_min_gev: float = 990.0
    pthat_max_gev: float = 1010.0
    multiparton_interactions: bool = False
    jet_radius: float = 0.8
    jet_pt_min_gev: float = 900.0
    jet_pt_max_gev: float = 1100.0
    jets_per_event: int = 2
    detector: str = "r1_h022_e0175_t220_nonu"
    nan_policy: str = "drop"
    jets_per_shard: int = 5000
    shards_per_class: int = 4
    seed_base: int = 1
    pythia_extra: tuple[str, ...] = ()
    min_track_pt_gev: float = 0.5
    min_cell_energy_gev: float = 0.5
    boson_source: str = "pair"
    truth_matching: str = "contain"

    def __post_init__(self) -> None:
        if isinstance(self.pythia_extra, list):
            object.__setattr__(self, "pythia_extra", tuple(self.pythia_extra))
        if not all(isinstance(line, str) and "=" in line for line in self.pythia_extra):
            raise InvalidSpecError(f"pythia_extra must be Pythia settings 'Key = value', got {self.pythia_extra!r}")
        if any(line.split("=")[0].strip().lower().startswith("random:") for line in self.pythia_extra):
            raise InvalidSpecError("pythia_extra must not set Random:*; seeds follow the seed rule")
        for name in ("min_track_pt_gev", "min_cell_energy_gev"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1000:
                raise InvalidSpecError(f"{name} must be a number of GeV in [0, 1000), got {value!r}")
        if self.truth_matching not in TRUTH_MATCHING:
            raise InvalidSpecError(f"truth_matching must be one of {TRUTH_MATCHING}, got {self.truth_matching!r}")
        if self.boson_source not in BOSON_SOURCES:
            raise InvalidSpecError(f"boson_source must be one of {tuple(BOSON_SOURCES)}, got {self.boson_source!r}")
        if self.detector not in DETECTOR_MODELS:
            raise InvalidSpecError(f"detector must be one of {DETECTOR_MODELS}, got {self.detector!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise InvalidSpecError(f"nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}")
        if not 0 < self.pthat_min_gev < self.pthat_max_gev:
            raise InvalidSpecError("need 0 < pthat_min_gev < pthat_max_gev")
        if not 0 < self.jet_pt_min_gev < self.jet_pt_max_gev:
            raise InvalidSpecError("need 0 < jet_pt_min_gev < jet_pt_max_gev")
        if not 0 < self.jet_radius < 2:
            raise InvalidSpecError(f"jet_radius must lie in (0, 2), got {self.jet_radius}")
        for name in ("jets_per_event", "jets_per_shard", "shards_per_class"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InvalidSpecError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.seed_base, int) or not 0 <= self.seed_base < 9000:
            raise InvalidSpecError(f"seed_base must be an integer in [0, 9000), got {self.seed_base!r}")

    @property
    def jets_per_class(self) -> int:
        return self.jets_per_shard * self.shards_per_class

    def pythia_seed(self, class_name: str, shard: int) -> int:
        """Pythia ``Random:seed`` of one shard: unique per (seed_base, class, shard), < 9e8."""
        return self.seed_base * 100_000 + CLASS_NAMES.index(class_name) * 10_000 + shard + 1

    def pythia_card(self, class_name: str, seed: int) -> tuple[str, ...]:
        """The full list of Pythia settings strings for one shard."""
        return (
            f"Beams:eCM = {self.sqrt_s_gev}",
            f"PhaseSpace:pTHatMin = {self.pthat_min_gev}",
            f"PhaseSpace:pTHatMax = {self.pthat_max_gev}",
            f"PartonLevel:MPI = {'on' if self.multiparton_interactions else 'off'}",
            "Random:setSeed = on",
            f"Random:seed = {seed}",
            "Print:quiet = on",
            *self.pythia_extra,
            *self.process_card(class_name),
        )

    def process_card(self, class_name: str) -> tuple[str, ...]:
        """The hard-process lines of one class (:data:`PROCESS_CARDS`, W and Z per ``boson_source``)."""
        if class_name in BOSON_SOURCES[self.boson_source]:
            decay = "24" if class_name == "w" else "23"
            return (*BOSON_SOURCES[self.boson_source][class_name], *(f"{decay}:{s}" for s in _HADRONIC_BOSON))
        return PROCESS_CARDS[class_name]

    def to_dict(self) -> dict:
        """Plain JSON data (lists for tuples), as the manifest records it."""
        return {**dataclasses.asdict(self), "pythia_extra": list(self.pythia_extra)}


#: Named dataset sizes. ``default`` is committed under data/; ``full`` matches the 830k real set.
TIERS: dict[str, GeneratorSettings] = {
    "smoke": GeneratorSettings(jets_per_shard=40, shards_per_class=1, seed_base=9),
    "default": GeneratorSettings(jets_per_shard=5000, shards_per_class=4, seed_base=1),
    "full": GeneratorSettings(jets_per_shard=8300, shards_per_class=20, seed_base=2),
}


def tier_settings(tier: str) -> GeneratorSettings:
    """Settings of a named tier; raises with the list of tiers if the name is unknown."""
    if tier not in TIERS:
        raise InvalidSpecError(f"tier must be one of {tuple(TIERS)}, got {tier!r}")
    return TIERS[tier]
