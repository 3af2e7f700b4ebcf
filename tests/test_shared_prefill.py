"""The decoding loop (`aura_eval.harness.decoding`, passed as `generate(custom_generate=...)`) against
transformers' own generate and lm-eval's HFLM: the same greedy tokens (repeats, padded batches, EOS and
stop sequences hit mid-batch, hooked and folded interventions), reproducible sampling, transformers' loop
for what it does not cover, and no patch of torch or the model anywhere in aura_eval/."""

import ast
import logging
from pathlib import Path

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM, AutoTokenizer

import aura_eval
from aura_eval.core.config import InterventionConfig
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.modules import output_width, resolve_modules
from aura_eval.harness.decoding import Decoder, repeated_rows
from aura_eval.harness.model import AuraLM

# prompts of different lengths (left padding differs per row), repeated, interleaved with a single one
PROMPTS = ["You are a stupid idiot and"] * 3 + ["The weather was pleasant and the people"] * 4 + ["Thank you"] + ["You are a stupid idiot and"] * 2


def test_repeated_rows_groups_identical_prompts_only():
    ids = torch.tensor([[0, 1, 2], [0, 1, 2], [3, 1, 2], [0, 1, 2]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 1, 1]])  # same tokens, other mask: another prompt
    firsts, which = repeated_rows(ids, mask)
    assert firsts == [0, 2, 3] and which.tolist() == [0, 0, 1, 2]


def load(model_dir):
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    tok.pad_token = tok.eos_token
    return model, tok, tok(PROMPTS, return_tensors="pt", padding=True)


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("extra", [{}, {"repetition_penalty": 1.3, "min_new_tokens": 3}])
def test_greedy_equals_transformers_generate(tiny_model_dir, share, extra):
    model, tok, enc = load(tiny_model_dir)
    kw = dict(**enc, max_new_tokens=10, do_sample=False, pad_token_id=tok.eos_token_id, **extra)
    decoder = Decoder(share=share)
    out = model.generate(**kw, custom_generate=decoder)
    assert torch.equal(out, model.generate(**kw))
    assert decoder.batches == 1 and decoder.batches_transformers == 0
    assert decoder.prompts_prefilled == (3 if share else len(PROMPTS))


def test_a_sliding_window_cache_is_expanded_and_gives_generates_tokens(tmp_path):
    from conftest import build_tokenizer
    from transformers import MistralConfig
    from transformers.cache_utils import DynamicSlidingWindowLayer

    tok = build_tokenizer(tmp_path)
    tok.padding_side, tok.pad_token = "left", tok.eos_token
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(MistralConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, sliding_window=4, max_position_embeddings=256)).eval()
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    kw = dict(**enc, max_new_tokens=10, do_sample=False, pad_token_id=tok.eos_token_id)
    layers = []
    decoder = Decoder()
    out = model.generate(**kw, custom_generate=lambda model, *a, **k: layers.extend(k["cache"].layers) or decoder(model, *a, **k))
    assert any(isinstance(layer, DynamicSlidingWindowLayer) for layer in layers), "the window is shorter than the prompts"
    assert torch.equal(out, model.generate(**kw)) and decoder.batches == 1 and decoder.prompts_prefilled == 3


def test_rows_ending_at_eos_leave_the_batch_and_are_padded_as_generate_pads_them(tiny_model_dir):
    model, tok, enc = load(tiny_model_dir)
    kw = dict(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.eos_token_id)
    free = model.generate(**kw)[:, enc.input_ids.shape[1]:]
    eos = int(free[3, 2])  # a token the 2nd prompt's rows produce third: they end there, the others later
    decoder = Decoder()
    out = model.generate(**kw, eos_token_id=eos, custom_generate=decoder)
    plain = model.generate(**kw, eos_token_id=eos)
    assert torch.equal(out, plain[:, : out.shape[1]]) and (plain[:, out.shape[1]:] == tok.eos_token_id).all()
    assert decoder.row_steps < decoder.steps * len(PROMPTS), "finished rows left the batch"


def random_state(model_dir, path):
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    modules = resolve_modules(model)
    g = torch.Generator().manual_seed(0)
    auroc = {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in modules.items()}
    iv = Intervention.from_auroc(auroc, InterventionConfig("aura"), meta={"fingerprint": model_fingerprint(model, list(modules)),
                                                                           "model_name": model_dir.name})
    return iv.save(path)


DOCS = ["You are a stupid idiot and", "The weather was pleasant and the people", "Thank you so much for"]


def requests(gen_kwargs, repeats=5):
    return [Instance("generate_until", {}, (d, dict(gen_kwargs)), idx=i) for d in DOCS for i in range(repeats)]


GREEDY = {"until": ["\n\n"], "do_sample": False, "max_gen_toks": 10}
SAMPLED = {"until": [], "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_gen_toks": 8}


@pytest.fixture(scope="module")
def state(tiny_llama, tmp_path_factory):
    return random_state(tiny_llama, tmp_path_factory.mktemp("state") / "s.safetensors")


