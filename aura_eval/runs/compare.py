"""`aura-eval compare`: one lm_eval run per variant (base, aura, damp / det_zero sweeps, folded), resumable.

Each variant runs as its own `lm_eval` process (clean memory, and command lines anyone can rerun) into
``<out>/<model>/<variant>/`` (runs.layout says what lies there). Every check that can fail before a model
loads runs first, for every variant (runs.checks), so a run bound to fail sets nothing aside. Then per
variant, under its folder's lock, runs.plan decides from the run records found (their run specs,
runs.spec) what to reuse, what to set aside in ``stale/`` and what to run, each with one line saying why:
a finished process is reused for the tasks it ran when its recorded spec equals the one this compare
gives those tasks and its files are all there (so a variant first run on `aura_rtp` alone reuses it and
runs only the other tasks); a set-aside run whose spec is current again is moved back, not rerun.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aura_eval.core.files import atomic_write, sha256_file, unwritable
from aura_eval.core.loading import ModelRef, is_inside
from aura_eval.core.names import CACHE_ENV, COMPARE_LOG, COMPARE_MARKER, STALE_DIR
from aura_eval.core.text import printable
from aura_eval.harness import tasks_dir
from aura_eval.runs import checks, identity
from aura_eval.runs.layout import (
    compare_files,
    date_of,
    folded_cache,
    leaf_tasks,
    past_runs,
    record_path,
    restore,
    safe_name,
    set_aside,
    short_samples,
    stale_runs,
)
from aura_eval.runs.plan import Plan, batch_options, plan_variant, processes
from aura_eval.runs.process import FolderLock, error_line, run_child
from aura_eval.runs.spec import (
    EvalOptions,
    Placement,
    RunSpec,
    Variant,
    check_limit,
    command_line,
    lm_eval_args,
    portable_metadata,
)

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


def say(label: str, text: str) -> None:
    """One line of compare's plan or progress; names from files are escaped (no terminal controls)."""
    print(f"[compare] {printable(label)}: {printable(text)}", flush=True)


def check_carriable(what: str, value: str | None) -> None:
    """lm-eval splits --model_args on ',' and '=': a path holding one would be read as other arguments."""
    if value and ("," in value or "=" in value):
        raise ValueError(f"{what} {value}: lm-eval's --model_args cannot carry a path with ',' or '=' in it "
                         "(it splits on them); rename the file or folder, or link it from a plain path")


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
                "metadata": portable_metadata(metadata, identity.metadata_defaults(list(tasks))),
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
    for variant in parsed:  # every refusal before the first minute of work, and before anything is set aside
        check_intervention(variant, intervention)
        vdir = model_dir / safe_name(variant.label, "variant")
        if not is_inside(vdir, out):
            raise ValueError(f"{vdir} lies outside --out {out} (a symlink?); compare writes only inside --out")
        folders.append(vdir)
    checks.check_settings(list(options.tasks))
    with_state = [variant for variant in parsed if variant.needs_state]
    if with_state:
        checks.check_state(model, intervention, with_state, extra_args, say=lambda text: say("check", text))
    launch = launch_identity(options)
    shared = Shared(model=model, model_id=identity.model_identity(model), options=options, extra_args=extra_args,
                    limit=limit, include=_short_path(tasks_dir()), inputs={}, task_code=identity.task_code_digest(),
                    versions=identity.versions(), launch=launch)
    check_carriable("--include_path", shared.include)
    for tasks in {tuple(t) for folded in {v.folded for v in parsed} for t in processes(list(options.tasks), folded)}:
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
    state = identity.state_identity(intervention) if variant.needs_state else None
    fdir = folded_cache(shared.model, shared.model_id, state, shared.versions) if variant.folded else None
    scratch = None
    if fdir is not None and not options.dry_run and (why := unwritable(fdir.parent)):
        # no cache: export for this run alone, into a temporary folder deleted when the variant is done
        scratch = Path(tempfile.mkdtemp(prefix="aura-folded-"))
        say(label, f"warning: aura-eval's cache {printable(str(fdir.parent))} cannot be written ({why}): the folded "
                   f"checkpoint goes to {scratch}, deleted after this variant (set {CACHE_ENV} to keep it)")
        fdir = scratch / fdir.name
    try:
        _run_variant(variant, intervention, vdir, shared, label, state, fdir)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run_variant(variant: Variant, intervention: str | None, vdir: Path, shared: Shared, label: str,
                 state: dict | None, fdir: Path | None) -> None:
    options = shared.options
    check_carriable("the folded checkpoint", str(fdir) if fdir else None)
    place = Placement(shared.model.source, shared.model.gguf_file, shared.model.revision, intervention,
                      str(fdir) if fdir else None, vdir, shared.include)

    def part_of(tasks: list[str]) -> Part:
        inputs = shared.inputs_of(tuple(tasks))
        spec = RunSpec(
            variant=label, method=variant.method(), model=shared.model_id, state=state, tasks=tuple(tasks),
            model_args=shared.extra_args,
            options={**batch_options(tasks, options), "limit": shared.limit, "device": options.device,
                     "log_samples": bool(options.log_samples), "metadata": inputs["metadata"], **shared.launch},
            data=inputs["data"], task_code=shared.task_code, scorers=inputs["scorers"], versions=shared.versions)
        return Part(spec, lm_eval_args(spec, place, options), options.launcher())

    def plan() -> Plan:
        return plan_variant(list(options.tasks), past_runs(vdir), stale_runs(vdir),
                            lambda tasks: part_of(list(tasks)).spec.record(),
                            lambda tasks: processes(tasks, variant.folded))

    if options.dry_run:
        carry_out(label, plan(), part_of, vdir, fdir, shared, intervention)
        return
    with FolderLock(vdir, LOCK_WAIT_S, say=lambda text: say(label, text)):
        if options.force:
            clear(label, vdir)
        carry_out(label, plan(), part_of, vdir, fdir, shared, intervention)


