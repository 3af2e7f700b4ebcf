"""`aura-eval compare`: one lm_eval run per variant (base, aura, damp / det_zero sweeps, folded), resumable.

Each variant runs as its own `lm_eval` process (clean memory, and command lines anyone can rerun) into
``<out>/<model>/<variant>/``: lm-eval writes ``results_<date>.json`` and, with --log_samples,
``samples_<task>_<date>.jsonl`` straight into that folder. Beside them compare keeps ``command.txt`` (every
command line, appended), ``lm_eval.log``, ``compare.lock`` and ``run_<date>.json`` per process: its run
spec (runs.spec), what decides its numbers, by content. A finished process is reused for the tasks it
ran when its recorded spec equals the one this compare gives those tasks and its files are all there (so
a variant first run on `aura_rtp` alone reuses it and runs only the other tasks); otherwise its files are
moved to ``stale/`` (renamed ``*.stale``) and its tasks run again, with one line saying what changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aura_eval.core.files import atomic_write, cache_dir, sha256_bytes, sha256_file, unwritable
from aura_eval.core.loading import ModelRef, is_inside, model_mismatch
from aura_eval.core.names import (
    CACHE_ENV,
    COMPARE_LOG,
    COMPARE_MARKER,
    FOLDED_VARIANT,
    PPL_PREFIX,
    RUN_RECORD_PREFIX,
    STALE_DIR,
)
from aura_eval.harness import tasks_dir
from aura_eval.runs import identity
from aura_eval.runs.process import FolderLock, error_line, run_child
from aura_eval.runs.spec import (
    EvalOptions,
    Placement,
    RunSpec,
    Variant,
    changes,
    check_limit,
    command_line,
    lm_eval_args,
    portable_metadata,
)

FOLDED = FOLDED_VARIANT
LOCK_WAIT_S = 5.0  # a second compare on one variant folder waits this long for the first, then refuses


@dataclass
class Part:
    """One lm_eval process of a variant: its spec and the command line rendered from it."""

    spec: RunSpec
    args: list[str]
    launcher: list[str] = field(default_factory=lambda: ["-m", "lm_eval"])  # after the interpreter: see EvalOptions

    @property
    def tasks(self) -> list[str]:
        return list(self.spec.tasks)

    @property
    def command(self) -> str:
        return command_line(self.args, self.launcher)


@dataclass
class PastRun:
    """A results file already in a variant folder, with its run record (None: there is none)."""

    results: Path
    tasks: set[str]
    record: dict | None

    @property
    def spec(self) -> dict | None:
        spec = (self.record or {}).get("spec")
        return spec if isinstance(spec, dict) else None

    def missing_files(self) -> list[str]:
        """Files its record names that are not there: such a part is not complete."""
        named = (self.record or {}).get("samples") or []
        return [name for name in named if not (self.results.parent / str(name)).is_file()]


def say(label: str, text: str) -> None:
    print(f"[compare] {label}: {text}", flush=True)


def safe_name(name: str, what: str) -> str:
    """`name` as one safe path component: other characters become `_`, no leading dot, never `..`."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    if not cleaned:
        raise ValueError(f"{what} {name!r} cannot name a results folder; choose a name with letters or digits")
    return cleaned


def split_tasks(tasks: list[str], folded: bool = False) -> list[list[str]]:
    """The lm_eval processes of a variant, by tasks: one for every task (aura-hf gives the perplexity windows
    their own batch size, `rolling_batch_size`), two for aura-folded (plain `hf` has one batch size)."""
    if not folded:
        return [list(tasks)] if tasks else []
    ppl = [t for t in tasks if t.startswith(PPL_PREFIX)]
    return [part for part in ([t for t in tasks if t not in ppl], ppl) if part]


def batch_options(tasks: list[str], options: EvalOptions) -> dict:
    """--batch_size of a process running `tasks`, and the perplexity windows' own when it mixes both kinds."""
    ppl = [t for t in tasks if t.startswith(PPL_PREFIX)]
    if len(ppl) == len(tasks):
        return {"batch_size": str(options.ppl_batch_size)}
    if ppl:
        return {"batch_size": str(options.batch_size), "ppl_batch_size": str(options.ppl_batch_size)}
    return {"batch_size": str(options.batch_size)}


def check_carriable(what: str, value: str | None) -> None:
    """lm-eval splits --model_args on ',' and '=': a path holding one would be read as other arguments."""
    if value and ("," in value or "=" in value):
        raise ValueError(f"{what} {value}: lm-eval's --model_args cannot carry a path with ',' or '=' in it "
                         "(it splits on them); rename the file or folder, or link it from a plain path")


