"""Detoxify scorers (detoxify-original, -unbiased, -multilingual): loading their checkpoints safely.

By default the checkpoint comes from torch hub's cache (``<torch hub dir>/checkpoints/<file>.ckpt``,
downloaded once when missing) and the config/tokenizer from the Hugging Face Hub or its cache. On a
machine without network, name local copies: AURA_DETOXIFY_CHECKPOINT=<Detoxify's .ckpt> and
AURA_DETOXIFY_CONFIG_DIR=<the base model's HF folder with config.json and tokenizer files>. The checkpoint
is read with ``torch.load(weights_only=True)``: a file holding other Python objects is refused, never
executed, and the imports it asks for are named by reading its opcodes (`pickle_imports`).
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aura_eval.core.text import printable
from aura_eval.harness.scorers.base import OFFLINE_HINT, ScorerIdentity, ScorerLoadError, chunks, first_line
from aura_eval.harness.scorers.settings import (
    DETOXIFY_CHECKPOINT_ENV_VAR,
    DETOXIFY_CONFIG_ENV_VAR,
    batch_size,
    check_config_dir,
    detoxify_local_files,
    device,
    local_checkpoint,
)

logger = logging.getLogger(__name__)

# The transformers class of each Detoxify scorer's checkpoint; a checkpoint must match its scorer's name.
DETOXIFY_MODEL_CLASSES = {
    "original": "BertForSequenceClassification",
    "unbiased": "RobertaForSequenceClassification",
    "multilingual": "XLMRobertaForSequenceClassification",
}


class DetoxifyScorer:
    """Detoxify's `toxicity` output (sigmoid of a BERT/RoBERTa head trained on the Jigsaw challenges).

    Detoxify's own loader unpickles the checkpoint with weights_only=False and fetches the base model's config
    from the Hub even when given a local folder, so the files are read here (`load_detoxify_checkpoint`,
    `load_detoxify_model`) and scoring runs through Detoxify's own `predict`.
    """

    def __init__(self, variant: str, checkpoint: str = "", config_dir: str = ""):
        self.name = f"detoxify-{variant}"
        detoxify_class = _detoxify_class(self.name)
        path = local_checkpoint(checkpoint) if checkpoint else _cached_checkpoint(variant, self.name)
        config = Path(config_dir).expanduser() if config_dir else None
        if config is not None:
            check_config_dir(config)
        self.identity = ScorerIdentity.of_files(self.name, [path])  # hashed before loading: what was read
        loaded = load_detoxify_checkpoint(path)
        arch = detoxify_arch(loaded, path, variant)
        model, tokenizer = load_detoxify_model(arch, detoxify_state_dict(loaded, path), path, config)
        model.to(device()).eval()
        self._model = detoxify_class(model, tokenizer, detoxify_class_names(loaded, path), device())
        logger.info("Scorer %s: %s (sha256 %s), config from %s", self.name, printable(path), self.identity.sha256,
                    printable(config or arch["model_type"]))

    @classmethod
    def from_env(cls, variant: str) -> DetoxifyScorer:
        """The scorer with the local files named by AURA_DETOXIFY_CHECKPOINT / AURA_DETOXIFY_CONFIG_DIR, if set."""
        files = detoxify_local_files(f"detoxify-{variant}") or ("", "")
        return cls(variant, *files)

    def score(self, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for chunk in chunks(texts, batch_size()):
            out = self._model.predict(chunk)["toxicity"]
            scores.extend(out if isinstance(out, list) else [out])  # predict returns a float for one text
        return [float(s) for s in scores]


def _detoxify_class(name: str):
    """A `detoxify.Detoxify` built from a model we loaded, so that its `predict` is the one that scores."""
    try:
        from detoxify import Detoxify
    except ImportError as err:
        raise ScorerLoadError(
            f"The {name} scorer needs the 'detoxify' package: pip install detoxify. {OFFLINE_HINT}"
        ) from err

    class LoadedDetoxify(Detoxify):
        def __init__(self, model, tokenizer, class_names: list[str], device: str):  # no super(): it would load
            self.model, self.tokenizer, self.class_names, self.device = model, tokenizer, class_names, device

    return LoadedDetoxify


def detoxify_identity(name: str) -> ScorerIdentity:
    """The checkpoint the scorer would read (AURA_DETOXIFY_CHECKPOINT, else torch hub's cache), without loading
    it; before its first download, its file name with the sha256 "not downloaded yet"."""
    checkpoint = (detoxify_local_files(name) or ("", ""))[0]
    if checkpoint:
        return ScorerIdentity.of_files(name, [local_checkpoint(checkpoint)])
    path = detoxify_cache_path(name.removeprefix("detoxify-"))
    return ScorerIdentity.of_files(name, [path]) if path.is_file() else ScorerIdentity.not_downloaded(name, [path.name])


def detoxify_cache_path(variant: str) -> Path:
    """Where Detoxify's checkpoint lies in torch hub's cache (the file Detoxify itself uses): the URL's file name."""
    import torch

    try:
        from detoxify.detoxify import MODEL_URLS
    except ImportError as err:
        raise ScorerLoadError(
            f"The detoxify-{variant} scorer needs the 'detoxify' package: pip install detoxify. {OFFLINE_HINT}"
        ) from err
    return Path(torch.hub.get_dir()) / "checkpoints" / MODEL_URLS[variant].rsplit("/", 1)[-1]


def _cached_checkpoint(variant: str, name: str) -> Path:
    """Detoxify's checkpoint where torch hub caches it, downloaded when missing."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    url = MODEL_URLS[variant]
    path = detoxify_cache_path(variant)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), progress=False)
        except Exception as err:  # network errors of all kinds
            raise ScorerLoadError(
                f"Could not download the {name} checkpoint {url} to {path}: {first_line(err)}. "
                "Detoxify needs network once (then torch hub's cache); without it copy the file there or name it "
                f"with {DETOXIFY_CHECKPOINT_ENV_VAR}, and the base model's HF folder with {DETOXIFY_CONFIG_ENV_VAR}. "
                f"{OFFLINE_HINT}"
            ) from err
    return path


# torch words a refused import "Unsupported global: GLOBAL io.open ..." or "Trying to load unsupported GLOBAL
# posix.system whose module posix is blocked" (2.13); either way the name follows "GLOBAL".
_REFUSED_GLOBAL = re.compile(r"unsupported global:?\s+GLOBAL\s+([\w.]+)", re.IGNORECASE)
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
PICKLE_SCAN_LIMIT = 64 << 20  # bytes of pickle opcodes read to name an import; a checkpoint's pickle is small


def pickle_imports(path: Path) -> list[str]:
    """The `module.name` imports a pickle (or a torch zip file's data.pkl) asks for, read from its opcodes with
    pickletools, which executes nothing. Best effort, for messages: [] when the file cannot be parsed."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(name)[:PICKLE_SCAN_LIMIT] if name else b""
        else:
            with open(path, "rb") as fh:
                data = fh.read(PICKLE_SCAN_LIMIT)
        found, strings, memo = [], [], {}
        for op, arg, _ in pickletools.genops(data):
            if op.name in _STRING_OPS:
                strings.append(arg)
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                memo[arg] = strings[-1]
            elif op.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
                strings.append(memo[arg])
            elif op.name in ("GLOBAL", "INST"):
                found.append(".".join(str(arg).split(" ", 1)))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
        return found
    except Exception:  # a truncated or foreign file: nothing to name
        return []


def _plain_import(name: str) -> bool:
    """An import every torch.save file makes (tensor rebuilding, OrderedDict), which weights_only allows."""
    return name.startswith(("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set"))


def _refused_import(err: BaseException, path: Path) -> str | None:
    found = _REFUSED_GLOBAL.search(str(err))
    if found:
        return found.group(1).rstrip(".")
    return next((name for name in pickle_imports(path) if not _plain_import(name)), None)


def load_detoxify_checkpoint(path: Path) -> dict:
    """torch.load with weights_only=True: tensors and plain containers only, no code; refuse anything else."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _refused_import(err, path)
        if refused:
            raise ScorerLoadError(
                f"Refused the checkpoint {path}: it asks to import {printable(refused)} (not a plain tensor file); "
                "only an unsafe torch.load(weights_only=False) would do that, running code from the file. Re-save "
                "its 'config' and 'state_dict' as plain dicts of tensors on a machine you trust."
            ) from err
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(err))
        raise ScorerLoadError(
            f"Cannot read the checkpoint {path}: torch.load(weights_only=True) rejects it "
            f"({printable(detail.group(1).strip()) if detail else 'not a pickle of tensors'}). Expected Detoxify's "
            ".ckpt (a torch file with 'config' and 'state_dict')."
        ) from err
    except Exception as err:
        raise ScorerLoadError(
            f"Cannot read the checkpoint {path}: {first_line(err)}. Expected Detoxify's .ckpt "
            "(a torch file with 'config' and 'state_dict')."
        ) from err
    if not isinstance(loaded, Mapping) or not {"config", "state_dict"} <= set(loaded):
        keys = sorted(map(str, loaded)) if isinstance(loaded, Mapping) else type(loaded).__name__
        raise ScorerLoadError(
            f"The checkpoint {path} is not in Detoxify's format: expected a dict with 'config' and 'state_dict', "
            f"found {printable(repr(keys))}."
        )
    if not isinstance(loaded["config"], Mapping):
        raise ScorerLoadError(
            f"The checkpoint {path}: 'config' is a {type(loaded['config']).__name__}, not a dict; Detoxify's "
            ".ckpt has config.arch.args and config.dataset.args."
        )
    return dict(loaded)


def detoxify_state_dict(loaded: Mapping, path: Path) -> dict:
    """The checkpoint's weights: a dict of parameter name -> tensor, or a one-line error saying what it is."""
    import torch

    state_dict = loaded["state_dict"]
    if not isinstance(state_dict, Mapping):
        raise ScorerLoadError(
            f"The checkpoint {path}: 'state_dict' is a {type(state_dict).__name__}, not a dict of parameter "
            "name -> tensor (as Detoxify's .ckpt holds)."
        )
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ScorerLoadError(
                f"The checkpoint {path}: state_dict[{printable(repr(key)):.80}] is a {type(value).__name__}; "
                "'state_dict' must map parameter names (strings) to tensors."
            )
    if not state_dict:
        raise ScorerLoadError(f"The checkpoint {path}: 'state_dict' is empty; it holds no weights.")
    return dict(state_dict)


def _field(loaded: Mapping, path: Path, *keys: str) -> Any:
    value: Any = loaded
    for depth, key in enumerate(keys):
        if depth and not isinstance(value, Mapping):
            raise ScorerLoadError(
                f"The checkpoint {path}: {'.'.join(keys[:depth])} is a {type(value).__name__}, not a dict; "
                "Detoxify's .ckpt has config.arch.args (model_type, model_name, tokenizer_name, num_classes) and "
                "config.dataset.args.classes."
            )
        if key not in value:
            raise ScorerLoadError(
                f"The checkpoint {path} lacks {'.'.join(keys[: depth + 1])}; Detoxify's .ckpt has "
                "config.arch.args (model_type, model_name, tokenizer_name, num_classes) and config.dataset.args.classes."
            )
        value = value[key]
    return value


def detoxify_arch(loaded: Mapping, path: Path, variant: str) -> dict[str, Any]:
    """config.arch.args of the checkpoint, checked: the model class must be the one of the scorer's variant."""
    arch = {key: _field(loaded, path, "config", "arch", "args", key) for key in
            ("model_type", "model_name", "tokenizer_name", "num_classes")}
    expected = DETOXIFY_MODEL_CLASSES[variant]
    if arch["model_name"] != expected:
        others = [f"detoxify-{v}" for v, cls in DETOXIFY_MODEL_CLASSES.items() if cls == arch["model_name"]]
        hint = f"; it fits {others[0]}" if others else ""
        raise ScorerLoadError(
            f"The checkpoint {path} holds a {arch['model_name']!r:.80}, but detoxify-{variant} is a {expected}{hint}."
        )
    for key in ("model_type", "tokenizer_name"):
        if not isinstance(arch[key], str) or not arch[key]:
            raise ScorerLoadError(f"The checkpoint {path}: config.arch.args.{key} is {arch[key]!r:.80}, not a name.")
    if not isinstance(arch["num_classes"], int) or isinstance(arch["num_classes"], bool) or arch["num_classes"] < 1:
        raise ScorerLoadError(f"The checkpoint {path}: config.arch.args.num_classes is {arch['num_classes']!r:.80}.")
    return arch


# Detoxify's names for the first Jigsaw challenge's labels, so that every checkpoint has a "toxicity" output.
JIGSAW_NAMES = {"toxic": "toxicity", "severe_toxic": "severe_toxicity", "identity_hate": "identity_attack"}


def detoxify_class_names(loaded: Mapping, path: Path) -> list[str]:
    """The names of the first outputs, renamed as Detoxify does (JIGSAW_NAMES); exactly one must be toxicity.

    There may be fewer names than outputs (Detoxify's unbiased model trains 16 outputs, identities included,
    and its predict names only the first ones), never more."""
    classes = _field(loaded, path, "config", "dataset", "args", "classes")
    num_classes = _field(loaded, path, "config", "arch", "args", "num_classes")
    names = None
    if isinstance(classes, list) and all(isinstance(c, str) for c in classes):
        names = [JIGSAW_NAMES.get(c, c) for c in classes]
    if names is None or len(names) > num_classes or names.count("toxicity") != 1:
        raise ScorerLoadError(
            f"The checkpoint {path}: config.dataset.args.classes is {classes!r:.200}; expected at most {num_classes} "
            "class names (config.arch.args.num_classes) with exactly one 'toxic' or 'toxicity'."
        )
    return names


def load_detoxify_model(arch: Mapping[str, Any], state_dict: Mapping, path: Path, config_dir: Path | None):
    """The classifier and tokenizer of a Detoxify checkpoint; config and tokenizer from `config_dir` when given,
    else from the Hub (or its cache) under the checkpoint's model_type. Every weight must come from the file."""
    import transformers

    model_class = getattr(transformers, arch["model_name"])
    tokenizer_class = getattr(transformers, arch["tokenizer_name"], None)
    if tokenizer_class is None or not hasattr(tokenizer_class, "from_pretrained"):
        raise ScorerLoadError(f"The checkpoint {path}: config.arch.args.tokenizer_name {arch['tokenizer_name']!r} "
                              "is not a transformers tokenizer class.")
    source = str(config_dir) if config_dir is not None else arch["model_type"]
    if config_dir is not None:
        _check_tokenizer_files(config_dir, tokenizer_class)
    try:
        config = model_class.config_class.from_pretrained(source, num_labels=arch["num_classes"])
        tokenizer = tokenizer_class.from_pretrained(source)
    except Exception as err:
        raise ScorerLoadError(
            f"Could not load the config/tokenizer {source!r} for {path.name}: {first_line(err)}. Without network, "
            f"copy the base model's Hugging Face folder and name it with {DETOXIFY_CONFIG_ENV_VAR}. {OFFLINE_HINT}"
        ) from err
    try:
        model, info = model_class.from_pretrained(None, config=config, state_dict=dict(state_dict),
                                                  output_loading_info=True, ignore_mismatched_sizes=True)
    except Exception as err:  # weights transformers cannot take at all (dtype, a shape it does not compare)
        raise ScorerLoadError(
            f"The checkpoint {path} does not fit a {arch['model_name']} configured by {source}: {first_line(err)}."
        ) from err
    check_detoxify_fit(path, info, f"a {arch['model_name']} configured by {source}")
    tokenizer.model_max_length = min(512, tokenizer.model_max_length or 512)  # texts past 512 tokens: truncated
    return model, tokenizer


def check_detoxify_fit(path: Path, loading_info: Mapping[str, Any], model: str) -> None:
    """Every weight of the model must come from the checkpoint: none missing, none of another shape."""
    missing = sorted(loading_info.get("missing_keys") or ())
    other_shape = sorted(
        f"{key[0]} {list(key[1])} vs {list(key[2])}" if isinstance(key, tuple) and len(key) == 3 else str(key)
        for key in loading_info.get("mismatched_keys") or ()
    )
    if not missing and not other_shape:
        return
    problems = [f"{len(missing)} weights missing, e.g. {printable(', '.join(missing[:3]))}"] if missing else []
    problems += [f"{len(other_shape)} of another shape, e.g. {printable(', '.join(other_shape[:3]))}"] if other_shape else []
    raise ScorerLoadError(
        f"The checkpoint {path} does not fit {model} (another architecture or size?): {'; '.join(problems)}. "
        "Use the checkpoint and the config folder of the same base model."
    )


def _check_tokenizer_files(folder: Path, tokenizer_class) -> None:
    """transformers builds an empty-vocabulary tokenizer from a folder without its files: refuse that folder."""
    names = dict(getattr(tokenizer_class, "vocab_files_names", {}) or {})
    fast = names.pop("tokenizer_file", None)
    if (fast and (folder / fast).is_file()) or (names and all((folder / n).is_file() for n in names.values())):
        return
    needed = " + ".join(names.values()) or "?"
    raise ScorerLoadError(
        f"{DETOXIFY_CONFIG_ENV_VAR}={folder}: no tokenizer files for {tokenizer_class.__name__}; it needs "
        f"{fast or 'tokenizer.json'} or {needed} (copy them from the base model's Hugging Face folder)."
    )


