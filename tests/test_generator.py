"""The jet generator: feature kernel against numpy, detector emulation, determinism, resume."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from qaplib.errors import InvalidSpecError
from qaplib.files import sha256_of
from qaplib.generator import detector
from qaplib.generator.events import TruthObject, delta_r, generate_jets, is_matched
from qaplib.generator.features import FEATURE_NAMES, cluster_and_compute
from qaplib.generator.settings import TIERS, GeneratorSettings, tier_settings
from qaplib.generator.shards import generate_dataset, plan, run_shard, shard_is_done, verify_dataset


def massless(pt, eta, phi):
    """(n, 4) massless four-momenta from pt [GeV], eta, phi."""
    pt, eta, phi = map(np.asarray, (pt, eta, phi))
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=1)


def reference_features(pt, eta, phi):
    """Independent numpy computation of a few features for a jet that mMDT leaves untouched."""
    p4 = massless(pt, eta, phi)
    total = p4.sum(axis=0)
    mass = np.sqrt(total[3] ** 2 - np.sum(total[:3] ** 2))
    z = p4[:, 3] / total[3]
    pairs = {(i, j): np.hypot(eta[i] - eta[j], phi[i] - phi[j]) for i, j in itertools.combinations(range(len(pt)), 2)}

    def ecf(n, beta):
        total_value = 0.0
        for combo in itertools.combinations(range(len(pt)), n):
            angle = np.prod([pairs[p] for p in itertools.combinations(combo, 2)]) if n > 1 else 1.0
            total_value += np.prod([pt[i] for i in combo]) * angle**beta
        return total_value

    e1, e2b1, e3b1, e2b2, e3b2 = ecf(1, 1), ecf(2, 1), ecf(3, 1), ecf(2, 2), ecf(3, 2)
    return {
        "mass_mmdt": mass,
        "multiplicity": len(pt),
        "zlogz": float(np.sum(z * np.log(z))),
        "c1_b1_mmdt": e2b1 / e1**2,
        "c2_b1_mmdt": e3b1 * e1 / e2b1**2,
        "d2_b2_mmdt": e3b2 * e1**3 / e2b2**3,
    }


@pytest.mark.parametrize(
    "pt, eta, phi",
    [
        ([400.0, 350.0, 250.0], [0.0, 0.2, -0.1], [0.0, 0.1, 0.25]),
        ([500.0, 300.0, 200.0, 150.0], [0.1, -0.15, 0.2, 0.05], [0.0, 0.12, -0.2, 0.3]),
    ],
)
def test_features_match_independent_numpy_computation(pt, eta, phi):
    pt, eta, phi = map(np.array, (pt, eta, phi))
    jets = cluster_and_compute(massless(pt, eta, phi), radius=0.8, pt_min_gev=1.0, max_jets=1)
    assert jets.shape == (1, 20)
    computed = dict(zip(FEATURE_NAMES, jets[0][:16], strict=True))
    for name, expected in reference_features(pt, eta, phi).items():
        assert computed[name] == pytest.approx(expected, rel=1e-9), name


def test_d2_generalised_alpha1_equals_d2_in_float32():
    pt, eta, phi = np.array([400.0, 350.0, 250.0]), np.array([0.0, 0.2, -0.1]), np.array([0.0, 0.1, 0.25])
    features = dict(zip(FEATURE_NAMES, cluster_and_compute(massless(pt, eta, phi), 0.8, 1.0, 1)[0], strict=False))
    assert np.float32(features["d2_a1_b1_mmdt"]) == np.float32(features["d2_b1_mmdt"])


def test_two_separated_jets_are_found_hardest_first():
    p4 = massless([300.0, 600.0], [0.0, 0.0], [0.0, np.pi])
    jets = cluster_and_compute(p4, 0.8, 100.0, 2)
    assert jets[:, 16].tolist() == pytest.approx([600.0, 300.0])
    assert jets[:, 15].tolist() == [1.0, 1.0]


def test_detector_drops_neutrinos_and_merges_neutral_cells():
    rng = np.random.default_rng(0)
    p4 = massless([50.0, 50.0, 40.0, 30.0, 300.0], [0.0, 0.0, 0.001, 0.5, -0.5], [0.0, 0.0, 0.001, 0.5, 1.0])
    pdg = np.array([22, 22, 130, 12, 211])
    charged = np.array([False, False, False, False, True])
    out = detector.emulate_detector(p4, pdg, charged, rng)
    # the two photons share an ECAL cell -> 1 particle; K_L -> 1 HCAL cell; neutrino gone;
    # the 300 GeV pion exceeds the 220 GeV tracking limit -> 1 HCAL cell.
    assert len(out) == 3
    masses_squared = out[:, 3] ** 2 - np.sum(out[:, :3] ** 2, axis=1)
    assert np.allclose(masses_squared, 0, atol=1e-6 * out[:, 3] ** 2)


def test_detector_cells_conserve_energy_before_smearing():
    p4 = massless([10.0, 20.0, 5.0], [0.001, 0.002, 0.003], [0.001, 0.002, 0.004])
    merged = detector._merge_into_cells(p4, detector.ECAL_CELL)
    assert len(merged) == 1
    assert merged[0, 3] == pytest.approx(p4[:, 3].sum())


def test_detector_is_deterministic_in_its_random_stream():
    p4 = massless([50.0, 80.0, 10.0], [0.0, 0.3, -0.2], [0.0, 0.1, 0.2])
    pdg, charged = np.array([211, 22, 2112]), np.array([True, False, False])
    first = detector.emulate_detector(p4, pdg, charged, np.random.default_rng(5))
    again = detector.emulate_detector(p4, pdg, charged, np.random.default_rng(5))
    other = detector.emulate_detector(p4, pdg, charged, np.random.default_rng(6))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_containment_requires_every_decay_quark_inside_the_jet():
    inside = TruthObject(0.0, 0.0, ((0.1, 0.1), (-0.2, 0.0)))
    outside = TruthObject(0.0, 0.0, ((0.1, 0.1), (0.9, 0.0)))
    assert is_matched(0.0, 0.0, [inside], 0.8)
    assert not is_matched(0.0, 0.0, [outside], 0.8)
    assert float(delta_r(0.0, np.pi - 0.1, 0.0, -np.pi + 0.1)) == pytest.approx(0.2)


@pytest.mark.slow
def test_same_seed_gives_identical_jets_and_other_seed_differs():
    settings = TIERS["smoke"]
    first = generate_jets(settings, "w", seed=11, n_jets=15)
    again = generate_jets(settings, "w", seed=11, n_jets=15)
    other = generate_jets(settings, "w", seed=12, n_jets=15)
    assert np.array_equal(first.values, again.values)
    assert first.values.shape == (15, 20)
    assert not np.array_equal(first.values, other.values)


def test_jets_pass_the_selection(smoke_dataset):
    import pandas as pd

    frame = pd.concat(pd.read_parquet(p) for p in sorted(smoke_dataset.glob("*.parquet")))
    settings = TIERS["smoke"]
    assert frame["jet_pt"].between(settings.jet_pt_min_gev, settings.jet_pt_max_gev).all()
    assert np.isfinite(frame[list(FEATURE_NAMES)].to_numpy()).all()
    assert (frame.groupby("label").size() == settings.jets_per_shard).all()


def test_manifest_records_hashes_settings_and_versions(smoke_dataset):
    manifest = json.loads((smoke_dataset / "manifest.json").read_text())
    assert manifest["settings"] == TIERS["smoke"].to_dict()
    assert set(manifest["packages"]) == {"pythia8mc", "fastjet", "numpy", "pyarrow"}
    assert len(manifest["shards"]) == 5
    for name, card in manifest["pythia_cards"].items():  # the whole card, down to its last process line
        seed = TIERS["smoke"].pythia_seed(name, 0)
        assert [line.replace("<seed_rule>", str(seed)) for line in card] == list(TIERS["smoke"].pythia_card(name, seed))
    assert manifest["pythia_cards"]["w"][-1] == "24:onIfAny = 1 2 3 4 5"
    for shard in manifest["shards"]:
        assert sha256_of(smoke_dataset / shard["file"]) == shard["sha256"]
        assert shard["n_jets"] == 40 and shard["pythia_seed"] > 0
    assert verify_dataset(smoke_dataset) == []


def test_regeneration_is_byte_identical(smoke_dataset, tmp_path):
    settings = TIERS["smoke"]
    task = plan(settings)[2]
    run_shard(tmp_path, task, settings)
    assert sha256_of(tmp_path / task.file_name) == sha256_of(smoke_dataset / task.file_name)


@pytest.mark.slow
def test_resume_redoes_only_missing_or_corrupt_shards(smoke_dataset, tmp_path):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    settings = TIERS["smoke"]
    tasks = plan(settings)
    (directory / tasks[0].file_name).unlink()  # lost
    (directory / tasks[1].file_name).write_bytes(b"truncated")  # corrupt
    untouched = {t.file_name: (directory / t.file_name).stat().st_mtime_ns for t in tasks[2:]}
    assert not shard_is_done(directory, tasks[0], settings)
    assert not shard_is_done(directory, tasks[1], settings)
    generate_dataset(directory, settings, "smoke", jobs=1)
    assert verify_dataset(directory) == []
    assert {t.file_name: (directory / t.file_name).stat().st_mtime_ns for t in tasks[2:]} == untouched
    assert (directory / "manifest.json").read_bytes() == (smoke_dataset / "manifest.json").read_bytes()


def test_verify_reports_a_modified_shard(smoke_dataset, tmp_path):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    (directory / "t-000.parquet").write_bytes(b"tampered")
    problems = verify_dataset(directory)
    assert len(problems) == 1 and "t-000.parquet" in problems[0]


@pytest.mark.parametrize(
    "change",
    [
        {"detector": "cms"},
        {"nan_policy": "zero"},
        {"pthat_min_gev": 1200.0},
        {"jet_pt_min_gev": -1.0},
        {"jets_per_shard": 0},
        {"shards_per_class": 1.5},
        {"seed_base": -1},
        {"jet_radius": 0.0},
    ],
)
def test_invalid_generator_settings_are_rejected(change):
    with pytest.raises(InvalidSpecError):
        dataclasses.replace(GeneratorSettings(), **change)


def test_unknown_tier_lists_the_known_ones():
    with pytest.raises(InvalidSpecError, match="smoke"):
        tier_settings("huge")


# ---------------------------------------------------------------- the same bytes on every CPU

TRANSCENDENTAL = ("arcsinh", "arctan2", "sin", "cos", "sinh", "cosh", "tan", "exp", "log", "hypot", "arccos", "arcsin")


def nudged_numpy(rng):
    """A stand-in for the numpy module whose transcendental functions are off by one ulp on half the elements:
    what another CPU's SIMD code path (SVML on AVX-512, the C library elsewhere) may return."""
    import types

    def nudge(function):
        def nudged(*args, **kwargs):
            result = np.asarray(function(*args, **kwargs))
            return np.where(rng.random(result.shape) < 0.5, np.nextafter(result, np.inf), result)

        return nudged

    proxy = types.SimpleNamespace(**{name: getattr(np, name) for name in dir(np) if not name.startswith("__")})
    for name in TRANSCENDENTAL:
        setattr(proxy, name, nudge(getattr(np, name)))
    return proxy


