"""`aura-eval compare`: one lm_eval run per variant (base, aura, damp / det_zero sweeps, folded), resumable.

Each variant runs as its own `lm_eval` processes (clean memory, and command lines anyone can rerun) into
``<out>/<model>/<variant>/``: lm-eval writes ``results_<date>.json`` and, with --log_samples,
``samples_<task>_<date>.jsonl`` straight into that folder (``--output_path <folder>/results.json``, so no
subfolder named after a machine's model path). Beside them compare keeps ``command.txt`` (every command
line, appended), ``lm_eval.log``, and ``run_<date>.json`` per process: the normalised arguments that decide
its numbers. A finished process is reused only when those arguments are the same; otherwise its files
are moved to ``stale/`` (renamed ``*.stale``) and it runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aura_eval.core.config import InterventionConfig
from aura_eval.core.loading import ModelRef, cache_dir
from aura_eval.harness import tasks_dir
from aura_eval.report.results import COMPARE_MARKER, FOLDED_VARIANT

DEFAULT_TASKS = ("aura_rtp", "aura_ppl_nontoxic", "aura_ppl_toxic")
FOLDED = FOLDED_VARIANT
RESULTS_NAME = "results.json"  # lm-eval turns an --output_path ending in .json into results_<date>.json beside it
STALE_DIR = "stale"
FOLDED_MARKER = "aura_eval_folded.json"  # written last into a folded checkpoint: the export is complete
PLACEMENT_FLAGS = ("output_path", "include_path")  # where files go or are found: not what the numbers are
RUN_ENV = ("AURA_TOXICITY_SCORER", "AURA_DATA_DIR", "AURA_DETOXIFY_CHECKPOINT", "AURA_DETOXIFY_CONFIG_DIR")
FLAG_DEFAULTS = {"device": None, "limit": None, "metadata": {}, "log_samples": False, "seed": None}


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: an intervention config, applied by hooks or folded into the weights."""

    config: InterventionConfig
    folded: bool = False  # aura-folded: the exported checkpoint through plain `--model hf`

    @classmethod
    def parse(cls, text: str) -> Variant:
        if text.strip() == FOLDED:
            return cls(InterventionConfig("aura"), folded=True)
        return cls(InterventionConfig.parse(text))

    @property
    def label(self) -> str:
        return FOLDED if self.folded else self.config.label


@dataclass
class EvalOptions:
    """What every lm_eval run of one comparison shares (the CLI's `compare` / `demo` evaluation flags)."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    data_dir: str | None = None
    scorer: str | None = None
    limit: float | None = None
    batch_size: str = "64"  # lm_eval --batch_size of the sampling / zero-shot process
    ppl_batch_size: str = "4"  # lm_eval --batch_size of the perplexity process
    device: str | None = None
    log_samples: bool = True
    model_args: str | None = None  # extra lm-eval model_args for every variant
    metadata: dict = field(default_factory=dict)  # extra task metadata (lm_eval --metadata)
    force: bool = False
    dry_run: bool = False

    def task_metadata(self) -> dict:
        metadata = dict(self.metadata or {})
        if self.data_dir:
            metadata["data_dir"] = str(Path(self.data_dir).resolve())
        if self.scorer:
            metadata["toxicity_scorer"] = self.scorer
        return metadata


@dataclass
class Part:
    """One lm_eval process of a variant: its tasks, its arguments, and the normalised arguments it is reused by."""

    tasks: list[str]
    args: list[str]
    key: dict

    @property
    def command(self) -> str:
        return "lm_eval " + shlex.join(self.args)


@dataclass
class PastRun:
    """A results file already in a variant folder, with the arguments its run record names (None: no record)."""

    results: Path
    tasks: set[str]
    key: dict | None


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def say(label: str, text: str) -> None:
    print(f"[compare] {label}: {text}", flush=True)


def split_tasks(tasks: list[str]) -> list[list[str]]:
    """Perplexity tasks apart from the rest: their long windows need a smaller batch than sampling does."""
    ppl = [t for t in tasks if t.startswith("aura_ppl")]
    rest = [t for t in tasks if t not in ppl]
    return [part for part in (rest, ppl) if part]


def lm_eval_args(
    variant: Variant,
    model: ModelRef,
    intervention: str | None,
    tasks: list[str],
    out_dir: Path,
    include_path: str,
    options: EvalOptions,
    batch_size: str,
    folded_dir: str | None = None,
) -> list[str]:
    """The `lm_eval` arguments for one variant (without the program name); results land in `out_dir`."""
    config = variant.config
    if variant.folded:
        model_type, margs = "hf", [f"pretrained={folded_dir}"]
    else:
        model_type, margs = "aura-hf", [f"pretrained={model.source}"]
        if model.gguf_file:
            margs.append(f"gguf_file={model.gguf_file}")
        if config.method == "none":
            margs.append("intervention=none")
        else:
            if not intervention:
                raise ValueError(f"Variant {variant.label} needs --intervention STATE (from `aura-eval learn`)")
            margs.append(f"intervention={intervention}")
            if config.method in ("damp", "det_zero"):
                margs += [f"method={config.method}", f"k={config.k}"]
                if config.method == "damp":
                    margs.append(f"alpha={config.alpha:g}")
    if options.model_args:
        margs.append(options.model_args)
    args = ["--model", model_type, "--model_args", ",".join(margs), "--include_path", include_path,
            "--tasks", ",".join(tasks), "--batch_size", str(batch_size),
            "--output_path", str(Path(out_dir) / RESULTS_NAME)]
    if options.device:
        args += ["--device", options.device]
    if options.limit is not None:
        args += ["--limit", f"{options.limit:g}"]
    metadata = options.task_metadata()
    if metadata:
        args += ["--metadata", json.dumps(metadata, sort_keys=True)]
    if options.log_samples:
        args.append("--log_samples")
    return args


# ----------------------------------------------------------------------------- what decides the numbers


def parse_flags(args: list[str]) -> dict[str, str | bool]:
    """lm_eval's `--flag value` / bare `--flag` arguments as a dict (flag names without the dashes)."""
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        name = args[i].removeprefix("--")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            flags[name], i = args[i + 1], i + 2
        else:
            flags[name], i = True, i + 1
    return flags