# ----------------------------------------------------------------------------- what a variant folder holds


def record_path(results: Path) -> Path:
    """run_<date>.json beside lm-eval's results_<date>.json."""
    return results.with_name(RUN_RECORD_PREFIX + results.name.removeprefix("results_"))


def date_of(results: Path) -> str:
    return results.name.removeprefix("results_").removesuffix(".json")


def past_runs(vdir: Path) -> list[PastRun]:
    """The results files in a variant folder (also in the lm-eval subfolder older versions wrote), oldest first."""
    if not vdir.is_dir():
        return []
    runs = []
    for path in sorted(vdir.rglob("results_*.json")):
        if STALE_DIR not in path.relative_to(vdir).parts[:-1]:
            runs.append(PastRun(path, tasks_in(path), read_record(record_path(path))))
    return runs


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tasks_in(path: Path) -> set[str]:
    """Tasks and groups a results file holds; none when it cannot be read."""
    data = read_json(path) or {}
    return {name for key in ("results", "groups", "group_subtasks") if isinstance(data.get(key), dict)
            for name in data[key]}


def leaf_tasks(path: Path) -> list[str]:
    """The tasks of a results file that have per-sample logs (those with a config; groups have none)."""
    data = read_json(path) or {}
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else None
    if configs is not None:
        return sorted(configs)
    groups = data.get("groups") if isinstance(data.get("groups"), dict) else {}
    return sorted(set(data.get("results") or {}) - set(groups))


def short_samples(results: Path, names: list[str]) -> list[str]:
    """The samples files that are missing, or hold fewer lines than the documents the results file counts."""
    counts = (read_json(results) or {}).get("n-samples")
    counts = counts if isinstance(counts, dict) else {}
    date, short = date_of(results), []
    for name in names:
        path = results.parent / name
        task = name.removeprefix("samples_").removesuffix(f"_{date}.jsonl")
        expected = (counts.get(task) or {}).get("effective") if isinstance(counts.get(task), dict) else None
        if not path.is_file():
            short.append(name)
        elif isinstance(expected, int):
            with open(path, "rb") as f:
                if sum(1 for line in f if line.strip()) < expected:
                    short.append(name)
    return short


def read_record(path: Path) -> dict | None:
    return read_json(path)


def plan_part(part: Part, past: list[PastRun]) -> tuple[PastRun | None, list[tuple[PastRun, str]]]:
    """(the past run to reuse or None, the past runs of these tasks that must go, with the reason why)."""
    wanted, spec = set(part.tasks), part.spec.record()
    overlapping = [run for run in past if run.tasks & wanted]
    reusable = [run for run in overlapping if run.spec == spec and wanted <= run.tasks and not run.missing_files()]
    keep = reusable[-1] if reusable else None
    stale = []
    for run in overlapping:
        if run is keep:
            continue
        if keep is not None:
            why = f"superseded by {keep.results.name}"
        elif run.spec == spec and run.missing_files():
            why = f"{', '.join(run.missing_files())} missing (the part is not complete)"
        elif run.spec == spec:
            why = f"{run.results.name} lacks {', '.join(sorted(wanted - run.tasks))}"
        else:
            why = changes(run.record and (run.spec or {}), spec)
        stale.append((run, why))
    return keep, stale


def set_aside(run: PastRun, vdir: Path, dry_run: bool) -> list[str]:
    """Move a stale run's results, run record and samples to <vdir>/stale/ as *.stale; returns their names."""
    files = [run.results, record_path(run.results), *sorted(run.results.parent.glob(f"samples_*_{date_of(run.results)}.jsonl"))]
    files = [path for path in files if path.is_file()]
    if not dry_run:
        target_dir = vdir / STALE_DIR
        target_dir.mkdir(parents=True, exist_ok=True)
        for path in files:
            target = target_dir / f"{path.name}.stale"
            n = 1
            while target.exists():
                target, n = target_dir / f"{path.name}.{n}.stale", n + 1
            shutil.move(str(path), str(target))
    return [path.name for path in files]


def settle(label: str, part: Part, past: list[PastRun], vdir: Path, dry_run: bool) -> bool:
    """Reuse this part's finished run if its spec matches, set stale ones aside; True when reused."""
    keep, stale = plan_part(part, past)
    tasks = ",".join(part.tasks)
    if keep is not None:
        say(label, f"reusing {tasks} (same run spec, {keep.results.relative_to(vdir).as_posix()})")
    elif stale:
        reasons = list(dict.fromkeys(why for _, why in stale))
        say(label, f"rerunning {tasks}: {'; '.join(reasons)}")
    for run, why in stale:
        names = set_aside(run, vdir, dry_run)
        verb = "would move" if dry_run else "moved"
        say(label, f"{verb} {', '.join(names)} aside to {vdir / STALE_DIR}/ ({why})")
        past.remove(run)
    return keep is not None


