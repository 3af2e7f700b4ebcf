"""Runs: `aura-eval compare` between the harness and the report.

`spec` (the typed run spec of one lm_eval process and the command line rendered from it), `identity`
(content identities of models, data files, task definitions and scorers), `compare` (planning, reuse,
running), `process` (locks and child processes). The report only reads what these write.
"""
