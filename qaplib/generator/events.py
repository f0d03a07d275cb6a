"""Pythia 8 events -> truth-matched, detector-level jets with their 16 features.

One call of :func:`generate_jets` produces exactly ``n_jets`` jets of one class from one Pythia
seed. A jet is kept when it is one of the ``jets_per_event`` hardest anti-kT jets, lies in the
jet-pT window, and is matched to a hard-process object of its class:

* q, g: the outgoing parton (|id| in the class's set) lies within Delta R < R of the jet axis;
* W, Z, t: the boson or top lies within Delta R < R *and* every quark of its decay (two for W/Z;
  b, q, q' for t) lies within Delta R < R of the jet axis (containment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from qaplib.errors import GeneratorError
from qaplib.generator.detector import NEUTRINO_IDS, emulate_detector
from qaplib.generator.features import FEATURE_NAMES, cluster_and_compute
from qaplib.generator.settings import TRUTH_PDG_IDS, GeneratorSettings

QUARK_IDS = frozenset({1, 2, 3, 4, 5})
#: Give up on a shard after this many events per requested jet (a broken card, not bad luck).
MAX_EVENTS_PER_JET = 50


@dataclass(frozen=True)
class TruthObject:
    """A hard-process object (parton, boson or top) and the quarks it decays to (eta, phi)."""

    eta: float
    phi: float
    decay_quarks: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ShardJets:
    """Jets of one shard: ``values`` (n, 20) float64 = 16 features + 4 kinematics."""

    values: np.ndarray
    n_events: int
    n_jets_dropped_nan: int


def delta_r(eta1: float, phi1: float, eta2: np.ndarray | float, phi2: np.ndarray | float) -> np.ndarray:
    """Angular distance sqrt(d_eta^2 + d_phi^2) with d_phi wrapped into [0, pi]."""
    dphi = np.abs(np.mod(np.asarray(phi1) - phi2 + np.pi, 2 * np.pi) - np.pi)
    deta = np.asarray(eta1) - eta2
    return np.sqrt(deta * deta + dphi * dphi)  # not np.hypot: the C library's may differ between machines


def make_pythia(settings: GeneratorSettings, class_name: str, seed: int):
    """An initialised ``pythia8mc.Pythia`` for one class and seed."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings.pythia_card(class_name, seed):
        if not pythia.readString(line):
            raise GeneratorError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise GeneratorError(f"Pythia failed to initialise for class {class_name!r}")
    return pythia


def _decay_quarks(process, index: int) -> list[tuple[float, float]]:
    """(eta, phi) of the quarks a resonance decays to, following W from top decays."""
    quarks = []
    for daughter in process[index].daughterList():
        particle = process[daughter]
        if particle.idAbs() in QUARK_IDS:
            quarks.append((particle.eta(), particle.phi()))
        elif particle.idAbs() == 24:
            quarks.extend(_decay_quarks(process, daughter))
    return quarks


def truth_objects(process, class_name: str) -> list[TruthObject]:
    """Hard-process outgoing objects (entries 5 and 6 of a 2->2 process record) of the class."""
    wanted = TRUTH_PDG_IDS[class_name]
    objects = []
    for index in (5, 6):
        particle = process[index]
        if particle.idAbs() in wanted:
            quarks = _decay_quarks(process, index) if class_name in ("w", "z", "t") else []
            objects.append(TruthObject(particle.eta(), particle.phi(), tuple(quarks)))
    return objects


def is_matched(jet_eta: float, jet_phi: float, objects: list[TruthObject], radius: float) -> bool:
    """True if some truth object and all of its decay quarks lie within ``radius`` of the jet."""
    for obj in objects:
        if delta_r(jet_eta, jet_phi, obj.eta, obj.phi) >= radius:
            continue
        if all(delta_r(jet_eta, jet_phi, eta, phi) < radius for eta, phi in obj.decay_quarks):
            return True
    return False


def final_state(event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final-state particles of a Pythia event: (n, 4) p4 [GeV], (n,) PDG ids, (n,) charged flags."""
    rows = [(p.px(), p.py(), p.pz(), p.e(), p.id(), p.isCharged()) for p in event if p.isFinal()]
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return table[:, :4], table[:, 4].astype(np.int64), table[:, 5].astype(bool)


def _events(pythia) -> Iterator[None]:
    while True:
        if pythia.next():
            yield None


def generate_jets(
    settings: GeneratorSettings,
    class_name: str,
    seed: int,
    n_jets: int,
    progress: Callable[[int], None] | None = None,
) -> ShardJets:
    """Generate exactly ``n_jets`` selected jets of ``class_name`` from Pythia seed ``seed``.

    Jets whose features are not finite (mMDT grooms to a single particle, making the ratio
    observables 0/0) are dropped and counted (``nan_policy="drop"``).
    """
    pythia = make_pythia(settings, class_name, seed)
    rng = np.random.default_rng([seed, 1])
    kept: list[np.ndarray] = []
    n_events = n_dropped = 0
    n_features = len(FEATURE_NAMES)
    for _ in _events(pythia):
        n_events += 1
        if n_events > MAX_EVENTS_PER_JET * n_jets:
            raise GeneratorError(f"class {class_name!r}: {n_events} events gave only {len(kept)} jets")
        p4, pdg_id, charged = final_state(pythia.event)
        if settings.detector != "none":
            p4 = emulate_detector(p4, pdg_id, charged, rng, settings.min_track_pt_gev, settings.min_cell_energy_gev)
        else:
            p4 = p4[~np.isin(np.abs(pdg_id), NEUTRINO_IDS)]
        jets = cluster_and_compute(p4, settings.jet_radius, settings.jet_pt_min_gev, settings.jets_per_event)
        objects = truth_objects(pythia.process, class_name)
        before = len(kept)
        for jet in jets:
            pt, eta, phi = jet[n_features : n_features + 3]
            if pt > settings.jet_pt_max_gev:
                continue
            if settings.truth_matching == "contain" and not is_matched(eta, phi, objects, settings.jet_radius):
                continue
            if not np.all(np.isfinite(jet)):
                n_dropped += 1
                continue
            kept.append(jet)
            if len(kept) == n_jets:
                break
        if progress is not None and len(kept) > before:
            progress(len(kept) - before)
        if len(kept) == n_jets:
            break
    return ShardJets(values=np.array(kept), n_events=n_events, n_jets_dropped_nan=n_dropped)