# ----------------------------------------------------------------------------- the command


@dataclass
class Shared:
    """What every variant of one comparison shares: the model's identity and each part's inputs."""

    model: ModelRef
    model_id: dict
    options: EvalOptions
    extra_args: dict
    limit: float | int | None
    include: str
    inputs: dict  # tuple(tasks) -> {"data", "scorers"}
    task_code: str
    versions: dict
    launch: dict  # how many processes share the documents, and the accelerate config: part of every spec when set

    def inputs_of(self, tasks: tuple[str, ...]) -> dict:
        """The data files and toxicity scorers of `tasks`, by content (computed once per task list)."""
        if tasks not in self.inputs:
            metadata = self.options.task_metadata()
            self.inputs[tasks] = {
                "data": identity.data_identities(list(tasks), metadata),
                "scorers": {scorer["name"]: scorer for scorer in map(identity.scorer_identity,
                                                                      identity.scorer_names(list(tasks), metadata))},
            }
        return self.inputs[tasks]


def compare(
    model: str | ModelRef,
    intervention: str | None,
    variants: list[str],
    out: str | Path = "results",
    options: EvalOptions | None = None,
) -> Path:
    """Run every variant's tasks not yet done with this run spec into ``<out>/<model name>/<variant>/``.

    A variant's tasks run in one lm_eval process (one start-up, one model load): requests in batches of
    `options.batch_size`, perplexity windows in batches of `options.ppl_batch_size` (full-length windows
    times a large vocabulary fill memory fast), passed as aura-hf's `rolling_batch_size`. aura-folded runs
    plain `hf`, which has one batch size: its perplexity tasks get a second process. Returns the model's folder.
    """
    options = options or EvalOptions()
    parsed = list(dict.fromkeys(Variant.parse(v) for v in variants or []))
    if not parsed:
        raise ValueError("--variants: no variant given (e.g. base,aura)")
    if not options.tasks:
        raise ValueError("--tasks: no task given")
    model = ModelRef.parse(model)
    for what, value in (("--model", model.source), ("--gguf-file", model.gguf_file), ("--revision", model.revision),
                        ("--intervention", intervention)):
        check_carriable(what, value)
    extra_args, limit = options.extra_model_args(), check_limit(options.limit)
    out = Path(out)
    model_dir = out / safe_name(model.name, "--model-name")
    folders = []
    for variant in parsed:  # every refusal before the first minute of work
        check_intervention(variant, intervention, options.dry_run, model)
        vdir = model_dir / safe_name(variant.label, "variant")
        if not is_inside(vdir, out):
            raise ValueError(f"{vdir} lies outside --out {out} (a symlink?); compare writes only inside --out")
        folders.append(vdir)
    launch = launch_identity(options)
    shared = Shared(model=model, model_id=identity.model_identity(model), options=options, extra_args=extra_args,
                    limit=limit, include=_short_path(tasks_dir()), inputs={}, task_code=identity.task_code_digest(),
                    versions=identity.versions(), launch=launch)
    check_carriable("--include_path", shared.include)
    for tasks in {tuple(t) for folded in {v.folded for v in parsed} for t in split_tasks(list(options.tasks), folded)}:
        shared.inputs_of(tasks)  # every data file checked and hashed before the first run
    for variant, vdir in zip(parsed, folders):
        run_variant(variant, intervention, vdir, shared)
    return model_dir


def launch_identity(options: EvalOptions) -> dict:
    """What the launch adds to every spec: with several processes each samples with its own generator, so
    sampled continuations differ from one process's (loglikelihoods and greedy outputs do not)."""
    options.launcher()  # refuses a process count below 1
    launch: dict = {}
    if options.num_processes > 1:
        launch["num_processes"] = options.num_processes
    if options.accelerate_config:
        check_carriable("--accelerate-config", options.accelerate_config)
        path = Path(options.accelerate_config)
        if not path.is_file():
            raise FileNotFoundError(f"--accelerate-config {path}: no such file")
        launch["accelerate_config"] = {"file": path.name, "sha256": sha256_file(path)}  # mixed precision lives there
    return launch


