"""Learning an intervention: sentences -> pooled responses -> per-unit AUROC -> state file."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aura_eval import __version__
from aura_eval.core.auroc import auroc as compute_auroc
from aura_eval.core.config import InterventionConfig
from aura_eval.core.experts import ExpertUnits
from aura_eval.core.files import sha256_file
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.labelled import balanced_sample, data_hash, load_labelled
from aura_eval.core.loading import (
    ModelRef,
    check_can_create,
    check_not_in_hub_cache,
    is_inside,
    load_model,
    model_digest,
)
from aura_eval.core.modules import output_width, parse_patterns, preset_for, resolve_modules, unit_shape
from aura_eval.core.responses import collect_responses

log = logging.getLogger(__name__)


# Where a config states how many positions the model has, under the names transformers' configs use.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")
NO_TOKENIZER_LIMIT = 10**6  # transformers' stand-in for "no limit" is ~1e30; anything this large says nothing
# An expert unit reached by fewer sentences of either class than this keeps alpha 1 (AUROC NaN in the state file).
MIN_EXPERT_SENTENCES = 5


def model_context(model, tokenizer=None) -> int | None:
    """How many tokens the model takes: the smallest position count its config states, else the tokenizer's
    model_max_length when that is a real limit, else None (unknown)."""
    config = getattr(model, "config", None)
    stated = [getattr(config, key, None) for key in CONTEXT_KEYS]
    stated = [n for n in stated if isinstance(n, int) and not isinstance(n, bool) and n > 0]
    if stated:
        return min(stated)
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < NO_TOKENIZER_LIMIT else None


def fit_max_length(max_length: int | None, model, tokenizer=None) -> int | None:
    """`max_length` clamped to the model's context (longer inputs index past its position table), with a
    one-line note when the request was longer; None (no truncation) becomes the context when it is known."""
    context = model_context(model, tokenizer)
    if context is None or (max_length is not None and max_length <= context):
        return max_length
    if max_length is not None:
        log.warning("max length %d (--max-length) is more than the model's %d positions: sentences are cut to %d tokens",
                    max_length, context, context)
    return context


def char_cap(tokenizer, max_length: int | None) -> int | None:
    """How many characters of a text the first `max_length` tokens can cover, with room to spare: a token
    stands for at most its longest vocabulary entry's characters (byte-level and SentencePiece vocabularies
    spell each byte or character of the text as at least one character), times 4 for normalisers that merge
    characters, plus 2 tokens of specials. None (no cap) without a max length or a vocabulary."""
    try:
        longest = max(map(len, tokenizer.get_vocab()), default=0)
    except (AttributeError, NotImplementedError, TypeError):
        return None
    return 4 * longest * (max_length + 2) if max_length is not None and longest else None


def capped_texts(texts: list[str], tokenizer, max_length: int | None) -> list[str]:
    """`texts` cut to `char_cap` characters before tokenising, so the tokenizer never sees a megabyte of text
    that truncation would drop anyway (the tokens kept are the same)."""
    cap = char_cap(tokenizer, max_length)
    return texts if cap is None else [text[:cap] for text in texts]


def learn_from_model(
    model,
    tokenizer,
    rows: list[tuple[str, int]],
    modules: str | list[str] | None = None,
    pooling: str = "max",
    batch_size: int = 16,
    max_length: int | None = 128,
    config: InterventionConfig | None = None,
    meta: dict | None = None,
    progress: bool = True,
    min_expert_sentences: int = MIN_EXPERT_SENTENCES,
    scratch_dir: str | Path | None = None,
    auroc_chunk_units: int = 8192,
) -> Intervention:
    """Learn on an already loaded model; `rows` are (text, label) with label 1 = toxic.

    The responses go to a memory-mapped file in a temporary folder (under `scratch_dir`, else the system's
    temporary folder) and are scored module by module, a chunk of units at a time, so memory holds about
    one batch of one module's pooled outputs and one chunk (`auroc_chunk_units`) of scores, not every
    module's responses (README, "Memory")."""
    if isinstance(min_expert_sentences, bool) or not isinstance(min_expert_sentences, int) or min_expert_sentences < 1:
        raise ValueError(f"min_expert_sentences must be a whole number >= 1, got {min_expert_sentences!r}")
    labels = [label for _, label in rows]
    n_toxic = sum(labels)
    if n_toxic == 0 or n_toxic == len(labels):
        raise ValueError(f"AurA needs both classes; got {n_toxic} toxic and {len(labels) - n_toxic} non-toxic sentences")
    if min(n_toxic, len(labels) - n_toxic) == 1:
        log.warning("learning from %d toxic and %d non-toxic sentences: with one sentence in a class every AUROC "
                    "is 0, 0.5 or 1, so the experts are chance; give more sentences", n_toxic, len(labels) - n_toxic)
    max_length = fit_max_length(max_length, model, tokenizer)
    texts = capped_texts([t for t, _ in rows], tokenizer, max_length)
    patterns = parse_patterns(modules) or preset_for(model)
    hooked = resolve_modules(model, patterns)
    t0 = time.perf_counter()
    widths = [output_width(m) for m in hooked.values()]
    per_module = {}
    with tempfile.TemporaryDirectory(prefix="aura-responses-", dir=scratch_dir) as scratch:
        stored = np.memmap(Path(scratch) / "responses.f32", dtype=np.float32, mode="w+", shape=(len(rows), sum(widths)))
        responses = torch.from_numpy(stored)
        collect_responses(model, tokenizer, texts, hooked, pooling, batch_size, max_length, progress,
                          out=responses)
        t1 = time.perf_counter()
        offset = 0
        for (name, site), width in zip(hooked.items(), widths):
            expert = isinstance(site, ExpertUnits)  # NaN: no response (its expert did not see the sentence)
            scores = compute_auroc(responses[:, offset : offset + width], torch.tensor(labels), auroc_chunk_units,
                                   missing=expert, min_per_class=min_expert_sentences if expert else 1)
            per_module[name] = scores.reshape(unit_shape(site))
            offset += width
        del responses, stored
    t2 = time.perf_counter()
    info = {
        "aura_eval_version": __version__,
        "fingerprint": model_fingerprint(model, list(hooked)),
        "module_patterns": patterns,
        "pooling": pooling,
        "max_length": max_length,
        **({"min_expert_sentences": min_expert_sentences} if any(isinstance(m, ExpertUnits) for m in hooked.values()) else {}),
        "n_toxic": n_toxic,
        "n_nontoxic": len(labels) - n_toxic,
        "data_hash": data_hash(rows),
        "timings_s": {"responses": round(t1 - t0, 3), "auroc": round(t2 - t1, 3)},
        **(meta or {}),
    }
    return Intervention.from_auroc(per_module, config, info)


