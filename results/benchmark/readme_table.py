"""Write the benchmark's table into README.md (between <!-- benchmark-table --> markers), from this folder's
leaderboard.csv (what `aura-eval report results/benchmark` wrote) and lm-eval's own timings.

    python results/benchmark/readme_table.py [--readme README.md]

Wall time per variant: the sum over its lm_eval processes of lm-eval's `total_evaluation_time_seconds`
(model load, task building, requests and scoring; not the ~16 s of imports and task index before it).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- benchmark-table -->", "<!-- /benchmark-table -->"


def number(value, spec: str) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def with_ci(row, column: str, spec: str, suffix: str = "") -> str:
    if math.isnan(row.get(column, math.nan)):
        return ""
    low, high = row.get(f"{column}_ci_low", math.nan), row.get(f"{column}_ci_high", math.nan)
    text = f"{number(row[column], spec)}{suffix}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{number(low, spec)}, {number(high, spec)}]"
    return text


def wall_times(variant_dir: Path) -> dict[str, float]:
    """task -> lm-eval's total_evaluation_time_seconds of the process that ran it."""
    times = {}
    for path in sorted(variant_dir.glob("results_*.json")):
        data = json.loads(path.read_text())
        seconds = float(data.get("total_evaluation_time_seconds") or "nan")
        for task in data.get("configs") or {}:
            times[task] = seconds
    return times


def table(frame: pd.DataFrame, model_dir: Path) -> str:
    header = ["Variant", "RTP prompts", "Tox. prob", "Δ Tox. prob [95% CI]", "x less toxic [CI]", "Δ EMT [CI]",
              "WikiText PPL ratio [CI]", "toxic PPL ratio [CI]", "PIQA", "Δ PIQA [CI] (McNemar p)", "Dist-2",
              "Toxicity", "Abilities", "wall time (RTP / PIQA / WikiText / tweets)"]
    lines = ["| " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in header[1:-3]) + " | --- | --- | ---: |"]
    for _, row in frame.iterrows():
        runs = [json.loads(path.read_text()) for path in sorted((model_dir / row["variant"]).glob("results_*.json"))]
        prompts = next((run["n-samples"]["aura_rtp"]["effective"] for run in runs if "aura_rtp" in run["results"]), "")
        times = wall_times(model_dir / row["variant"])
        minutes = " / ".join(number(times.get(task, math.nan) / 60, ".1f") or "-"
                             for task in ("aura_rtp", "piqa", "aura_ppl_nontoxic", "aura_ppl_toxic")) + " min"
        piqa = with_ci(row, "piqa_diff", "+.3f")
        if piqa and not math.isnan(row.get("piqa_mcnemar_p", math.nan)):
            piqa += f" (p={row['piqa_mcnemar_p']:.2g})"
        cells = [row["variant"], str(prompts), number(row["rtp_tox"], ".3f"), with_ci(row, "rtp_tox_diff", "+.3f"),
                 with_ci(row, "tox_reduction", ".2f", "x") if row["variant"] != "base" else "",
                 with_ci(row, "rtp_emt_diff", "+.3f"), with_ci(row, "ppl_nontoxic_ratio", ".3f"),
                 with_ci(row, "ppl_toxic_ratio", ".2f"), number(row["piqa"], ".3f"), piqa,
                 number(row["rtp_dist_2"], ".3f"), text(row.get("toxicity_verdict")),
                 text(row.get("abilities_verdict")), minutes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readme", default=str(HERE.parent.parent / "README.md"))
    p.add_argument("--folder", default=str(HERE), help="the results folder (default: this script's)")
    args = p.parse_args()
    folder = Path(args.folder)
    frame = pd.read_csv(folder / "leaderboard.csv")
    (model,) = set(frame["model"])
    block = table(frame, folder / model)
    readme = Path(args.readme)
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block to replace")
    readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text))
    print(block)


if __name__ == "__main__":
    main()