def run_variant(variant: Variant, intervention: str | None, vdir: Path, shared: Shared) -> None:
    options, label = shared.options, variant.label
    state = None
    if variant.needs_state:
        state = (identity.state_identity(intervention) if Path(intervention).is_file()
                 else {"file": Path(intervention).name, "sha256": None})
    fdir = folded_cache(shared.model, shared.model_id, state, shared.versions) if variant.folded else None
    check_carriable("the folded checkpoint", str(fdir) if fdir else None)
    place = Placement(shared.model.source, shared.model.gguf_file, shared.model.revision, intervention,
                      str(fdir) if fdir else None, vdir, shared.include)

    def part_of(tasks: list[str]) -> Part:
        inputs = shared.inputs_of(tuple(tasks))
        spec = RunSpec(
            variant=label, method=variant.method(), model=shared.model_id, state=state, tasks=tuple(tasks),
            model_args=shared.extra_args,
            options={**batch_options(tasks, options), "limit": shared.limit, "device": options.device,
                     "log_samples": bool(options.log_samples), "metadata": portable_metadata(options.task_metadata()),
                     **shared.launch},
            data=inputs["data"], task_code=shared.task_code, scorers=inputs["scorers"], versions=shared.versions)
        return Part(spec, lm_eval_args(spec, place, options), options.launcher())

    if options.dry_run:
        settle_and_run(label, variant, part_of, vdir, fdir, shared, intervention)
        return
    with FolderLock(vdir, LOCK_WAIT_S, say=lambda text: say(label, text)):
        if options.force:
            clear(label, vdir)
        settle_and_run(label, variant, part_of, vdir, fdir, shared, intervention)


def settle_and_run(label: str, variant: Variant, part_of, vdir: Path, fdir: Path | None, shared: Shared,
                   intervention: str | None) -> None:
    """Reuse every past run that is current (its spec is the one this compare gives its tasks), run the
    asked tasks no current run holds in one new process (two for aura-folded), set the others aside."""
    dry_run, wanted = shared.options.dry_run, list(shared.options.tasks)
    past = past_runs(vdir)
    covered: dict[str, PastRun] = {}  # asked task -> the current run that holds it
    for run in reversed(list(past)):  # newest first
        ran = current_tasks(run, part_of)
        if ran is None or not set(ran) & set(wanted) or set(ran) & set(wanted) <= set(covered):
            continue  # not current, not asked, or a newer current run holds its tasks
        say(label, f"reusing {','.join(ran)} (same run spec, {run.results.relative_to(vdir).as_posix()})")
        covered.update({task: run for task in ran if task in wanted})
        past.remove(run)
    for run in list(past):  # older runs of tasks only reused runs hold now
        overlap = [task for task in wanted if task in run.tasks]
        if overlap and all(task in covered for task in overlap):
            newer = covered[overlap[0]].results.name
            names = set_aside(run, vdir, dry_run)
            say(label, f"{'would move' if dry_run else 'moved'} {', '.join(names)} aside to {vdir / STALE_DIR}/ "
                       f"(superseded by {newer})")
            past.remove(run)
    todo = [part_of(tasks) for tasks in split_tasks([t for t in wanted if t not in covered], variant.folded)]
    todo = [part for part in todo if not settle(label, part, past, vdir, dry_run)]
    if not todo:
        say(label, f"done already ({vdir}), every part reused; --force reruns it")
        return
    if fdir is not None and not dry_run:
        from aura_eval.core.export import cached_export  # torch: only when a folded variant runs

        if cached_export(shared.model, intervention, fdir, shared.model_id) is None:
            raise OSError(f"{label}: the folded checkpoint needs a writable aura-eval cache ({fdir.parent})")
    for part in todo:
        say(label, part.command)
        if not dry_run:
            _run_part(part, vdir, label)


def current_tasks(run: PastRun, part_of) -> list[str] | None:
    """The tasks of a finished past run whose recorded spec equals the spec this compare gives them, else None."""
    spec = run.spec
    tasks = spec.get("tasks") if isinstance(spec, dict) else None
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks) or run.missing_files():
        return None
    try:
        return list(tasks) if part_of(list(tasks)).spec.record() == spec else None
    except (OSError, ValueError):  # its tasks' data can no longer be read: not current
        return None


def check_intervention(variant: Variant, intervention: str | None, dry_run: bool, model: ModelRef | None = None) -> None:
    if not variant.needs_state:
        return
    if not intervention:
        raise ValueError(f"Variant {variant.label} needs --intervention STATE (from `aura-eval learn`)")
    if not dry_run and not Path(intervention).is_file():
        raise FileNotFoundError(f"--intervention {intervention}: no such file (variant {variant.label} needs it)")
    if variant.folded and not dry_run and (why := unwritable(cache_dir() / "folded")):
        raise OSError(f"variant {FOLDED} needs a writable aura-eval cache: {cache_dir()} ({why}); set {CACHE_ENV}")
    from aura_eval.core.intervention import Intervention, StateFileError  # torch: only with a state file

    try:  # an unreadable state file: the run's own load says what is wrong
        meta = Intervention.load(intervention).meta if model is not None and Path(intervention).is_file() else {}
    except StateFileError:
        meta = {}
    if mismatch := model_mismatch(meta, model, Path(intervention).name):
        say(variant.label, f"warning: {mismatch}")


