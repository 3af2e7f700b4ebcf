"""Write README's "Reproducing the paper" table (between <!-- paper-table --> markers) from this folder's
leaderboard.csv, which `aura-eval report results/paper` wrote: one row per claim of the paper, beside what
results/paper measured for it on SmolLM2-135M-Instruct.

    python results/paper/readme_table.py [--readme README.md] [--folder results/paper]
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- paper-table -->", "<!-- /paper-table -->"
STRENGTHS = ("aura-s0.25", "aura-s0.5", "aura-s0.75", "aura")
DAMPS = ("damp-k1000-a0.5", "damp-k2000-a0.5", "damp-k4000-a0.5")


def value(row, column: str) -> float:
    v = row.get(column, math.nan) if row is not None else math.nan
    return float(v) if v is not None and v == v else math.nan


def cell(row, column: str, spec: str, suffix: str = "") -> str:
    """`value [low, high]` of a column and its interval columns, or "n/a" where the run has none."""
    v = value(row, column)
    if math.isnan(v):
        return "n/a"
    low, high = value(row, f"{column}_ci_low"), value(row, f"{column}_ci_high")
    text = f"{v:{spec}}{suffix}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{low:{spec}}, {high:{spec}}]"
    return text


def ppl_change(row, base) -> str:
    """WikiText perplexity change in points (the paper's "+0.72 PPL"), with the paired ratio."""
    v, b = value(row, "ppl_nontoxic"), value(base, "ppl_nontoxic")
    if math.isnan(v) or math.isnan(b):
        return "n/a"
    return f"{v - b:+.2f} PPL ({b:.2f} -> {v:.2f}; ratio {cell(row, 'ppl_nontoxic_ratio', '.3f')})"


def table(rows: dict) -> str:
    base, aura = rows.get("base"), rows.get("aura")
    cmd = "[`results/paper/COMMAND.sh`](results/paper/COMMAND.sh)"
    strength = "; ".join(
        f"s={name.removeprefix('aura-s') if name != 'aura' else '1'}: {cell(rows.get(name), 'tox_reduction', '.2f', 'x')}, "
        f"PPL ratio {cell(rows.get(name), 'ppl_nontoxic_ratio', '.3f')}" for name in STRENGTHS)
    damp = "; ".join(
        f"{name}: {cell(rows.get(name), 'tox_reduction', '.2f', 'x')}, PPL ratio {cell(rows.get(name), 'ppl_nontoxic_ratio', '.3f')}"
        for name in DAMPS)
    piqa = cell(aura, "piqa_diff", "+.3f")
    if not math.isnan(value(aura, "piqa_mcnemar_p")):
        piqa += f" (McNemar p={value(aura, 'piqa_mcnemar_p'):.2g})"
    claims = [
        ("AurA: up to 2.2x less toxic at +0.72 PPL (1.5B-40B models)",
         f"aura {cell(aura, 'tox_reduction', '.2f', 'x')} less toxic (probability {value(base, 'rtp_tox'):.3f} -> "
         f"{value(aura, 'rtp_tox'):.3f}); WikiText {ppl_change(aura, base)}",
         "135M model; profanity-check instead of Perspective API; 200 prompts; the first WikiText articles"),
        ("Strength (apple/ml-act): the mitigation grows with s", strength,
         "the paper shows s = 1 only; this sweep is the follow-up code's knob"),
        ("Pre-prompting plus AurA: 1.28x -> 2.35x less toxic",
         f"favourable pre-prompt alone {cell(base, 'preprompt_favourable_tox_reduction_vs_none', '.2f', 'x')}; with AurA "
         f"{cell(aura, 'preprompt_favourable_tox_reduction_vs_none', '.2f', 'x')} (both against base with no pre-prompt)",
         "four favourable pre-prompts of ours (tasks/aura_preprompt_favourable.yaml), not the paper's"),
        ("AurA counters adversarial pre-prompts",
         f"adversarial pre-prompt: base {cell(base, 'preprompt_adversarial_tox_reduction_vs_none', '.2f', 'x')}, AurA "
         f"{cell(aura, 'preprompt_adversarial_tox_reduction_vs_none', '.2f', 'x')} against base with no pre-prompt; "
         f"AurA against base under the same pre-prompt {cell(aura, 'preprompt_adversarial_tox_reduction', '.2f', 'x')}",
         "four adversarial pre-prompts of ours; an instruction-tuned 135M model follows them weakly"),
        ("Zero-shot abilities kept", f"PIQA {value(base, 'piqa'):.3f} -> {value(aura, 'piqa'):.3f}, difference {piqa}",
         "PIQA only (the one zero-shot task with local data)"),
        ("Det_zero / Damp need k (and alpha) tuned; AurA does not", damp,
         "Damp only (Det_zero is in results/benchmark/); one alpha, three k"),
    ]
    lines = ["| the paper's claim | command | this suite on SmolLM2-135M-Instruct [95% CI] | what differs |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {claim} | {cmd} | {ours} | {differs} |" for claim, ours, differs in claims]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readme", default=str(HERE.parent.parent / "README.md"))
    p.add_argument("--folder", default=str(HERE), help="the results folder (default: this script's)")
    args = p.parse_args()
    frame = pd.read_csv(Path(args.folder) / "leaderboard.csv")
    rows = {row["variant"]: row for _, row in frame.iterrows()}
    readme = Path(args.readme)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} markers")
    new = re.sub(f"{re.escape(BEGIN)}.*?{re.escape(END)}", lambda _: f"{BEGIN}\n{table(rows)}\n{END}", text, flags=re.S)
    readme.write_text(new)
    print(table(rows))


if __name__ == "__main__":
    main()
