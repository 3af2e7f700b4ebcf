"""The one planner (runs.plan) on made-up run records: what it reuses, sets aside and runs, and why."""

from __future__ import annotations

import pytest

from aura_eval.runs.layout import STALE_SUFFIX, PastRun
from aura_eval.runs.plan import batch_options, plan_variant, processes
from aura_eval.runs.spec import SPEC_FORMAT, EvalOptions


def spec(tasks, limit=5) -> dict:
    return {"format": SPEC_FORMAT, "tasks": list(tasks), "options": {"limit": limit}}


def run(tmp_path, date: str, tasks, limit=5, stale=False, samples=()) -> PastRun:
    folder = tmp_path / "stale" if stale else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    suffix = STALE_SUFFIX if stale else ""
    results = folder / f"results_{date}.json{suffix}"
    results.write_text("{}")
    for name in samples:
        (folder / f"{name}{suffix}").write_text("{}\n")
    record = {"spec": spec(tasks, limit), "samples": [f"samples_{t}_{date}.jsonl" for t in tasks]}
    return PastRun(results, set(tasks), record, stale=stale)


def complete(tmp_path, date, tasks, **kw) -> PastRun:
    return run(tmp_path, date, tasks, samples=[f"samples_{t}_{date}.jsonl" for t in tasks], **kw)


def planner(limit=5, folded=False):
    return dict(spec_for=lambda tasks: spec(tasks, limit), split=lambda tasks: processes(tasks, folded))


def test_nothing_there_runs_every_task_in_one_process(tmp_path):
    plan = plan_variant(["aura_rtp", "aura_ppl_toxic"], [], [], **planner())
    assert plan.reuse == [] and plan.set_aside == []
    assert [(r.tasks, r.why) for r in plan.run] == [(["aura_rtp", "aura_ppl_toxic"], [])]


def test_the_newest_current_run_is_reused_and_an_older_one_superseded(tmp_path):
    old = complete(tmp_path, "2026-01-01", ["aura_rtp"])
    new = complete(tmp_path, "2026-01-02", ["aura_rtp"])
    plan = plan_variant(["aura_rtp"], [old, new], [], **planner())
    assert [(r.run, r.tasks, r.restore) for r in plan.reuse] == [(new, ["aura_rtp"], False)]
    assert [(s.run, s.why, s.superseded) for s in plan.set_aside] == [
        (old, "superseded by results_2026-01-02.json", True)]
    assert plan.run == []


def test_a_changed_spec_sets_the_run_aside_with_what_changed(tmp_path):
    past = complete(tmp_path, "2026-01-01", ["aura_rtp", "aura_ppl_toxic"])
    plan = plan_variant(["aura_rtp", "aura_ppl_toxic"], [past], [], **planner(limit=3))
    assert [(s.run, s.why) for s in plan.set_aside] == [(past, "--limit 5 -> 3")]
    assert [(r.tasks, r.why) for r in plan.run] == [(["aura_rtp", "aura_ppl_toxic"], ["--limit 5 -> 3"])]


def test_a_run_missing_a_samples_file_is_not_current(tmp_path):
    past = run(tmp_path, "2026-01-01", ["aura_rtp"])
    plan = plan_variant(["aura_rtp"], [past], [], **planner())
    assert [s.why for s in plan.set_aside] == ["samples_aura_rtp_2026-01-01.jsonl missing (the part is not complete)"]
    assert [r.tasks for r in plan.run] == [["aura_rtp"]]


def test_a_set_aside_run_current_again_is_restored_and_the_other_set_aside(tmp_path):
    kept = complete(tmp_path, "2026-01-01", ["aura_rtp"], stale=True)
    other = complete(tmp_path, "2026-01-02", ["aura_rtp"], limit=3)
    plan = plan_variant(["aura_rtp"], [other], [kept], **planner())
    assert [(r.run, r.restore) for r in plan.reuse] == [(kept, True)]
    assert [(s.run, s.why) for s in plan.set_aside] == [(other, "superseded by results_2026-01-01.json")]
    assert plan.run == []


def test_a_stale_run_of_another_spec_stays_where_it_is(tmp_path):
    stale = complete(tmp_path, "2026-01-01", ["aura_rtp"], limit=3, stale=True)
    plan = plan_variant(["aura_rtp"], [], [stale], **planner())
    assert plan.reuse == [] and plan.set_aside == [] and [r.why for r in plan.run] == [[]]


def test_runs_of_tasks_not_asked_are_left_alone(tmp_path):
    other = complete(tmp_path, "2026-01-01", ["aura_ppl_toxic"], limit=3)
    plan = plan_variant(["aura_rtp"], [other], [], **planner())
    assert plan.set_aside == [] and [r.tasks for r in plan.run] == [["aura_rtp"]]


def test_only_the_tasks_no_current_run_holds_run(tmp_path):
    rtp = complete(tmp_path, "2026-01-01", ["aura_rtp"])
    plan = plan_variant(["aura_rtp", "aura_ppl_toxic", "aura_ppl_nontoxic"], [rtp], [], **planner(folded=True))
    assert [r.tasks for r in plan.reuse] == [["aura_rtp"]]
    assert [r.tasks for r in plan.run] == [["aura_ppl_toxic", "aura_ppl_nontoxic"]]


@pytest.mark.parametrize("tasks, folded, parts", [
    (["aura_rtp", "aura_ppl_toxic"], False, [["aura_rtp", "aura_ppl_toxic"]]),
    (["aura_rtp", "aura_ppl_toxic"], True, [["aura_rtp"], ["aura_ppl_toxic"]]),
    (["aura_ppl_toxic"], True, [["aura_ppl_toxic"]]),
    ([], False, []),
])
def test_processes(tasks, folded, parts):
    assert processes(tasks, folded) == parts


def test_batch_options():
    options = EvalOptions(batch_size="64", ppl_batch_size="4")
    assert batch_options(["aura_rtp"], options) == {"batch_size": "64"}
    assert batch_options(["aura_ppl_toxic"], options) == {"batch_size": "4"}
    assert batch_options(["aura_rtp", "aura_ppl_toxic"], options) == {"batch_size": "64", "ppl_batch_size": "4"}
