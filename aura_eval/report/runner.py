"""`aura-eval compare`: one lm_eval run per variant (base, aura, damp / det_zero sweeps, folded), resumable.

Each variant runs as its own `lm_eval` process (clean memory, and a command line anyone can rerun),
into ``<out>/<model>/<variant>/``, where lm-eval writes its usual results JSON. The exact command is
saved beside it as ``command.txt``. A variant whose folder already holds a results file is skipped.
"""

from __future__ import annotations

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

DEFAULT_TASKS = ("aura_rtp", "aura_ppl_nontoxic", "aura_ppl_toxic")
FOLDED = "aura-folded"


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


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def finished_tasks(variant_dir: Path) -> set[str]:
    """Tasks (and groups) that some results file in `variant_dir` already holds."""
    done: set[str] = set()
    for path in variant_dir.rglob("results_*.json"):
        try:
            done |= set(json.loads(path.read_text()).get("results", {}))
        except (OSError, ValueError):
            continue
    return done


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
    """The `lm_eval` arguments for one variant (without the program name)."""
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
            "--tasks", ",".join(tasks), "--batch_size", str(batch_size), "--output_path", str(out_dir)]
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


def compare(
    model: str | ModelRef,
    intervention: str | None,
    variants: list[str],
    out: str | Path = "results",
    options: EvalOptions | None = None,
    folded_dir: str | None = None,
) -> Path:
    """Run every variant not yet done into ``<out>/<model name>/<variant>/``; returns the model's folder.

    Generation and zero-shot tasks run in one lm_eval process with `options.batch_size`, the perplexity
    tasks in a second one with `options.ppl_batch_size` (full-length windows times a large vocabulary fill
    memory fast).
    """
    options = options or EvalOptions()
    model = ModelRef.parse(model)
    parsed = [Variant.parse(v) for v in variants]
    model_dir = Path(out) / slug(model.name)
    include = _short_path(tasks_dir())
    for variant in parsed:
        vdir = model_dir / variant.label
        if options.force and not options.dry_run and vdir.exists():
            shutil.rmtree(vdir)
        todo = [part for part in split_tasks(list(options.tasks)) if not set(part) <= finished_tasks(vdir)]
        if not todo:
            print(f"[compare] {variant.label}: done already ({vdir}), skipping; --force reruns it")
            continue
        fdir = None
        if variant.folded:
            fdir = folded_dir or str(_folded_cache(model_dir.name, intervention))
            if not options.dry_run:
                _export_folded(model, intervention, fdir)
        for part in todo:
            bs = options.ppl_batch_size if part[0].startswith("aura_ppl") else options.batch_size
            args = lm_eval_args(variant, model, intervention, part, vdir, include, options, bs, fdir)
            command = "lm_eval " + shlex.join(args)
            print(f"[compare] {variant.label}: {command}", flush=True)
            if not options.dry_run:
                _run_lm_eval(args, command, vdir, variant.label)
    return model_dir


def _run_lm_eval(args: list[str], command: str, vdir: Path, label: str) -> None:
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / "command.txt", "a") as f:
        f.write(command + "\n")
    with open(vdir / "lm_eval.log", "a") as log:
        log.write(f"$ {command}\n")
        log.flush()
        proc = subprocess.run([sys.executable, "-m", "lm_eval", *args], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        tail = (vdir / "lm_eval.log").read_text()[-3000:]
        hint = " (killed: out of memory? lower --batch-size / --ppl-batch-size or set --model-args max_length=...)" if proc.returncode < 0 else ""
        raise RuntimeError(f"lm_eval failed for variant {label} (exit {proc.returncode}){hint}; log {vdir / 'lm_eval.log'}:\n{tail}")


def _short_path(path: Path) -> str:
    """Relative to the working directory when inside it, so recorded commands stay portable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _folded_cache(name: str, intervention: str | None) -> Path:
    """Folded checkpoints are large: keep them in the cache, keyed by the state file's content."""
    import hashlib

    digest = hashlib.sha256(Path(intervention).read_bytes()).hexdigest()[:12] if intervention and Path(intervention).is_file() else "none"
    return cache_dir() / "folded" / f"{name}-{digest}"


def _export_folded(model: ModelRef, intervention: str | None, folded_dir: str) -> None:
    if not intervention:
        raise ValueError("Variant aura-folded needs --intervention STATE")
    if (Path(folded_dir) / "config.json").is_file():
        return
    from aura_eval.core.hooks import fold
    from aura_eval.core.intervention import Intervention
    from aura_eval.core.loading import load_model

    lm, tokenizer = load_model(model, device="cpu")
    fold(lm, Intervention.load(intervention, model=lm))
    lm.save_pretrained(folded_dir)
    tokenizer.save_pretrained(folded_dir)