def carry_out(label: str, plan: Plan, part_of, vdir: Path, fdir: Path | None, shared: Shared,
              intervention: str | None) -> None:
    """Restore and reuse, set aside and run what `plan` says, one line each (a dry run only says it)."""
    dry_run = shared.options.dry_run
    for reuse in plan.reuse:
        where = reuse.run.results.relative_to(vdir).as_posix()
        if reuse.restore:
            names = restore(reuse.run, vdir, dry_run)
            say(label, f"{'would restore' if dry_run else 'restored'} {', '.join(names)} from {vdir / STALE_DIR}/ "
                       "(its run spec is current again)")
            where = reuse.run.name
        say(label, f"reusing {','.join(reuse.tasks)} (same run spec, {where})")
    pending = list(plan.set_aside)

    def move(chosen) -> None:
        for step in chosen:
            names = set_aside(step.run, vdir, dry_run)
            say(label, f"{'would move' if dry_run else 'moved'} {', '.join(names)} aside to {vdir / STALE_DIR}/ "
                       f"({step.why})")
            pending.remove(step)

    move([step for step in pending if step.superseded])
    for run in plan.run:
        if run.why:
            say(label, f"rerunning {','.join(run.tasks)}: {'; '.join(run.why)}")
        move([step for step in pending if step.run.tasks & set(run.tasks)])
    move(list(pending))
    if not plan.run:
        say(label, f"done already ({vdir}), every part reused; --force reruns it")
        return
    todo = [part_of(run.tasks) for run in plan.run]
    if fdir is not None and not dry_run:
        from aura_eval.core.export import cached_export  # torch: only when a folded variant runs

        if cached_export(shared.model, intervention, fdir, shared.model_id) is None:
            raise OSError(f"{label}: the folded checkpoint could not be written to {fdir.parent}")
    for part in todo:
        say(label, part.command)
        if not dry_run:
            _run_part(part, vdir, label)


def check_intervention(variant: Variant, intervention: str | None) -> None:
    """A variant with a state file needs one that is there (a dry run too: it plans what would run)."""
    if not variant.needs_state:
        return
    if not intervention:
        raise ValueError(f"Variant {variant.label} needs --intervention STATE (from `aura-eval learn`)")
    if not Path(intervention).is_file():
        raise FileNotFoundError(f"--intervention {intervention}: no such file (variant {variant.label} needs it)")


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


