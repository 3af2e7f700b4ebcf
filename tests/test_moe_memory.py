"""learn's memory: responses go to a memory-mapped file and are scored module by module, so the memory torch
allocates while learning is one batch's forward plus one module's AUROC workspace, not sentences x all units.

Measured with torch's profiler (profile_memory): the running total of CPU bytes torch allocates and frees,
in the order they happen; its maximum is the peak (memory-mapped pages are not torch's: they live on disk). The same measure sees the whole matrix when responses
are collected in memory (the negative control), so the bound can fail."""

from __future__ import annotations

import pytest
import torch
from test_families import config_for, tiny_model
from test_moe import DECODER, TEXTS_LABELS
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from aura_eval.core.learn import learn_from_model
from aura_eval.core.modules import output_width, resolve_modules
from aura_eval.core.responses import collect_responses

AUROC_BYTES = 96  # AUROC workspace per (unit, sentence) of a chunk: copies, sort order, ranks (see README, Memory)


def peak_bytes(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # The raw "[memory]" records (allocation: +bytes, free: -bytes), read without building every op's event.
    records = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
               if e.name() == "[memory]" and e.device_type() == DeviceType.CPU]
    running = peak = 0
    for _, nbytes in sorted(records):
        running += nbytes
        peak = max(peak, running)
    return peak


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from conftest import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("memory-tokenizer"))


def test_learn_holds_about_one_module_not_all_responses(tokenizer):
    # Many experts in many layers: all responses are much more than one module's share.
    config = config_for("MixtralConfig", dict(DECODER, num_hidden_layers=6, intermediate_size=32, num_local_experts=16,
                                              num_experts_per_tok=2), len(tokenizer))
    model = tiny_model(config)
    rows = TEXTS_LABELS
    texts = [t for t, _ in rows]
    sites = resolve_modules(model)
    widths = [output_width(s) for s in sites.values()]
    batch, chunk = 2, 32
    full = len(rows) * sum(widths) * 4

    # One batch of the longest sentences through the recorder: the forward's and the pooled buffers' share.
    longest = sorted(texts, key=len)[-batch:]
    one_batch = torch.empty(batch, sum(widths))
    forward = peak_bytes(lambda: collect_responses(model, tokenizer, longest, sites, batch_size=batch, progress=False,
                                                   out=one_batch))
    bound = forward + min(max(widths), chunk) * len(rows) * AUROC_BYTES
    assert full > 2 * bound, "the tiny model is too small for the bound to tell anything"

    learned = peak_bytes(lambda: learn_from_model(model, tokenizer, rows, batch_size=batch, progress=False,
                                                  min_expert_sentences=2, auroc_chunk_units=chunk))
    assert learned <= bound, (learned, bound, full)
    # The negative control: the same measure sees the matrix a collection in memory holds.
    in_memory = peak_bytes(lambda: collect_responses(model, tokenizer, texts, sites, batch_size=batch, progress=False))
    assert in_memory >= full