def run_key(args: list[str], root: Path) -> dict:
    """Every lm_eval argument that can change a run's numbers, written the same way on every machine.

    Leaves out where files go; names the state file by its content, and local paths relative to the
    results root or aura-eval's cache where they lie inside one.
    """
    key = dict(FLAG_DEFAULTS)
    for name, value in parse_flags(args).items():
        if name not in PLACEMENT_FLAGS:
            key[name] = normalised_flag(name, value, root)
    # Settings the lm_eval process reads from the environment (they win over --metadata); only those set,
    # so a run record without them still matches a rerun without them.
    environment = {name: normalised_value(name, os.environ[name], root) for name in RUN_ENV if os.environ.get(name)}
    if environment:
        key["environment"] = environment
    return key


def normalised_flag(name: str, value, root: Path):
    if name == "model_args":
        pairs = (pair.partition("=") for pair in str(value).split(",") if pair.strip())
        return {k.strip(): normalised_value(k.strip(), v.strip(), root) for k, _, v in pairs}
    if name == "metadata":
        return {k: normalised_value(k, v, root) for k, v in json.loads(value).items()}
    if name == "tasks":
        return str(value).split(",")
    if name == "limit":
        return float(value)
    return value


def normalised_value(name: str, value, root: Path):
    if not isinstance(value, str) or not value:
        return value
    if name == "intervention" and value != "none":
        digest = state_sha256(value)
        return f"sha256:{digest}" if digest else f"missing file {portable(value, root)}"
    if Path(value).is_absolute() or Path(value).exists():
        return portable(value, root)
    return value


def portable(path: str | Path, root: Path) -> str:
    """`path` relative to the results root or aura-eval's cache when inside one, else absolute."""
    resolved = Path(path).expanduser().resolve()
    for base, label in ((Path(root), "<out>"), (cache_dir(), "<aura-eval cache>")):
        try:
            return f"{label}/{resolved.relative_to(base.expanduser().resolve()).as_posix()}"
        except ValueError:
            continue
    return str(resolved)


