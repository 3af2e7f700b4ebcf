"""Runs: `aura-eval compare` between the harness and the report.

`spec` (the typed run spec of one lm_eval process and the command line rendered from it), `identity`
(content identities of models, data files, the code and scorers), `layout` (what a variant folder holds,
the folded checkpoint's name), `checks` (what can fail before a model loads), `plan` (reuse / set aside /
run, pure), `compare` (carrying a plan out), `process` (locks and child processes). The report only
reads what these write.
"""