def compare_files(vdir: Path) -> list[Path]:
    """What compare wrote in a variant folder: its marker and log, run records and the lm-eval files of the
    runs it started, and what it set aside in stale/. Anything else there is someone else's."""
    if not (vdir / COMPARE_MARKER).is_file():
        return []
    files = [vdir / COMPARE_MARKER, vdir / COMPARE_LOG]
    for results in sorted(vdir.glob("results_*.json")):
        files += [results, record_path(results), *sorted(vdir.glob(f"samples_*_{date_of(results)}.jsonl"))]
    files += sorted(vdir.glob(f"{RUN_RECORD_PREFIX}*.json"))
    files += sorted((vdir / STALE_DIR).glob("*.stale"))
    return [path for path in dict.fromkeys(files) if path.is_file() and not path.is_symlink()]


def clear(label: str, vdir: Path) -> None:
    """--force: the files compare wrote for this variant go; nothing else, and nothing outside --out (the
    aura-folded checkpoint in aura-eval's cache is keyed by content, so it is never stale)."""
    files = compare_files(vdir)
    if not files:
        return
    say(label, f"--force: removing {len(files)} files compare wrote in {vdir}")
    for path in files:
        path.unlink()
    if (vdir / STALE_DIR).is_dir() and not any((vdir / STALE_DIR).iterdir()):
        (vdir / STALE_DIR).rmdir()


def _run_part(part: Part, vdir: Path, label: str) -> None:
    """Run one lm_eval process and write its run record beside the results file it wrote."""
    vdir.mkdir(parents=True, exist_ok=True)
    before = set(vdir.glob("results_*.json"))
    with open(vdir / COMPARE_MARKER, "a") as f:
        f.write(part.command + "\n")
    log_path = vdir / COMPARE_LOG
    with open(log_path, "a") as log:
        log.write(f"$ {part.command}\n")
        log.flush()
        start = log.tell()
        returncode = _call_lm_eval(part.args, log, part.launcher)
    if returncode != 0:
        with open(log_path, errors="replace") as f:
            f.seek(start)
            line = error_line(f.read())
        hint = (" (killed: out of memory? lower --batch-size / --ppl-batch-size or set --model-args max_length=...)"
                if returncode < 0 else "")
        raise RuntimeError(f"lm_eval failed for variant {label} (exit {returncode}){hint}: {line} (log: {log_path})")
    written = sorted(set(vdir.glob("results_*.json")) - before)
    if len(written) != 1:
        raise RuntimeError(f"lm_eval for variant {label} exited 0 but wrote {len(written)} results files in {vdir} "
                           f"(expected 1); see {log_path}")
    samples = []
    if part.spec.log_samples:
        samples = [f"samples_{task}_{date_of(written[0])}.jsonl" for task in leaf_tasks(written[0])]
        missing = short_samples(written[0], samples)
        if missing:
            raise RuntimeError(f"lm_eval for variant {label} exited 0 but did not write {', '.join(missing)} in full: the part "
                               f"is not complete (a rerun runs it again); see {log_path}")
    record = {"results": written[0].name, "tasks": part.tasks, "samples": samples, "spec": part.spec.record()}
    atomic_write(record_path(written[0]), (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def _call_lm_eval(args: list[str], log, launcher: list[str]) -> int:
    death = signal.SIGKILL if launcher == ["-m", "lm_eval"] else signal.SIGTERM  # a launcher stops its workers
    return run_child([sys.executable, *launcher, *args], log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                     death_signal=death)


def _short_path(path: Path) -> str:
    """Relative to the working directory when inside it, so recorded commands stay short."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- the folded checkpoint


def folded_cache(model: ModelRef, model_id: dict, state: dict | None, versions: dict) -> Path:
    """Folded checkpoints are large: keep them in the cache, keyed by the model's content identity, the state
    file's digest and the versions that fold and save them."""
    key = json.dumps({"model": model_id, "state_sha256": (state or {}).get("sha256"), "versions": versions},
                     sort_keys=True).encode()
    return cache_dir() / "folded" / f"{safe_name(model.name, '--model-name')}-{sha256_bytes(key)[:12]}"
