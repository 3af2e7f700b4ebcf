"""The report layer: reads the files lm-eval and compare wrote (it parses no arguments and starts no process;
the `report` command's flags are in aura_eval.cli, and `compare` lives in aura_eval.runs).

results.py and provenance.py read results files into rows; catalog.py names every metric column once;
table.py builds the table; samples.py, paired.py and stats.py give the paired statistics; pairs.py is
`--pair`; preprompts.py the Pre-prompts section; render.py, legend.py and html.py write Markdown, CSV and
HTML; plots.py and sweeps.py the Pareto plot, expert_map.py the expert map; leaderboard.py's `build_report`
writes them all.
"""
