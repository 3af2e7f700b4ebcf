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
from dataclasses import dataclass
from pathlib import Path

from .intervention import variant_label

DEFAULT_TASKS = ("aura_rtp", "aura_ppl_nontoxic", "aura_ppl_toxic")
_VARIANT = re.compile(r"^(?P<method>base|aura|aura-folded|damp|det_zero)(?:-k(?P<k>\d+))?(?:-a(?P<alpha>[0-9.]+))?$")


@dataclass(frozen=True)
class Variant:
    method: str  # base | aura | aura-folded | damp | det_zero
    k: int | None = None
    alpha: float | None = None

    @classmethod
    def parse(cls, text: str) -> "Variant":
        m = _VARIANT.match(text.strip())
        if not m:
            raise ValueError(
                f"Bad variant {text!r}: use base, aura, aura-folded, damp-k<K>[-a<ALPHA>] or det_zero-k<K> "
                "(e.g. damp-k500-a0.5, det_zero-k200)"
            )
        method, k, alpha = m["method"], m["k"], m["alpha"]
        if method in ("damp", "det_zero") and k is None:
            raise ValueError(f"Variant {text!r} needs k, e.g. {method}-k500")
        if method not in ("damp", "det_zero") and (k or alpha):
            raise ValueError(f"Variant {text!r}: only damp and det_zero take k / alpha")
        if method == "det_zero" and alpha:
            raise ValueError(f"Variant {text!r}: det_zero sets units to 0 and takes no alpha")
        return cls(method, int(k) if k else None, float(alpha) if alpha else (0.5 if method == "damp" else None))

    @property
    def label(self) -> str:
        return variant_label(self.method, self.k, self.alpha)


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
    model: str,
    gguf_file: str | None,
    intervention: str | None,
    tasks: list[str],
    out_dir: Path,
    include_path: str,
    metadata: dict,
    limit: float | None,
    batch_size: str,
    device: str | None,
    log_samples: bool,
    folded_dir: str | None = None,
    extra_model_args: str | None = None,
) -> list[str]:
    """The `lm_eval` arguments for one variant (without the program name)."""
    if variant.method == "aura-folded":
        model_type, margs = "hf", [f"pretrained={folded_dir}"]
    else:
        model_type, margs = "aura-hf", [f"pretrained={model}"]
        if gguf_file:
            margs.append(f"gguf_file={gguf_file}")
        if variant.method == "base":
            margs.append("intervention=none")
        else:
            if not intervention:
                raise ValueError(f"Variant {variant.label} needs --intervention STATE (from `aura-eval learn`)")
            margs.append(f"intervention={intervention}")
            if variant.method in ("damp", "det_zero"):
                margs += [f"method={variant.method}", f"k={variant.k}"]
                if variant.method == "damp":
                    margs.append(f"alpha={variant.alpha:g}")
    if extra_model_args:
        margs.append(extra_model_args)
    args = ["--model", model_type, "--model_args", ",".join(margs), "--include_path", include_path,
            "--tasks", ",".join(tasks), "--batch_size", str(batch_size), "--output_path", str(out_dir)]
    if device:
        args += ["--device", device]
    if limit is not None:
        args += ["--limit", f"{limit:g}"]
    if metadata:
        args += ["--metadata", json.dumps(metadata, sort_keys=True)]
    if log_samples:
        args.append("--log_samples")
    return args


def compare(
    model: str,
    intervention: str | None,
    variants: list[str],
    out: str | Path = "results",
    tasks: list[str] | None = None,
    gguf_file: str | None = None,
    model_name: str | None = None,
    data_dir: str | None = None,
    scorer: str | None = None,
    limit: float | None = None,
    batch_size: str = "64",
    device: str | None = None,
    log_samples: bool = False,
    folded_dir: str | None = None,
    extra_model_args: str | None = None,
    task_metadata: dict | None = None,
    force: bool = False,
    dry_run: bool = False,
    ppl_batch_size: str = "4",
) -> Path:
    """Run every variant not yet done; returns the model's results folder.

    Generation and zero-shot tasks run in one lm_eval process with `batch_size`, the perplexity tasks in a
    second one with `ppl_batch_size` (full-length windows times a large vocabulary fill memory fast).
    """
    from .cli import tasks_dir
    from .loading import display_name, split_gguf

    model, gguf_file = split_gguf(model, gguf_file)
    parsed = [Variant.parse(v) for v in variants]
    tasks = list(tasks or DEFAULT_TASKS)
    model_dir = Path(out) / slug(model_name or display_name(model, gguf_file))
    metadata = dict(task_metadata or {})
    if data_dir:
        metadata["data_dir"] = str(Path(data_dir).resolve())
    if scorer:
        metadata["toxicity_scorer"] = scorer
    include = _short_path(tasks_dir())
    for variant in parsed:
        vdir = model_dir / variant.label
        if force and not dry_run and vdir.exists():
            shutil.rmtree(vdir)
        todo = [part for part in split_tasks(tasks) if not set(part) <= finished_tasks(vdir)]
        if not todo:
            print(f"[compare] {variant.label}: done already ({vdir}), skipping; --force reruns it")
            continue
        fdir = None
        if variant.method == "aura-folded":
            fdir = folded_dir or str(_folded_cache(model_dir.name, intervention))
            if not dry_run:
                _export_folded(model, gguf_file, intervention, fdir)
        for part in todo:
            bs = ppl_batch_size if part[0].startswith("aura_ppl") else batch_size
            args = lm_eval_args(variant, model, gguf_file, intervention, part, vdir, include, metadata, limit,
                                bs, device, log_samples, fdir, extra_model_args)
            command = "lm_eval " + shlex.join(args)
            print(f"[compare] {variant.label}: {command}", flush=True)
            if not dry_run:
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

    from .demo import cache_dir

    digest = hashlib.sha256(Path(intervention).read_bytes()).hexdigest()[:12] if intervention and Path(intervention).is_file() else "none"
    return cache_dir() / "folded" / f"{name}-{digest}"


def _export_folded(model: str, gguf_file: str | None, intervention: str | None, folded_dir: str) -> None:
    if not intervention:
        raise ValueError("Variant aura-folded needs --intervention STATE")
    if (Path(folded_dir) / "config.json").is_file():
        return
    from .hooks import fold
    from .intervention import Intervention
    from .loading import load_model

    lm, tokenizer = load_model(model, gguf_file, device="cpu")
    fold(lm, Intervention.load(intervention, model=lm))
    lm.save_pretrained(folded_dir)
    tokenizer.save_pretrained(folded_dir)
