"""`aura-eval report RESULTS_DIR`: the leaderboard of lm-eval results, one row per experiment x model x variant.

It reads every `results_*.json` that lm-eval wrote under RESULTS_DIR, groups them by compare's
`<out>/<model>/<variant>/` folders (the experiment is `<out>` relative to RESULTS_DIR; else by what each
file says; results.py), refuses two folders that claim the same experiment x model x variant x task,
compares every variant with the `base` row of its experiment and model (the paper's "x less toxic" and
"+PPL" view), and writes `leaderboard.md`, `leaderboard.html`, `leaderboard.csv` and `pareto.png`, and
`expert_map*.png` for each intervention state file lying in an experiment or model folder (expert_map.py).

Where lm-eval logged per-document samples (`--log_samples`, which `compare` passes) and they back their
results file, each variant is also compared with its base *pairwise* (paired.py, stats.py): differences
and ratios with 95% bootstrap intervals, tests for zero-shot accuracy, and the toxicity / abilities
verdicts. `--pair ROW:REFERENCE` compares any two rows the same way (their table, and pairs.csv).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from aura_eval.core.text import printable
from aura_eval.report.legend import legend_of
from aura_eval.report.paired import PairedSettings
from aura_eval.report.pairs import pairs_frame, parse_pairs
from aura_eval.report.render import display_tables, plain_note, render_markdown, write_csv
from aura_eval.report.results import find_result_files, load_run, merge_rows
from aura_eval.report.samples import SampleCache
from aura_eval.report.table import leaderboard_frame

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "csv", "png")


def build_report(results_dir, out_dir=None, formats=FORMATS, settings: PairedSettings | None = None,
                 pairs: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read every results file under `results_dir`, write the leaderboard files, return the table.

    `settings`: margin, resamples and seed of the paired statistics (PairedSettings' defaults if None).
    `pairs`: "ROW:REFERENCE" texts (--pair); their table is `frame.attrs["pairs"]` and pairs.csv.
    """
    shown_dir = str(results_dir)
    results_dir = Path(results_dir).resolve()
    out_dir = Path(out_dir) if out_dir is not None else results_dir
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if results_dir.exists() and not results_dir.is_dir():
        raise NotADirectoryError(f"{printable(shown_dir)} is a file, not a folder; give the folder that holds the "
                                 "results (e.g. compare's --out)")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {printable(results_dir)} does not exist")
    runs = [run for path in find_result_files(results_dir) if (run := load_run(path, results_dir))]
    if not runs:
        raise ValueError(f"no lm-eval results_*.json file found under {printable(results_dir)}")
    merged = merge_rows(runs)
    settings = settings or PairedSettings()
    cache = SampleCache()
    asked = parse_pairs(pairs, list(merged))  # before any work: a misspelt row is a one-line error
    frame = leaderboard_frame(merged, results_dir, settings, cache)
    if asked:
        frame.attrs["pairs"] = pairs_frame(asked, merged, frame, settings, cache)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "png" in formats:  # before the tables are written: they link the maps
        from aura_eval.report.expert_map import experiment_maps

        frame.attrs["expert_maps"] = experiment_maps(results_dir, list(merged), out_dir, log)
    if "md" in formats:
        (out_dir / "leaderboard.md").write_text(render_markdown(frame, shown_dir), encoding="utf-8")
    if "csv" in formats:
        write_csv(frame, out_dir / "leaderboard.csv")
        if asked:
            write_csv(frame.attrs["pairs"], out_dir / "pairs.csv")
    if "html" in formats:
        from aura_eval.report.html import render_html

        tables, notes = display_tables(frame)
        html = render_html(tables, [plain_note(note) for note in notes] + [f"results: {printable(shown_dir)}"],
                           legend_of(frame), frame.attrs.get("expert_maps", []))
        (out_dir / "leaderboard.html").write_text(html, encoding="utf-8")
    if "png" in formats:
        from aura_eval.report.plots import plot_pareto

        plot_pareto(frame, out_dir / "pareto.png")
    return frame

