"""The report layer: reads the files lm-eval and compare wrote (never runs anything) and writes the leaderboard.

results.py reads results files into rows; catalog.py names every metric column once; table.py builds the
table; samples.py, paired.py and stats.py give the paired statistics; pairs.py is `--pair`; preprompts.py the
pre-prompt section; render.py, html.py write Markdown, CSV and HTML; plots.py the Pareto plot, expert_map.py
the expert map; leaderboard.py ties them together (`build_report`). `compare` lives in aura_eval.runs.
"""