def state_sha256(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe_change(old: dict | None, new: dict) -> str:
    """Why a past run no longer counts, e.g. "--limit changed 100 -> 50"."""
    if old is None:
        return "no run record beside it (written by an older aura-eval, or compare was interrupted)"
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name == "environment":
            changes += [f"${sub} changed {shown((before or {}).get(sub))} -> {shown((after or {}).get(sub))}"
                        for sub in sorted(set(before or {}) | set(after or {}))
                        if (before or {}).get(sub) != (after or {}).get(sub)]
        elif isinstance(before, dict) and isinstance(after, dict):
            changes += [f"--{name} {sub} changed {shown(before.get(sub))} -> {shown(after.get(sub))}"
                        for sub in sorted(set(before) | set(after)) if before.get(sub) != after.get(sub)]
        else:
            changes.append(f"--{name} changed {shown(before)} -> {shown(after)}")
    return "; ".join(changes)


def shown(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


# ----------------------------------------------------------------------------- what a variant folder holds


def record_path(results: Path) -> Path:
    """run_<date>.json beside lm-eval's results_<date>.json."""
    return results.with_name("run_" + results.name.removeprefix("results_"))


def past_runs(vdir: Path) -> list[PastRun]:
    """The results files in a variant folder (also in the lm-eval subfolder older versions wrote), oldest first."""
    if not vdir.is_dir():
        return []
    runs = []
    for path in sorted(vdir.rglob("results_*.json")):
        if STALE_DIR not in path.relative_to(vdir).parts[:-1]:
            runs.append(PastRun(path, tasks_in(path), record_arguments(record_path(path))))
    return runs


def tasks_in(path: Path) -> set[str]:
    """Tasks and groups a results file holds; none when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {name for key in ("results", "groups", "group_subtasks") if isinstance(data.get(key), dict)
            for name in data[key]}


def record_arguments(path: Path) -> dict | None:
    try:
        arguments = json.loads(path.read_text(encoding="utf-8")).get("arguments")
    except (OSError, ValueError, AttributeError):
        return None
    return arguments if isinstance(arguments, dict) else None


def plan_part(part: Part, past: list[PastRun]) -> tuple[PastRun | None, list[tuple[PastRun, str]]]:
    """(the past run to reuse or None, the past runs of these tasks that must go with the reason why)."""
    wanted = set(part.tasks)
    overlapping = [run for run in past if run.tasks & wanted]
    reusable = [run for run in overlapping if run.key == part.key and wanted <= run.tasks]
    keep = reusable[-1] if reusable else None
    stale = []
    for run in overlapping:
        if run is keep:
            continue
        if keep is not None:
            why = f"superseded by {keep.results.name}"
        elif run.key == part.key:
            why = f"{run.results.name} lacks {', '.join(sorted(wanted - run.tasks))}"
        else:
            why = describe_change(run.key, part.key)
        stale.append((run, why))
    return keep, stale


def set_aside(run: PastRun, vdir: Path, dry_run: bool) -> list[str]:
    """Move a stale run's results, run record and samples to <vdir>/stale/ as *.stale; returns their names."""
    date = run.results.name.removeprefix("results_").removesuffix(".json")
    files = [run.results, record_path(run.results), *sorted(run.results.parent.glob(f"samples_*_{date}.jsonl"))]
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
    """Reuse this part's finished run if its arguments match, set stale ones aside; True when reused."""
    keep, stale = plan_part(part, past)
    tasks = ",".join(part.tasks)
    if keep is not None:
        say(label, f"reusing {tasks} (same arguments, {keep.results.relative_to(vdir).as_posix()})")
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


def compare(
    model: str | ModelRef,
    intervention: str | None,
    variants: list[str],
    out: str | Path = "results",
    options: EvalOptions | None = None,
) -> Path:
    """Run every variant part not yet done with these arguments into ``<out>/<model name>/<variant>/``.

    Generation and zero-shot tasks run in one lm_eval process with `options.batch_size`, the perplexity
    tasks in a second one with `options.ppl_batch_size` (full-length windows times a large vocabulary fill
    memory fast). Returns the model's folder.
    """
    options = options or EvalOptions()
    model = ModelRef.parse(model)
    parsed = [Variant.parse(v) for v in variants]
    model_dir = Path(out) / slug(model.name)
    include = _short_path(tasks_dir())
    for variant in parsed:
        run_variant(variant, model, intervention, Path(out), model_dir / variant.label, include, options)
    return model_dir


def run_variant(variant: Variant, model: ModelRef, intervention: str | None, root: Path, vdir: Path,
                include: str, options: EvalOptions) -> None:
    label = variant.label
    check_intervention(variant, intervention, options.dry_run)
    fdir = _folded_cache(model, intervention) if variant.folded else None
    if options.force:
        clear(label, vdir, fdir, options.dry_run)
    parts = []
    for tasks in split_tasks(list(options.tasks)):
        batch_size = options.ppl_batch_size if tasks[0].startswith("aura_ppl") else options.batch_size
        args = lm_eval_args(variant, model, intervention, tasks, vdir, include, options, batch_size,
                            str(fdir) if fdir else None)
        parts.append(Part(tasks, args, run_key(args, root)))
    past = [] if options.force else past_runs(vdir)
    todo = [part for part in parts if not settle(label, part, past, vdir, options.dry_run)]
    if not todo:
        say(label, f"done already ({vdir}), every part reused; --force reruns it")
        return
    if fdir is not None and not options.dry_run:
        _export_folded(model, intervention, fdir)
    for part in todo:
        say(label, part.command)
        if not options.dry_run:
            _run_part(part, vdir, label)


def check_intervention(variant: Variant, intervention: str | None, dry_run: bool) -> None:
    if variant.config.method == "none" and not variant.folded:
        return
    if not intervention:
        raise ValueError(f"Variant {variant.label} needs --intervention STATE (from `aura-eval learn`)")
    if not dry_run and not Path(intervention).is_file():
        raise FileNotFoundError(f"--intervention {intervention}: no such file (variant {variant.label} needs it)")


def clear(label: str, vdir: Path, fdir: Path | None, dry_run: bool) -> None:
    """--force: the variant's results and, for aura-folded, its cached checkpoint go."""
    targets = [path for path in (vdir, fdir) if path is not None and path.exists()]
    if not targets:
        return
    say(label, f"--force: {'would remove' if dry_run else 'removing'} {' and '.join(map(str, targets))}")
    if not dry_run:
        for path in targets:
            shutil.rmtree(path)


def _run_part(part: Part, vdir: Path, label: str) -> None:
    """Run one lm_eval process and write its run record beside the results file it wrote."""
    vdir.mkdir(parents=True, exist_ok=True)
    before = set(vdir.glob("results_*.json"))
    with open(vdir / COMPARE_MARKER, "a") as f:
        f.write(part.command + "\n")
    with open(vdir / "lm_eval.log", "a") as log:
        log.write(f"$ {part.command}\n")
        log.flush()
        returncode = _call_lm_eval(part.args, log)
    log_path = vdir / "lm_eval.log"
    if returncode != 0:
        tail = log_path.read_text()[-3000:]
        hint = (" (killed: out of memory? lower --batch-size / --ppl-batch-size or set --model-args max_length=...)"
                if returncode < 0 else "")
        raise RuntimeError(f"lm_eval failed for variant {label} (exit {returncode}){hint}; log {log_path}:\n{tail}")
    written = sorted(set(vdir.glob("results_*.json")) - before)
    if len(written) != 1:
        raise RuntimeError(f"lm_eval for variant {label} exited 0 but wrote {len(written)} results files in {vdir} "
                           f"(expected 1); see {log_path}")
    record = {"results": written[0].name, "tasks": part.tasks, "arguments": part.key}
    record_path(written[0]).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _call_lm_eval(args: list[str], log) -> int:
    proc = subprocess.run([sys.executable, "-m", "lm_eval", *args], stdout=log, stderr=subprocess.STDOUT,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode


def _short_path(path: Path) -> str:
    """Relative to the working directory when inside it, so recorded commands stay portable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- the folded checkpoint


def _folded_cache(model: ModelRef, intervention: str | None) -> Path:
    """Folded checkpoints are large: keep them in the cache, keyed by the model and the state file's content."""
    source = str(Path(model.source).resolve()) if Path(model.source).exists() else model.source
    state = Path(intervention).read_bytes() if intervention and Path(intervention).is_file() else b""
    digest = hashlib.sha256(b"\0".join([state, source.encode(), (model.gguf_file or "").encode()])).hexdigest()
    return cache_dir() / "folded" / f"{slug(model.name)}-{digest[:12]}"


def _export_folded(model: ModelRef, intervention: str, folded_dir: Path) -> None:
    """Export into a temporary folder and rename it when complete: a folder without the marker is unfinished."""
    if (folded_dir / FOLDED_MARKER).is_file():
        return
    if folded_dir.exists():
        say(FOLDED, f"{folded_dir} has no {FOLDED_MARKER} (an interrupted export): exporting again")
        shutil.rmtree(folded_dir)
    _remove_dead_partials(folded_dir)
    partial = folded_dir.with_name(f"{folded_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _write_folded(model, intervention, partial)
        marker = {"model": model.source, "gguf_file": model.gguf_file, "intervention_sha256": state_sha256(intervention)}
        (partial / FOLDED_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        partial.rename(folded_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _remove_dead_partials(folded_dir: Path) -> None:
    """Exports killed before they could clean up leave <name>.partial-<pid>: remove those of dead processes."""
    for partial in folded_dir.parent.glob(f"{folded_dir.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_folded(model: ModelRef, intervention: str, target: Path) -> None:
    from aura_eval.core.hooks import fold
    from aura_eval.core.intervention import Intervention
    from aura_eval.core.loading import load_model

    lm, tokenizer = load_model(model, device="cpu")
    fold(lm, Intervention.load(intervention, model=lm))
    lm.save_pretrained(target)
    tokenizer.save_pretrained(target)
