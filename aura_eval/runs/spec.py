"""The run spec: one lm_eval process of a comparison, typed, and the single source of truth about it.

A `RunSpec` says what decides the numbers (model and state file by content, the variant's method, tasks,
options, every data file by sha256, the task definitions' digest, the toxicity scorers and their weights,
the versions of aura-eval, lm-eval, transformers and torch). `Placement` says where things are on this
machine. The lm_eval command line is rendered from both (`lm_eval_args`); a run record stores only the
spec (`RunSpec.record()`, JSON without machine paths), and a past run is reused only when its recorded
spec equals the new one (`changes` says in words what differs).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aura_eval.core.config import InterventionConfig
from aura_eval.core.names import (
    DATA_DIR_KEY,
    DEFAULT_COMPARE_TASKS,
    FILE_KEY_SUFFIX,
    FOLDED_VARIANT,
    LM_EVAL_MODEL,
    SCORER_KEY,
)
from aura_eval.runs.layout import FOLDED_SOURCE_KEY

RESULTS_NAME = "results.json"  # lm-eval turns an --output_path ending in .json into results_<date>.json beside it
# model_args the variant or the model reference set: --model-args may not change what a row claims
RESERVED_MODEL_ARGS = ("pretrained", "gguf_file", "revision", "intervention", "method", "k", "alpha",
                       "strength", "rolling_batch_size")
SPEC_FORMAT = 2


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: an intervention config, applied by hooks or folded into the weights."""

    config: InterventionConfig
    folded: bool = False  # aura-folded: the exported checkpoint through plain `--model hf`

    @classmethod
    def parse(cls, text: str) -> Variant:
        if text.strip() == FOLDED_VARIANT:
            return cls(InterventionConfig("aura"), folded=True)
        return cls(InterventionConfig.parse(text))

    @property
    def label(self) -> str:
        return FOLDED_VARIANT if self.folded else self.config.label

    @property
    def needs_state(self) -> bool:
        return self.folded or self.config.method != "none"

    def method(self) -> dict:
        """The method this variant pins, recorded in its spec whatever the state file's header says; a
        strength other than 1 (`aura-s<S>`) too (at 1 it is left out, so full-strength records stay current)."""
        config = self.config
        method = {"method": config.method, "k": config.k, "alpha": config.alpha, "folded": self.folded}
        if config.strength != 1.0:
            method["strength"] = config.strength
        return method


@dataclass
class EvalOptions:
    """What every lm_eval run of one comparison shares (the CLI's `compare` / `demo` evaluation flags)."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_COMPARE_TASKS))
    data_dir: str | None = None
    scorer: str | None = None
    limit: float | None = None  # a whole number >= 1 (documents per task) or a fraction in (0, 1)
    batch_size: str = "64"  # lm_eval --batch_size: sampling and zero-shot requests
    ppl_batch_size: str = "4"  # perplexity windows: aura-hf's rolling_batch_size (--batch_size when alone)
    device: str | None = None
    log_samples: bool = True
    model_args: str | None = None  # extra lm-eval model_args for every variant (not the reserved ones)
    metadata: dict = field(default_factory=dict)  # extra task metadata (lm_eval --metadata)
    num_processes: int = 1  # > 1: data parallelism, each lm_eval run launched by torchrun (or accelerate)
    accelerate_config: str | None = None  # launch through `accelerate launch --config_file` instead of torchrun
    force: bool = False
    dry_run: bool = False

    def task_metadata(self) -> dict:
        """The metadata the lm_eval process gets: the user's, the data folder (absolute) and the scorer."""
        metadata = dict(self.metadata or {})
        if self.data_dir:
            metadata[DATA_DIR_KEY] = str(Path(self.data_dir).expanduser().resolve())
        if self.scorer:
            metadata[SCORER_KEY] = self.scorer
        return metadata

    def extra_model_args(self) -> dict[str, str]:
        return parse_model_args(self.model_args)

    def launcher(self) -> list[str]:
        """The program that starts lm_eval, after the Python interpreter: lm_eval itself, or a data-parallel launcher.

        torchrun's module is used as `python -m torch.distributed.run` so that the launched processes run
        this interpreter (the one aura-hf is registered in), whatever `torchrun` on the PATH belongs to.
        """
        if self.num_processes < 1:
            raise ValueError(f"--num-processes {self.num_processes}: must be 1 or more")
        if self.accelerate_config:
            return ["-m", "accelerate.commands.launch", "--config_file", self.accelerate_config,
                    "--num_processes", str(self.num_processes), "-m", "lm_eval"]
        if self.num_processes > 1:
            return ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(self.num_processes),
                    "-m", "lm_eval"]
        return ["-m", "lm_eval"]


def key_values(text: str | None) -> list[tuple[str, str | None]]:
    """lm-eval's "k=v,k=v" (split as lm-eval splits --model_args) as (key, value) pairs, empty items
    skipped; the value is None for an item without '='."""
    pairs = []
    for item in (text or "").split(","):
        if item.strip():
            key, eq, value = item.partition("=")
            pairs.append((key.strip(), value.strip() if eq else None))
    return pairs


