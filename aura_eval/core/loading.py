"""Loading a Hugging Face causal LM and its tokenizer, from the Hub, a local folder or a GGUF file."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aura_eval.core.files import cache_dir, cached_folder, cached_sha256, sha256_lines
from aura_eval.core.names import DEQUANTIZED_MARKER, STRICT_MODEL_ENV

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A model as the user named it, normalised once: where it loads from and what reports call it.

    ``ModelRef.parse("path/to/file.gguf")`` and ``ModelRef.parse("path/to", "file.gguf")`` are the same
    model; `name` is the Hub id, or the folder / GGUF file name of a local model (never a full path).
    """

    source: str  # Hub id or local folder
    gguf_file: str | None
    name: str
    revision: str | None = None  # Hub revision (branch, tag or commit) of a Hub id

    @classmethod
    def parse(cls, model: str | ModelRef, gguf_file: str | None = None, name: str | None = None,
              revision: str | None = None) -> ModelRef:
        if isinstance(model, ModelRef):
            if name is None and revision is None:
                return model
            return cls(model.source, model.gguf_file, name or model.name, revision or model.revision)
        if not model or not str(model).strip():
            raise ValueError("a model is needed: a Hub id, a local folder, or a .gguf file")
        model = str(model)
        path = Path(model)
        if gguf_file is None and path.suffix == ".gguf":
            if not path.is_file():
                raise FileNotFoundError(f"No GGUF file at {model}")
            model, gguf_file = str(path.parent), path.name
        return cls(model, gguf_file, name or cls.name_of(model, gguf_file), revision)

    @staticmethod
    def name_of(source: str, gguf_file: str | None = None, local: bool | None = None) -> str:
        """What a model is called: the GGUF file's stem, a local folder's name, or the Hub id (`local`:
        whether `source` is a local path; by default, whether it exists here)."""
        if gguf_file:
            return Path(gguf_file).name.removesuffix(".gguf")
        return Path(source).name if (Path(source).exists() if local is None else local) else source

    @property
    def local_dir(self) -> Path | None:
        """The local folder the model loads from (for a GGUF file: the folder holding it); None for a Hub id."""
        path = Path(self.source).expanduser()
        return path.resolve() if path.is_dir() else None


NOT_MODEL_FILES = (".md", ".lock", ".log")  # a README or a lock beside the weights changes no number


