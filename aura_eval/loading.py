"""Loading a Hugging Face causal LM and its tokenizer, from the Hub, a local folder or a GGUF file."""

from __future__ import annotations

from pathlib import Path


def split_gguf(model: str, gguf_file: str | None) -> tuple[str, str | None]:
    """Accept `--model path/to/file.gguf` as well as `--model DIR --gguf-file file.gguf`."""
    path = Path(model)
    if gguf_file is None and path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"No GGUF file at {model}")
        return str(path.parent), path.name
    return model, gguf_file


def display_name(model: str, gguf_file: str | None = None) -> str:
    """A short model name for reports: the Hub id, or the folder / GGUF file name of a local model."""
    model, gguf_file = split_gguf(model, gguf_file)
    if gguf_file:
        return Path(gguf_file).name.removesuffix(".gguf")
    path = Path(model)
    return path.name if path.exists() else model


def load_model(
    model: str,
    gguf_file: str | None = None,
    dtype: str = "auto",
    device: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
):
    """(model, tokenizer) in eval mode. `device` None picks CUDA when present; "auto" spreads the model
    over the available devices with accelerate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, gguf_file = split_gguf(model, gguf_file)
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