def busy_event(seed: int, n: int = 3000):
    """A jet-like event: tracks, photons and neutral hadrons around one axis, some far forward."""
    rng = np.random.default_rng(seed)
    eta = np.concatenate([rng.normal(0.3, 0.3, n - 50), rng.uniform(-9, 9, 50)])
    p4 = massless(rng.exponential(15, n), eta, rng.normal(1.0, 0.3, n))
    pdg = rng.choice([211, -211, 22, 130, 2112, 12], n)
    return p4, pdg, np.isin(pdg, (211, -211))


def test_detector_output_does_not_depend_on_the_last_bit_of_any_transcendental_function(monkeypatch):
    """The cause of datasets that differed between CPUs: a one-ulp change of a cell position flips mMDT grooming.
    The emulation must not use any function whose last bit may differ, so its output is bit-identical."""
    events = [busy_event(seed) for seed in range(3)]
    expected = [detector.emulate_detector(*event, np.random.default_rng(1)) for event in events]
    monkeypatch.setattr(detector, "np", nudged_numpy(np.random.default_rng(2)))
    for event, reference in zip(events, expected, strict=True):
        assert np.array_equal(detector.emulate_detector(*event, np.random.default_rng(1)), reference)


def test_jet_matching_does_not_depend_on_the_last_bit_of_any_transcendental_function(monkeypatch):
    import qaplib.generator.events as events

    eta, phi = np.random.default_rng(4).normal(0, 1, (2, 1000))
    expected = delta_r(0.1, 3.0, eta, phi)
    monkeypatch.setattr(events, "np", nudged_numpy(np.random.default_rng(5)))
    assert np.array_equal(delta_r(0.1, 3.0, eta, phi), expected)