def parse_model_args(text: str | None) -> dict[str, str]:
    """`--model-args key=value,...` as a dict; a malformed pair or a reserved key is a one-line refusal."""
    pairs: dict[str, str] = {}
    for key, value in key_values(text):
        if value is None or not key:
            item = key if value is None else f"={value}"
            raise ValueError(f"--model-args {text!r}: {item!r} is not key=value")
        if key == "rolling_batch_size":
            raise ValueError("--model-args may not set rolling_batch_size: compare sets it from --ppl-batch-size")
        if key in RESERVED_MODEL_ARGS:
            raise ValueError(f"--model-args may not set {key}: the model reference and the variant set it "
                             "(use --model, --gguf-file, --revision, --intervention or --variants)")
        pairs[key] = value
    return pairs


def limit_text(limit: float | None) -> str | None:
    """lm-eval's --limit as written: a whole number of documents, or a fraction below 1."""
    if limit is None:
        return None
    return str(int(limit)) if float(limit) >= 1 else repr(float(limit))


def check_limit(limit: float | None) -> float | int | None:
    """A whole number >= 1 or a fraction in (0, 1): lm-eval reads 1.5 as 1 document, which no report should claim."""
    if limit is None:
        return None
    value = float(limit)
    if 0 < value < 1:
        return value
    if value >= 1 and value.is_integer():
        return int(value)
    raise ValueError(f"--limit {limit:g}: must be a whole number >= 1 (documents per task) or a fraction in (0, 1)")


@dataclass(frozen=True)
class Placement:
    """Where the spec's things are on this machine; rendered into the command line, never recorded."""

    model_source: str  # Hub id or local folder
    gguf_file: str | None
    revision: str | None
    intervention: str | None  # state file path
    folded_dir: str | None  # aura-folded: the exported checkpoint in aura-eval's cache
    out_dir: Path  # the variant folder
    include_path: str  # aura-eval's tasks/


@dataclass(frozen=True)
class RunSpec:
    """What one lm_eval process computes; `record()` is its portable JSON form (no machine paths)."""

    variant: str
    method: dict
    model: dict  # identity: runs.identity.model_identity
    state: dict | None  # the state file by name + sha256 (None for base)
    tasks: tuple[str, ...]
    model_args: dict  # --model-args beyond what the variant and the model reference set
    options: dict  # batch_size, limit, device, log_samples, portable metadata
    data: dict  # every data file the tasks read, by kind: runs.identity.data_identities
    task_code: str  # runs.identity.task_code_digest
    scorers: dict  # the toxicity scorers the tasks use, by name: runs.identity.scorer_identity
    versions: dict  # aura-eval, lm-eval, transformers, torch

    def record(self) -> dict:
        return {"format": SPEC_FORMAT, **json.loads(json.dumps(asdict(self)))}

    @property
    def log_samples(self) -> bool:
        return bool(self.options.get("log_samples"))


def portable_metadata(metadata: dict, defaults: dict | None = None) -> dict:
    """The metadata that decides numbers, without what the spec names by content (data files, scorer) and
    without a value the tasks' YAMLs set anyway (`defaults`: runs.identity.metadata_defaults), so that
    `--metadata '{"rtp_seed": 1234}'` is the same run as no --metadata."""
    defaults = defaults or {}
    return {k: v for k, v in sorted(metadata.items())
            if k not in (DATA_DIR_KEY, SCORER_KEY) and not k.endswith(FILE_KEY_SUFFIX)
            and not (k in defaults and defaults[k] == v)}


def lm_eval_args(spec: RunSpec, place: Placement, options: EvalOptions) -> list[str]:
    """The `lm_eval` arguments (without the program name), rendered from the spec and where things are."""
    if spec.method["folded"]:
        model_type, margs = "hf", {"pretrained": place.folded_dir}
    else:
        model_type, margs = LM_EVAL_MODEL, {"pretrained": place.model_source}
        if place.gguf_file:
            margs["gguf_file"] = place.gguf_file
        if place.revision:
            margs["revision"] = place.revision
        method = spec.method["method"]
        margs["intervention"] = place.intervention if method != "none" else "none"
        margs["method"] = method
        if spec.method["k"] is not None:
            margs["k"] = str(spec.method["k"])
        if method == "damp":  # det_zero's alpha is 0 by definition
            margs["alpha"] = f"{spec.method['alpha']:g}"
        if spec.method.get("strength") is not None:  # recorded only when not 1 (Variant.method)
            margs["strength"] = f"{spec.method['strength']:g}"
    if spec.options.get("ppl_batch_size") is not None:  # one process for every task: the windows' own batch
        margs["rolling_batch_size"] = str(spec.options["ppl_batch_size"])
    margs.update(spec.model_args)
    args = ["--model", model_type, "--model_args", ",".join(f"{k}={v}" for k, v in margs.items()),
            "--include_path", place.include_path, "--tasks", ",".join(spec.tasks),
            "--batch_size", str(spec.options["batch_size"]), "--output_path", str(Path(place.out_dir) / RESULTS_NAME)]
    if spec.options.get("device"):
        args += ["--device", spec.options["device"]]
    if spec.options.get("limit") is not None:
        args += ["--limit", limit_text(spec.options["limit"])]
    metadata = options.task_metadata()
    if spec.method["folded"]:  # plain `hf` names no model: the report reads the source model from here
        metadata[FOLDED_SOURCE_KEY] = spec.model["name"]
    if metadata:
        args += ["--metadata", json.dumps(metadata, sort_keys=True)]
    if spec.log_samples:
        args.append("--log_samples")
    return args


