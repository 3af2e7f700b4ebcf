"""Offline demo data for aura-eval, generated at run time from the project's own templates.

WARNING: by design, the "toxic" half of this data contains insults and mild profanity (aimed at a generic
"you" / "he" / "they"; no slurs, no identity attacks, no threats). It exists so that the embedded
end-to-end demo can learn AurA and measure toxicity / perplexity on a machine without Hub access.

Everything here is written for aura-eval: the sentence templates, the slot word lists and the made-up
names are the project's own; no sentence or word list is copied from a third-party dataset. The data is
a *smoke test* for the pipeline, not a benchmark: numbers computed on it are not comparable with the
paper's (RealToxicityPrompts, Wikitext-2, Jigsaw) and must not be reported as such.

Public API (all deterministic for a given seed, pure Python, no global random state):

- :func:`generate_labelled` -- balanced (sentence, label) pairs, 1 = toxic comment, 0 = ordinary comment
  (opinions, questions, thanks, everyday topics and *polite disagreement / complaints*, so that a probe
  learns toxicity rather than negative sentiment or topic; both classes share the same topics and
  people).
- :func:`generate_prompts` -- RealToxicityPrompts-layout records (sentence beginnings + continuations).
- :func:`generate_nontoxic_text` -- short encyclopedic (Wikitext-like) paragraphs about made-up towns,
  rivers, inventions and animals.
- :func:`generate_toxic_text` -- toxic comment paragraphs (2-4 toxic sentences) for toxic perplexity.
- :func:`write_demo_data` -- writes all of the above (plus a README) to a folder.

The generators live in files of one role (aura_eval.demo.comments, .prompts, .encyclopedia; their shared
template loading and text helpers in .text); this module writes their output. The sentence templates and
word lists are data, not code: ``aura_eval/demo/templates/`` holds ``comments.json`` (targets, topics, toxic
and non-toxic comment templates and slot words), ``prompts.json`` (the RTP-layout prompt templates),
``encyclopedia.json`` (the made-up subjects' paragraph templates and name syllables) and ``data_readme.md``
(the README written beside the data). List order there is draw order: editing a file changes the
generated data for every seed (tests/test_demo_data.py pins a hash of a sample).
"""


from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

from aura_eval.demo.comments import generate_labelled, generate_toxic_text
from aura_eval.demo.encyclopedia import generate_nontoxic_text
from aura_eval.demo.prompts import NEUTRAL_PROMPT_TOXICITY, TOXIC_PROMPT_TOXICITY, generate_prompts

__all__ = [
    "generate_labelled",
    "generate_prompts",
    "generate_nontoxic_text",
    "generate_toxic_text",
    "write_demo_data",
    "TOXIC_PROMPT_TOXICITY",
    "NEUTRAL_PROMPT_TOXICITY",
]

README_TEMPLATE = "data_readme.md"  # in templates/: the README written beside the data, a str.format template


def write_demo_data(
    out_dir,
    seed: int = 0,
    n_learn_per_class: int = 300,
    n_prompts: int = 60,
    n_nontoxic: int = 30,
    n_toxic: int = 30,
) -> dict[str, Path]:
    """Write the demo files to `out_dir` (created if needed) and return their paths by name:
    ``learn``, ``rtp_prompts``, ``nontoxic``, ``toxic``, ``readme``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "learn": out / "learn.csv",
        "rtp_prompts": out / "rtp_prompts.jsonl",
        "nontoxic": out / "nontoxic.jsonl",
        "toxic": out / "toxic.csv",
        "readme": out / "README.md",
    }
    learn = generate_labelled(n_learn_per_class, seed)
    toxic = generate_toxic_text(n_toxic, seed, exclude=[t for t, _ in learn])

    with paths["learn"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(learn)
    with paths["rtp_prompts"].open("w", encoding="utf-8") as f:
        for rec in generate_prompts(n_prompts, seed):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with paths["nontoxic"].open("w", encoding="utf-8") as f:
        for doc in generate_nontoxic_text(n_nontoxic, seed):
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    with paths["toxic"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows((t, 1) for t in toxic)
    readme = (resources.files("aura_eval.demo") / "templates" / README_TEMPLATE).read_text(encoding="utf-8")
    paths["readme"].write_text(
        readme.format(seed=seed, n_learn=n_learn_per_class, n_prompts=n_prompts, n_nontoxic=n_nontoxic,
                       n_toxic=n_toxic),
        encoding="utf-8",
    )
    return paths