def test_cells_from_the_boundary_tables_are_the_floor_of_eta_and_phi_over_the_cell_size():
    p4, _, _ = busy_event(7, 20000)
    for cell in (detector.ECAL_CELL, detector.HCAL_CELL):
        tables = detector.cell_tables(cell)
        eta_row, phi_row = detector.cell_indices(p4, tables)
        eta = np.arcsinh(p4[:, 2] / np.hypot(p4[:, 0], p4[:, 1]))
        phi = np.arctan2(p4[:, 1], p4[:, 0])
        assert np.array_equal(eta_row - tables.n_eta, np.floor(eta / cell))
        assert np.array_equal(phi_row + tables.j_min, np.floor(phi / cell))
    edges = np.array([[-1.0, 0.0, 0.0, 1.0], [-1.0, -0.0, 0.0, 1.0], [0.0, 0.0, 5.0, 5.0], [0.0, -1.0, 0.0, 1.0]])
    _, phi_row = detector.cell_indices(edges, tables)
    assert list(phi_row + tables.j_min) == [int(np.floor(np.pi / cell)), int(np.floor(-np.pi / cell)), 0,
                                             int(np.floor(-np.pi / 2 / cell))]  # fmt: skip


@pytest.mark.slow
def test_a_tier_generated_with_numpy_simd_dispatch_limited_is_byte_identical(smoke_dataset, tmp_path):
    """NPY_DISABLE_CPU_FEATURES turns off every SIMD extension numpy dispatches to on this CPU (AVX2, AVX-512, ...):
    the generator's workers must write the same bytes, as another CPU would."""
    import os
    import subprocess
    import sys

    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    disabled = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    if not disabled:
        pytest.fail("this CPU offers numpy no SIMD extension beyond its baseline: nothing to disable")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(disabled)}
    script = ("import sys; from pathlib import Path; from numpy.core._multiarray_umath import __cpu_features__; "
              f"assert not any(__cpu_features__[name] for name in {disabled!r}), 'numpy ignored the limit'; "
              "from qaplib.generator.settings import TIERS; from qaplib.generator.shards import generate_dataset; "
              "generate_dataset(Path(sys.argv[1]), TIERS['smoke'], 'smoke', jobs=2)")  # fmt: skip
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=True, capture_output=True)
    limited = json.loads((tmp_path / "manifest.json").read_text())["shards"]
    reference = json.loads((smoke_dataset / "manifest.json").read_text())["shards"]
    assert [s["sha256"] for s in limited] == [s["sha256"] for s in reference]