def model_files(folder: Path) -> list[Path]:
    """The files of a local model folder that make the model (not hidden files, READMEs, locks or logs)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")
                   and not p.name.endswith(NOT_MODEL_FILES))
    if not files:
        raise FileNotFoundError(f"--model {folder}: the folder holds no files")
    return files


def files_digest(files: list[Path]) -> str:
    """One file: its sha256; several: sha256 of their "<sha256>  <name>" lines (each file hashed once per
    size and mtime, see core.files.cached_sha256)."""
    files = list(files)
    if len(files) == 1:
        return cached_sha256(files[0])
    return sha256_lines({f.name: cached_sha256(f) for f in files})


def model_digest(ref: ModelRef) -> str | None:
    """The content digest of a local model (its GGUF file, or its folder's files); None for a Hub id."""
    local = ref.local_dir
    if local is None:
        return None
    if ref.gguf_file:
        path = local / ref.gguf_file
        if not path.is_file():
            raise FileNotFoundError(f"--model {ref.source}: no GGUF file {ref.gguf_file} in it")
        return files_digest([path])
    return files_digest(model_files(local))


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """Whether `path` is `folder` or lies below it, after resolving symlinks and `..`."""
    path, folder = Path(path).expanduser().resolve(), Path(folder).expanduser().resolve()
    return path == folder or folder in path.parents


def check_can_create(path: str | Path, what: str) -> None:
    """Fail now, before minutes of work, when `path` could not be written: its parent must be a
    writable folder, or be creatable below the nearest existing folder."""
    path = Path(path).expanduser().absolute()
    parent = path.parent
    existing = next(p for p in (parent, *parent.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{what} {path}: {existing} is a file, not a folder; choose a path in a folder")
    if existing == parent:
        try:  # a probe, since os.access says yes to root even on read-only mounts
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as e:
            raise ValueError(f"{what} {path}: cannot write in folder {parent} ({e.strerror}); choose a writable folder") from None
    elif not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: cannot create folder {parent} (no write permission in {existing})")


def hub_cache_dirs() -> list[Path]:
    """Where huggingface_hub keeps the models it downloads: $HF_HUB_CACHE (or the older
    $HUGGINGFACE_HUB_CACHE), $HF_HOME/hub, and the folder huggingface_hub settled on when it was imported."""
    from huggingface_hub import constants

    found = [os.environ.get("HF_HUB_CACHE"), os.environ.get("HUGGINGFACE_HUB_CACHE"),
             os.environ.get("HF_HOME") and str(Path(os.environ["HF_HOME"]) / "hub"), constants.HF_HUB_CACHE]
    return list(dict.fromkeys(Path(p).expanduser().resolve() for p in found if p))


def check_not_in_hub_cache(out: str | Path, what: str = "--out") -> None:
    """Refuse `out` inside the Hugging Face cache (a Hub model's snapshot, its repo folder, `hub/` itself)
    or holding it: those are models' own files, shared by every program of this machine."""
    for hub in hub_cache_dirs():
        if is_inside(out, hub) or is_inside(hub, out):
            raise ValueError(f"{what} {out} is, holds or lies inside the Hugging Face cache {hub} (downloaded "
                             "models' own files): aura-eval never writes there (--overwrite does not allow this); "
                             "choose another path")


def load_model(
    model: str | ModelRef,
    dtype: str = "auto",
    device: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
):
    """(model, tokenizer) in eval mode. `device` None picks CUDA when present; "auto" spreads the model
    over the available devices with accelerate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref = ModelRef.parse(model)
    model, gguf_file = ref.source, ref.gguf_file
    if Path(model).exists() and gguf_file and not (Path(model) / gguf_file).is_file():
        raise FileNotFoundError(f"No GGUF file {gguf_file} in {model}")
    common = {"revision": revision, "trust_remote_code": trust_remote_code}
    if gguf_file:
        common["gguf_file"] = gguf_file
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs = {"dtype": torch_dtype, **common}
    if device == "auto":
        kwargs["device_map"] = "auto"
    lm = AutoModelForCausalLM.from_pretrained(model, **kwargs)
    if device != "auto":
        lm = lm.to(device)
    tokenizer = AutoTokenizer.from_pretrained(model, **common)
    return lm.eval(), tokenizer


# -- GGUF files de-quantised once ------------------------------------------------------------------


def save_plain(lm, tokenizer, folder: str | Path) -> None:
    """`save_pretrained` of a model and its tokenizer; a model loaded from a GGUF file is saved as the plain
    float checkpoint it is in memory (transformers de-quantised it on load, but still marks it GGUF-quantised,
    refuses to save it, and would write a config asking to de-quantise again). Other quantisations are left
    to transformers, which saves them or says why not."""
    quantizer = getattr(lm, "hf_quantizer", None)
    if quantizer is not None and str(getattr(getattr(lm.config, "quantization_config", None), "quant_method", "")) in (
            "gguf", "QuantizationMethod.GGUF"):
        lm.hf_quantizer = None
        del lm.config.quantization_config
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def dequantized_gguf(ref: ModelRef, trust_remote_code: bool = False) -> Path | None:
    """A local folder holding the GGUF model `ref` de-quantised (float32 safetensors, config, tokenizer), made
    once and then reused: transformers de-quantises a GGUF file on every load (about 18 s for SmolLM2-135M
    on 2 cores), loading safetensors takes a fraction of that. Kept in `cache_dir()/gguf-dequantized/`,
    keyed by the GGUF file's sha256 and the transformers version that de-quantised it, and verified on
    every use (see `core.files.cached_folder`: a damaged copy is built again, concurrent writers are safe).
    None, with a warning, when the cache cannot be written: the caller loads the GGUF file itself."""
    import transformers

    if not ref.gguf_file:
        raise ValueError(f"{ref.source}: not a GGUF model (no gguf_file)")
    gguf = Path(ref.source) / ref.gguf_file
    if not gguf.is_file():
        raise FileNotFoundError(f"No GGUF file {ref.gguf_file} in {ref.source}")
    digest = cached_sha256(gguf)  # hashed once per size and mtime
    target = cache_dir() / "gguf-dequantized" / f"{digest[:16]}-transformers-{transformers.__version__}"

    def build(folder: Path) -> dict:
        lm, tokenizer = load_model(ref, dtype="float32", device="cpu", trust_remote_code=trust_remote_code)
        save_plain(lm, tokenizer, folder)
        return {"gguf_file": gguf.name, "sha256": digest, "transformers": transformers.__version__}

    return cached_folder(target, build, DEQUANTIZED_MARKER, f"the de-quantised copy of {gguf.name}")


# -- what a state file was learned on ----------------------------------------------------------------
def model_mismatch(meta: dict, ref: ModelRef, state_name: str) -> str | None:
    """A one-line warning when the state file's header records a `model_sha256` (learned on a local model
    or GGUF file) other than the content digest of `ref`, else None (equal, or either is a Hub id).
    With $AURA_EVAL_STRICT_MODEL=1 the mismatch is refused (ValueError) instead."""
    recorded = meta.get("model_sha256")
    if not isinstance(recorded, str) or not recorded:
        return None
    digest = model_digest(ref)
    if digest is None or digest == recorded:
        return None
    message = (f"{state_name} was learned on {meta.get('model_name')!r} (sha256 {recorded[:16]}), but the model "
               f"evaluated is {ref.name!r} (sha256 {digest[:16]}): its AUROCs belong to other weights")
    if os.environ.get(STRICT_MODEL_ENV, "").strip().lower() in ("1", "true", "yes"):
        raise ValueError(f"{message}; refused ({STRICT_MODEL_ENV}={os.environ[STRICT_MODEL_ENV]})")
    return message
