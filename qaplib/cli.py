"""The ``qap`` command line. Bad input exits with status 2 and a one-line message, before any work."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from qaplib.errors import InvalidSpecError, QapError
from qaplib.inputs import check_count


def _cmd_data_generate(args: argparse.Namespace) -> int:
    from qaplib.data import NAMED_SOURCES, data_dir
    from qaplib.files import writable_directory
    from qaplib.generator.settings import tier_settings
    from qaplib.generator.shards import MANIFEST, generate_dataset, manifest_shards

    settings = tier_settings(args.tier)
    if args.jobs is not None:
        check_count("--jobs", args.jobs)
    out = Path(args.out) if args.out else data_dir() / NAMED_SOURCES.get(args.tier, f"jets-{args.tier}")
    writable_directory(out, "dataset directory")
    previous = {}
    if (out / MANIFEST).exists():
        try:
            previous = {s["file"]: s["sha256"] for s in manifest_shards(out)}
        except ValueError as exc:
            raise InvalidSpecError(f"{exc}; move or delete it to generate the dataset afresh there, or give another "
                                   "--out") from None  # fmt: skip
    start = time.perf_counter()
    manifest = generate_dataset(out, settings, args.tier, jobs=args.jobs, fresh=args.fresh)
    seconds = time.perf_counter() - start
    n_jets = sum(s["n_jets"] for s in manifest["shards"])
    print(f"{out}: {n_jets} jets in {len(manifest['shards'])} shards ({seconds:.0f} s)")
    if previous:
        same = sum(previous.get(s["file"]) == s["sha256"] for s in manifest["shards"])
        print(f"{same}/{len(manifest['shards'])} shards byte-identical to the previous manifest")
        if same != len(manifest["shards"]):
            from qaplib.generator.platform import BYTE_IDENTICAL_ON, cpu_outside_byte_identity

            reason = cpu_outside_byte_identity()
            if reason:
                print(f"The committed shards are byte-identical on {BYTE_IDENTICAL_ON}; {reason}, so glibc's libm "
                      "(used by Pythia and fastjet) takes other code paths: expect statistically equivalent, not "
                      "identical, jets. See qaplib/generator/platform.py.")  # fmt: skip
            return 1
    return 0


def _cmd_data_study(args: argparse.Namespace) -> int:
    from qaplib.fidelity_study import VARIANTS, markdown_table, run_study
    from qaplib.files import writable_directory

    variants = tuple(args.variants or VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise InvalidSpecError(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    if args.jobs is not None:
        check_count("--jobs", args.jobs)
    if args.jets_per_class < 200 or args.jets_per_class % 2:
        raise InvalidSpecError(f"--jets-per-class must be an even number >= 200, got {args.jets_per_class}")
    results = run_study(writable_directory(args.out, "study folder"), variants, args.jets_per_class, args.jobs)
    if "base" in results:
        print(markdown_table(results))
    return 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    from qaplib.data import data_dir, dataset_problems, dataset_shards, package_differences

    directory = Path(args.directory) if args.directory else data_dir() / "jets-default"
    if not directory.is_dir():
        raise InvalidSpecError(f"{directory} is not a dataset folder (one with a manifest.json and its shards); give the "
                               "folder `qap data generate` wrote, e.g. data/jets-default")  # fmt: skip
    try:
        dataset_shards(directory)
    except ValueError as exc:  # not a dataset at all: bad input, not a failed verification
        raise QapError(f"{exc}; regenerate it with `qap data generate`") from None
    problems = dataset_problems(directory)
    for problem in problems:
        print(problem)
    for difference in package_differences(directory):
        print(f"note: {difference} (the data is valid; a regeneration here would not be byte-identical)")
    print(f"{directory}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 1


def _cmd_figures(args: argparse.Namespace) -> int:
    import os

    from papermill import PapermillExecutionError

    from qaplib.book import BOOK_DIR, SCRATCH_BOOK_DIR, execute_all, published_dir, write_toc
    from qaplib.files import writable_directory
    from qaplib.store import COMMITTED_ROOT

    if args.publish and args.out:
        raise QapError("--publish writes the book's chapters; give either --publish or --out")
    if args.publish:  # new results join the committed store, unless QAP_RESULTS_DIR names another one
        os.environ.setdefault("QAP_RESULTS_DIR", str(COMMITTED_ROOT))
    out = published_dir(args.profile) if args.publish else Path(args.out) if args.out else SCRATCH_BOOK_DIR
    writable_directory(out, "output folder")
    try:
        executed = execute_all(args.profile, args.params, args.only, out, source=args.source, test_source=args.test_source,
                               store_only=args.store_only)
    except PapermillExecutionError as exc:
        if exc.ename not in _error_names(QapError):  # a fault in a notebook or the library, not in the input
            raise
        raise QapError(f"a notebook stopped in its cell {exc.exec_count}: {exc.evalue}") from None
    for path in executed:
        print(f"executed {path}")
    if args.publish:
        from qaplib.glance import write_glance

        print(f"wrote {write_glance(BOOK_DIR)}")
        print(f"wrote {write_toc(BOOK_DIR)}")
    return 0


def _error_names(error: type) -> set[str]:
    """The names of ``error`` and of every class derived from it (how a notebook's kernel reports an exception)."""
    return {error.__name__}.union(*(_error_names(sub) for sub in error.__subclasses__()))


def _store(args: argparse.Namespace, existing: bool = False):
    """The result store ``--store`` names (or the default one). A store only read (``existing``) must exist; for
    one that will be written, a folder is made and removed where it will go, so that a path where none can be
    made (under ``/proc``, say) fails before any work, and bad input leaves no store behind."""
    import tempfile

    from qaplib.files import writable_directory
    from qaplib.store import ResultStore

    if not args.store:
        return ResultStore(None)
    path = writable_directory(args.store, "result store")
    if existing and not path.is_dir():
        raise InvalidSpecError(f"the result store {path} does not exist; check the path (a sweep or run with --store "
                               f"{path} makes it)")  # fmt: skip
    nearest = next(folder for folder in (path, *path.parents) if folder.exists())
    try:
        tempfile.TemporaryDirectory(dir=nearest).cleanup()
    except OSError as exc:
        raise InvalidSpecError(f"cannot create the result store {path}: no folder can be made in {nearest} "
                               f"({exc.strerror or exc}); give a writable directory") from None  # fmt: skip
    return ResultStore(path)


def _cmd_run(args: argparse.Namespace) -> int:
    from qaplib.errors import TrainingDivergedError
    from qaplib.inputs import read_text
    from qaplib.lifecycle import train_runs as train
    from qaplib.runs import RunSpec, run_key
    from qaplib.sweep import check_data

    spec = RunSpec.from_json(read_text(args.spec, "spec file"))
    store = _store(args)
    key = run_key(spec)
    check_data([spec.data])  # unreadable or too small data fails before any training
    if store.is_complete(key):
        print(f"{key}: already in {store.path(key)}, nothing to train")
    else:
        try:
            result = train([spec], [key])[0]
        except TrainingDivergedError as exc:
            store.mark_failed(key, spec, exc.failures[key])
            raise
        store.save(result)
        print(f"{key}: trained and stored in {store.path(key)}")
    for row in store.load(key).phases:
        print(f"  phase {row['phase']:2d}  sparsity {row['sparsity']:.3f}  accuracy {row['accuracy']:.4f}  "
              f"AUC {row['macro_auc']:.4f}  BOPs {row['bops']:>9d}  efficiency {row['neural_efficiency']:.3f}")
    return 0


def _grid_or_profile(args: argparse.Namespace):
    from qaplib.sweep import SweepSpec

    if (args.grid is None) == (args.profile is None):
        raise InvalidSpecError("give either a grid YAML file or --profile NAME (every run of the book)")
    if args.profile is not None:
        from qaplib.manifest import book_runs
        from qaplib.profiles import get_profile

        return book_runs(get_profile(args.profile))
    return SweepSpec.from_yaml(args.grid)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from qaplib.cluster import tls_security
    from qaplib.sweep import run_sweep

    tls = (args.tls_ca_file, args.tls_cert, args.tls_key)
    if any(tls) and not (all(tls) and args.scheduler):
        raise QapError("--tls-ca-file, --tls-cert and --tls-key go together, with --scheduler tls://host:port")
    if args.workers is not None:
        check_count("--workers", args.workers)
    sweep, store = _grid_or_profile(args), _store(args)
    security = tls_security(*tls) if all(tls) else None
    report = run_sweep(sweep, store, executor=args.executor, scheduler=args.scheduler, workers=args.workers,
                       security=security)  # fmt: skip
    print(f"{sweep.name}: {len(report.computed)} trained, {len(report.reused)} reused, {len(report.failed)} failed")
    for key, error in report.failed.items():
        print(f"failed {key}:\n{error}", file=sys.stderr)
    failed = bool(report.failed)
    if args.profile is not None:  # chapter 7's searches are not a grid: each trial depends on the ones before
        from qaplib import bayesopt
        from qaplib.manifest import book_searches
        from qaplib.profiles import get_profile

        profile = get_profile(args.profile)
        trials = bayesopt.run_study(profile, book_searches(profile), store, executor=args.executor, workers=args.workers,
                                    scheduler=args.scheduler, security=security)  # fmt: skip
        retrained = bayesopt.retrain_sweep(profile, trials).runs
        print(f"Bayesian optimisation ({profile.name}): {sum(map(len, trials.values()))} trials at "
              f"{', '.join(map(str, trials))} bits, {len(retrained)} architectures retrained")  # fmt: skip
        from qaplib import bo_front

        front = bo_front.front_sweep(profile, bo_front.selection_for(store, profile, book_searches(profile), trials))
        report = run_sweep(front, store, executor=args.executor, scheduler=args.scheduler, workers=args.workers,
                           security=security)  # fmt: skip
        print(f"{front.name}: {len(report.computed)} trained, {len(report.reused)} reused, {len(report.failed)} failed")
        for key, error in report.failed.items():
            print(f"failed {key}:\n{error}", file=sys.stderr)
        failed |= bool(report.failed)
    return 1 if failed else 0


def _cmd_status(args: argparse.Namespace) -> int:
    from qaplib.checkpoints import finished_phases
    from qaplib.sweep import CHECKPOINT_DIR, sweep_status

    if args.workers is not None:
        check_count("--workers", args.workers)
    sweep = _grid_or_profile(args)
    store = _store(args, existing=True)
    status = sweep_status(sweep, store)
    print(f"{sweep.name}: {len(status.done)} done, {len(status.missing)} missing, {len(status.failed)} failed "
          f"(of {len(sweep.runs)})")
    started = {key: max(finished_phases(root / CHECKPOINT_DIR, key) for root in store.roots) for key in status.missing}
    started = {key: n for key, n in started.items() if n}
    if started:
        print(f"  {len(started)} of the missing runs are under way: {sum(started.values())} phases finished "
              f"(checkpoints; a sweep resumes them)")  # fmt: skip
    for key in status.failed:
        print(f"  failed {key}")
    if args.profile is not None:
        from qaplib import bayesopt, bo_front
        from qaplib.experiments import union
        from qaplib.manifest import book_searches
        from qaplib.profiles import get_profile
        from qaplib.sweep import sweep_keys

        profile = get_profile(args.profile)
        progress = [bayesopt.search_progress(profile, search, store) for search in book_searches(profile)]
        front, front_line = bo_front.front_progress(store, profile, progress)
        finished = all(p.done for p in progress) and front is not None and all(store.is_complete(k) for k in sweep_keys(front))
        print(f"Bayesian optimisation ({profile.name}): {'done' if finished else 'not finished'}")
        print(bayesopt.format_progress(progress))
        print(front_line)
        # the cost of the BO runs so far too
        sweep = union(sweep.name, sweep, bayesopt.proposed_runs(profile, progress), *([front] if front else []))
    if args.cost:
        from qaplib.cost import format_cost, study_cost

        print(format_cost(study_cost(sweep, store), args.workers or os.cpu_count() or 1))
    return 0


def _cmd_results_fill_in(args: argparse.Namespace) -> int:
    from qaplib.runs import WEIGHT_METRICS, WEIGHT_METRICS_VERSION

    store = _store(args, existing=True)
    rewritten = store.fill_in()
    print(f"{store.root}: {len(rewritten)} records given their missing or out-of-date {', '.join(WEIGHT_METRICS)} "
          f"columns (definition {WEIGHT_METRICS_VERSION}, computed from their stored weights; nothing retrained)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from qaplib.profiles import get_profile
    from qaplib.provenance import REPO_ROOT
    from qaplib.store import COMMITTED_ROOT, ResultStore
    from qaplib.verify import verify_sample

    profile = get_profile(args.profile)
    if args.seed < 0:  # verify_sample refuses it too; here it fails before the committed store is read
        raise InvalidSpecError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.workers is not None:
        check_count("--workers", args.workers)
    committed = ResultStore(Path(args.committed) if args.committed else COMMITTED_ROOT)
    if args.deep:
        return _deep_verify(profile, committed)
    scratch = REPO_ROOT / "out" / "verify" / f"{profile.name}-seed{args.seed}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    result = verify_sample(profile, args.sample, args.seed, scratch, committed, workers=args.workers)
    print(f"this machine: {result.here.describe()}")
    print(result.table().to_string(index=False))
    if result.calibration is not None:
        print(result.calibration.describe(len(result.checks)))
    if result.claim is not None:
        print(result.claim.describe())
        for name, claim in (("committed", result.claim_committed), ("with the recomputed runs", result.claim_recomputed)):
            print(f"claim, {name}: {claim}")
    print(result.verdict())
    print(f"recomputed records: {scratch}")
    return 0 if result.passed else 1


def _deep_verify(profile, committed) -> int:
    """``qap verify --deep``: every committed record on the profile's data re-evaluated from its weights."""
    from qaplib.audit import deep_check
    from qaplib.data import source_path

    on_profile = [key for key in committed.stored_keys()
                  if json.loads((committed.path(key) / "spec.json").read_text())["data"]["source"] == profile.data.source]
    source_path(profile.data.source)  # the data must be there (else: the command that makes it)
    checks = deep_check(committed, on_profile)
    failed = [check for check in checks if check.problems]
    for check in failed:
        print(f"{check.key}: {check.problems[0]}" + (f" (and {len(check.problems) - 1} more)" if len(check.problems) > 1 else ""))
    phases = sum(check.phases for check in checks)
    verdict = f"{len(failed)} disagree with what they record" if failed else "every record is its weights'"
    print(f"{committed.root}: {len(checks)} records on the {profile.data.source!r} data ({phases} phases) re-evaluated "
          f"from their weights; {verdict}")  # fmt: skip
    return 1 if failed or not checks else 0


STORE_HELP = "result store directory (default: read results/ and out/results, write out/results)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qap", description="Quantization-aware pruning companion tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="generate or check the jet dataset").add_subparsers(dest="action", required=True)
    generate = data.add_parser("generate", help="generate a dataset tier (resumes an interrupted run)")
    generate.add_argument("--tier", default="default", help="smoke, default or full (default: default)")
    generate.add_argument("--out", help="output directory (default: data/jets-<tier>)")
    generate.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    generate.add_argument("--fresh", action="store_true", help="regenerate every shard, even finished ones")
    generate.set_defaults(handler=_cmd_data_generate)
    study = data.add_parser("study", help="the fidelity experiments: one generator setting changed per variant")
    study.add_argument("--out", required=True, help="folder for the variants' datasets and results (resumes)")
    study.add_argument("--jets-per-class", type=int, default=4000, help="jets per class and variant (default: 4000)")
    study.add_argument("--variants", nargs="+", help="variant names (default: all of qaplib.fidelity_study.VARIANTS)")
    study.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    study.set_defaults(handler=_cmd_data_study)
    verify = data.add_parser("verify", help="check shard hashes against the manifest")
    verify.add_argument("directory", nargs="?", help="dataset directory (default: data/jets-default)")
    verify.set_defaults(handler=_cmd_data_verify)

    run = commands.add_parser("run", help="train one run spec (JSON) unless it is already stored")
    run.add_argument("spec", help="RunSpec JSON file")
    run.add_argument("--store", help=STORE_HELP)
    run.set_defaults(handler=_cmd_run)
    sweep = commands.add_parser("sweep", help="compute the missing runs of a grid (YAML)")
    sweep.add_argument("grid", nargs="?", help="grid YAML file (name, base, grid)")
    sweep.add_argument("--profile", help="instead of a grid: every run the book needs under this profile")
    sweep.add_argument("--executor", default="local", help="local (process pool, default) or dask")
    sweep.add_argument("--scheduler", help="Dask scheduler address tcp://host:port or tls://host:port (default: a "
                       "LocalCluster on this machine, TLS with temporary credentials)")
    sweep.add_argument("--tls-ca-file", help="CA certificate of a TLS-secured scheduler (with --tls-cert, --tls-key)")
    sweep.add_argument("--tls-cert", help="this client's TLS certificate for the scheduler")
    sweep.add_argument("--tls-key", help="this client's TLS private key for the scheduler")
    sweep.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    sweep.add_argument("--store", help=STORE_HELP)
    sweep.set_defaults(handler=_cmd_sweep)
    status = commands.add_parser("status", help="done / missing / failed runs of a grid")
    status.add_argument("grid", nargs="?", help="grid YAML file")
    status.add_argument("--profile", help="instead of a grid: every run the book needs under this profile")
    status.add_argument("--store", help=STORE_HELP)
    status.add_argument("--cost", action="store_true",
                        help="also the compute so far (phases, epochs trained, core-hours) and an estimate for the rest")
    status.add_argument("--workers", type=int, help="workers the estimate assumes (default: all cores)")
    status.set_defaults(handler=_cmd_status)

    results = commands.add_parser("results", help="maintain a result store").add_subparsers(dest="action", required=True)
    fill_in = results.add_parser("fill-in", help="write weight-derived columns (effective BOPs) missing from or out of "
                                 "date in old records")
    fill_in.add_argument("--store", help="result store directory (default: out/results, or $QAP_RESULTS_DIR)")
    fill_in.set_defaults(handler=_cmd_results_fill_in)

    verify = commands.add_parser("verify", help="recompute a random sample of committed runs and compare")
    verify.add_argument("--profile", default="default", help="whose committed runs (default: default)")
    verify.add_argument("--sample", type=int, default=3, help="how many runs to recompute (default: 3)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random sample (default: 0)")
    verify.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    verify.add_argument("--committed", help="the store to check (default: the committed results/)")
    verify.add_argument("--deep", action="store_true",
                        help="instead of retraining a sample: re-evaluate every record on the profile's data from its "
                             "stored weights (no training) and compare with what it records")
    verify.set_defaults(handler=_cmd_verify)

    figures = commands.add_parser("figures", help="execute the book's notebooks with papermill")
    figures.add_argument("--profile", default="default", help="smoke, default or paper (default: default)")
    figures.add_argument("--params", help="YAML file of extra notebook parameters")
    figures.add_argument("--only", nargs="+", help="notebook names to run (default: all)")
    figures.add_argument("--source", help="your data file or folder (real hls4ml data), for every notebook")
    figures.add_argument("--test-source", help="a separate test set (file or folder), for every notebook")
    figures.add_argument("--out", help="folder for the executed notebooks and figures (default: out/book, git-ignored)")
    figures.add_argument("--store-only", action="store_true",
                         help="train nothing: a notebook that needs a run not in the store stops with an error")
    figures.add_argument("--publish", action="store_true",
                         help="write book/chapters and the committed store results/ (what `make book RERUN=1` does)")
    figures.set_defaults(handler=_cmd_figures)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except QapError as exc:
        print(f"qap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