def test_readout_thresholds_drop_soft_tracks_and_cells_without_changing_the_random_stream():
    p4, pdg, charged = busy_event(11, 400)
    everything = detector.emulate_detector(p4, pdg, charged, np.random.default_rng(3))
    read_out = detector.emulate_detector(p4, pdg, charged, np.random.default_rng(3), min_track_pt_gev=1.0,
                                         min_cell_energy_gev=2.0)  # fmt: skip
    n_tracks = int(np.sum(np.isin(pdg, (211, -211)) & (np.hypot(p4[:, 0], p4[:, 1]) <= detector.TRACK_PT_LIMIT_GEV)))
    tracks, cells = everything[:n_tracks], everything[n_tracks:]
    track_pt = np.hypot(tracks[:, 0], tracks[:, 1])
    kept_tracks = tracks[(track_pt >= 1.0) & (tracks[:, 3] > 0)]
    kept_cells = cells[cells[:, 3] >= 2.0]
    assert 0 < len(kept_tracks) < n_tracks and 0 < len(kept_cells) < len(cells)
    assert np.array_equal(read_out, np.concatenate([kept_tracks, kept_cells]))  # the same particles, the same smearing


def test_the_cpus_outside_byte_identity_are_named():
    from qaplib.generator.platform import cpu_outside_byte_identity

    v3 = "processor : 0\nflags : fpu sse2 avx avx2 fma bmi2\n"
    assert cpu_outside_byte_identity(v3, "x86_64") is None
    avx512 = "processor : 0\nflags : fpu sse2 avx avx2 fma bmi2 avx512f avx512bw avx512vl\n"
    assert cpu_outside_byte_identity(avx512, "x86_64") is None  # AVX-512 on top of v3: the same libm code
    # only the first flags line is read (every core has the same); a later core's line cannot rescue a CPU without FMA
    assert cpu_outside_byte_identity("flags : sse2 avx avx2\nprocessor : 1\nflags : avx2 fma\n", "x86_64") == (
        "this CPU lacks FMA")
    assert cpu_outside_byte_identity("flags : fpu sse2 avx\n", "x86_64") == "this CPU lacks AVX2 and FMA"
    assert cpu_outside_byte_identity("flags : sse2 avx avx2\n", "x86_64") == "this CPU lacks FMA"
    assert cpu_outside_byte_identity(v3, "aarch64") == "this machine is aarch64, not x86-64"
    assert cpu_outside_byte_identity("no flags here", "x86_64") is None


@pytest.mark.parametrize("tier", ["default", "full"])
def test_the_committed_tiers_were_made_by_this_generator_code(tier):
    """A change to the generator's sources (even a comment) must come with `make data` / `make data-full` and new
    manifests (the full tier's manifest is committed without its shards: it identifies the paper-scale data)."""
    from qaplib.data import data_dir
    from qaplib.generator.shards import generator_code_hash

    manifest = json.loads((data_dir() / f"jets-{tier}" / "manifest.json").read_text())
    n_jets = sum(s["n_jets"] for s in manifest["shards"])
    assert manifest["tier"] == tier and n_jets == {"default": 100_000, "full": 830_000}[tier]
    assert manifest["generator_code_sha256"] == generator_code_hash(), "the generator changed: regenerate, commit data/"