def lm(cls, model_dir, **kw):
    return cls(pretrained=str(model_dir), device="cpu", batch_size=8, **kw)


def test_stop_sequences_hit_mid_batch_give_hflm_strings(tiny_llama):
    """Stop strings taken from the plain continuations so that some rows stop after a few tokens and others
    never: the loop drops those rows from the batch, and every string equals HFLM's."""
    free = lm(HFLM, tiny_llama).generate_until(requests(GREEDY, repeats=1))
    stops = [free[0][3:6], free[1][5:7]]
    assert all(stops) and stops[0] not in free[2] and stops[1] not in free[2]
    gen = {**GREEDY, "until": stops}
    plain = lm(HFLM, tiny_llama).generate_until(requests(gen))
    aura = lm(AuraLM, tiny_llama, intervention="none")
    assert aura.generate_until(requests(gen)) == plain
    assert plain[0] == free[0].split(stops[0])[0] and plain[-1] == free[2]
    info = aura.get_model_info()["aura"]["generation"]
    assert info["decoder"] == "aura-eval" and info["prompts_prefilled"] < info["rows"]
    assert info["row_steps"] < info["decode_steps"] * 8, "rows that hit a stop sequence left the batch"


@pytest.mark.parametrize("fold", [True, False])
def test_greedy_with_an_intervention_equals_transformers_generate(tiny_llama, state, fold):
    aura = lm(AuraLM, tiny_llama, intervention=str(state), fold=fold)
    plain = lm(AuraLM, tiny_llama, intervention=str(state), fold=fold, fast_sampling=False)
    assert aura.get_model_info()["aura"]["applied"] == ("folded in memory" if fold else "hooks")
    out = aura.generate_until(requests(GREEDY))
    assert out == plain.generate_until(requests(GREEDY))
    assert plain.get_model_info()["aura"]["generation"]["decoder"] == "transformers"
    assert out != lm(AuraLM, tiny_llama, intervention="none").generate_until(requests(GREEDY)), "the intervention acts"


def test_sampling_is_reproducible_under_a_seed(tiny_llama, state):
    model = lm(AuraLM, tiny_llama, intervention=str(state))
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        runs.append(model.generate_until(requests(SAMPLED)))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len(set(runs[0][:5])) > 1, "the repeats of one prompt are independent samples"
    assert model.get_model_info()["aura"]["generation"]["batches"] > 0


def test_torch_draws_equal_hflm_under_a_seed_and_the_fast_draw_is_another_stream(tiny_llama):
    multinomial = torch.multinomial
    torch.manual_seed(7)
    plain = lm(HFLM, tiny_llama).generate_until(requests(SAMPLED))
    slow = lm(AuraLM, tiny_llama, intervention="none", fast_sampling="no")
    torch.manual_seed(7)
    assert slow.generate_until(requests(SAMPLED)) == plain
    assert slow.get_model_info()["aura"]["generation"]["sampler"] == "torch.multinomial"
    fast = lm(AuraLM, tiny_llama, intervention="none")
    torch.manual_seed(7)
    out = fast.generate_until(requests(SAMPLED))
    assert fast.get_model_info()["aura"]["generation"]["sampler"] == "inverse-cdf"
    assert out != plain, "another random stream: the inverse-CDF draw was the one used"
    assert torch.multinomial is multinomial


@pytest.mark.parametrize("kw", [{"num_beams": 2}, {"cache_implementation": "static"}, {"output_scores": True, "return_dict_in_generate": True}])
def test_what_the_loop_does_not_cover_runs_transformers_loop_said_once(tiny_llama, kw, caplog):
    model, tok, enc = load(tiny_llama)
    args = dict(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tok.eos_token_id, **kw)
    decoder = Decoder()
    with caplog.at_level(logging.INFO, logger="aura_eval.harness.decoding"):
        out = [model.generate(**args, custom_generate=decoder) for _ in range(2)]
    plain = model.generate(**args)
    first = out[0].sequences if hasattr(out[0], "sequences") else out[0]
    assert torch.equal(first, plain.sequences if hasattr(plain, "sequences") else plain)
    assert decoder.batches_transformers == 2 and decoder.batches == 0
    assert sum("transformers' own decoding loop" in r.getMessage() for r in caplog.records) == 1


def assignments(tree: ast.AST):
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, ast.Attribute):
                yield target


def test_nothing_in_aura_eval_assigns_to_torch_or_a_models_generate_or_forward():
    """The decoding loop is transformers' seam (custom_generate): no run-time patch remains."""
    found = []
    for path in Path(aura_eval.__file__).parent.rglob("*.py"):
        for target in assignments(ast.parse(path.read_text())):
            root = target
            while isinstance(root, ast.Attribute):
                root = root.value
            if target.attr in ("generate", "forward") or (isinstance(root, ast.Name) and root.id == "torch"):
                found.append(f"{path.name}:{target.lineno}")
    assert not found