def check_state_out(out: str | Path, model: ModelRef, data: str, overwrite: bool = False) -> Path:
    """Refuse, before any data or model is loaded, an output that would destroy something: an existing
    file (unless `overwrite`), and, even with `overwrite`, a path inside the local model folder (a new
    `model.safetensors` there would replace the model's weights) or the Hugging Face cache (a Hub model's
    own files), a GGUF model file, or the learning data."""
    out = Path(out).expanduser()
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the state file's path, e.g. {out / 'aura.safetensors'}")
    model_dir = model.local_dir
    if model_dir is not None and model.gguf_file:  # a GGUF model is one file; its folder may hold anything
        if is_inside(out, model_dir / model.gguf_file):
            raise ValueError(f"--out {out} is the model's GGUF file; write the state file elsewhere "
                             "(--overwrite does not allow this)")
    elif model_dir is not None and is_inside(out, model_dir):
        raise ValueError(
            f"--out {out} is inside the model folder {model_dir}: it could replace the model's own files; "
            "write the state file outside it (--overwrite does not allow this)"
        )
    check_not_in_hub_cache(out)
    if Path(data).expanduser().exists() and is_inside(out, data):
        raise ValueError(f"--out {out} is the learning data {data}; write the state file elsewhere (--overwrite does not allow this)")
    if out.exists() and not overwrite:
        raise ValueError(f"--out {out} already exists; pass --overwrite to replace it, or choose another path")
    check_can_create(out, "--out")
    return out


def learn(
    model: str | ModelRef,
    data: str,
    out: str | Path | None = None,
    n_per_class: int | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "train",
    device: str | None = None,
    dtype: str = "auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    **learn_kwargs,
) -> Intervention:
    """Load data and model, learn, and save to `out` (when given). See `aura-eval learn --help`.
    `out` is checked first (see `check_state_out`), so a bad path costs no minutes."""
    ref = ModelRef.parse(model)
    if out is not None:
        check_state_out(out, ref, data, overwrite)
    rows = balanced_sample(load_labelled(data, text_column, label_column, split), n_per_class, seed)
    log.info("Learning AurA on %d toxic + %d non-toxic sentences from %s", len(rows) // 2, len(rows) // 2, data)
    lm, tokenizer = load_model(ref, dtype, device, revision, trust_remote_code)
    # Portable: the model by display name and content digest (its Hub id when it is one), the data by file
    # name and sha256; no path of this machine.
    digest = model_digest(ref)
    data_path = Path(str(data)).expanduser()
    meta = {
        "model_name": ref.name,
        "model": ref.source if digest is None else ref.name,
        "model_sha256": digest,
        "gguf_file": ref.gguf_file,
        "data_source": data_path.name if data_path.is_file() else str(data),
        "data_sha256": sha256_file(data_path) if data_path.is_file() else None,
        "seed": seed,
        "n_per_class": n_per_class,
    }
    intervention = learn_from_model(lm, tokenizer, rows, meta=meta, **learn_kwargs)
    if out is not None:
        intervention.save(out)
    return intervention