def command_line(args: list[str], launcher: list[str] | None = None) -> str:
    """How to rerun it by hand: `lm_eval ...`, or `python -m <launcher> ... -m lm_eval ...`."""
    if not launcher or launcher == ["-m", "lm_eval"]:
        return "lm_eval " + shlex.join(args)
    return "python " + shlex.join([*launcher, *args])


# ----------------------------------------------------------------------------- what changed, in words


def changes(old: dict | None, new: dict) -> str:
    """Why a recorded spec no longer matches, e.g. "nontoxic.jsonl content changed; --limit 5 -> 3"."""
    if old is None:
        return "no run record beside it (compare was interrupted, or an older aura-eval wrote it)"
    if old.get("format") != new.get("format"):
        return "its run record is from an older aura-eval (no run spec)"
    said: list[str] = []
    for key in new:
        before, after = old.get(key), new.get(key)
        if before != after:
            said += describe(key, before, after)
    return "; ".join(dict.fromkeys(said)) or "run spec changed"


def describe(key: str, before: Any, after: Any) -> list[str]:
    before = before if before is not None else {}
    after = after if after is not None else {}
    if key == "data":
        return [data_change(kind, before.get(kind), after.get(kind)) for kind in sorted(set(before) | set(after))
                if before.get(kind) != after.get(kind)]
    if key == "model":
        if before.get("name") != after.get("name"):
            return [f"model {shown(before.get('name'))} -> {shown(after.get('name'))}"]
        if "sha256" in after:
            return ["model weights changed"]
        if before.get("revision") != after.get("revision"):
            return [f"model revision {shown(before.get('revision'))} -> {shown(after.get('revision'))}"]
        return [f"model commit {shown(before.get('commit'))} -> {shown(after.get('commit'))} (Hub cache)"]
    if key == "state":
        if not before or not after or before.get("file") != after.get("file"):
            return [f"state file {shown((before or {}).get('file'))} -> {shown((after or {}).get('file'))}"]
        return [f"{after['file']} content changed"]
    if key == "task_code":
        return ["task definitions changed (tasks/ or aura-eval's code)"]
    if key == "versions":
        return [f"{name} {shown(before.get(name))} -> {shown(after.get(name))}" for name in after
                if before.get(name) != after.get(name)]
    if key == "scorers":
        if set(before) != set(after):
            return [f"toxicity scorer {shown(','.join(before) or None)} -> {shown(','.join(after) or None)}"]
        return [f"toxicity scorer {name} weights changed" for name in after if before.get(name) != after.get(name)]
    if key == "options":
        said = []
        for name in sorted(set(before) | set(after)):
            if name == "metadata":
                said += [f"--metadata {sub} {shown(before.get(name, {}).get(sub))} -> {shown(after.get(name, {}).get(sub))}"
                         for sub in sorted(set(before.get(name, {})) | set(after.get(name, {})))
                         if before.get(name, {}).get(sub) != after.get(name, {}).get(sub)]
            elif before.get(name) != after.get(name):
                said.append(f"--{name} {shown(before.get(name))} -> {shown(after.get(name))}")
        return said
    if key == "model_args":
        return [f"--model-args {name} {shown(before.get(name))} -> {shown(after.get(name))}"
                for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]
    if key == "method":
        return [f"{name} {shown(before.get(name))} -> {shown(after.get(name))}"
                for name in ("method", "k", "alpha", "strength", "folded") if before.get(name) != after.get(name)]
    return [f"{key} changed"]


def data_change(kind: str, before: dict | None, after: dict | None) -> str:
    before, after = before or {}, after or {}
    same_file = before.get("file") and before.get("file") == after.get("file")
    if same_file and before.get("sha256") != after.get("sha256"):
        return f"{after['file']} content changed"
    if same_file:  # same name, same content: only where it lies changed
        return f"{after['file']} moved ({place_of(before)} -> {place_of(after)}, same content)"
    return f"{kind} data {source_of(before)} -> {source_of(after)}"


def place_of(identity: dict) -> str:
    relative = identity.get("in_data_dir")
    return f"{relative} in the data folder" if relative else "outside the data folder"


def source_of(identity: dict) -> str:
    if identity.get("file"):
        return identity.get("in_data_dir") or identity["file"]
    if identity.get("hub"):
        return f"hub:{identity['hub']}"
    return "skipped" if identity.get("skipped") else "unset"


def shown(value) -> str:
    if value is None or value == {}:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)

