"""Planning one variant: which past runs to reuse, which to set aside, which tasks to run, each with why.

`plan_variant` is pure: given the asked tasks, the runs found in the variant folder and its stale/, the run
spec this compare gives a list of tasks, and how tasks split into processes, it returns a `Plan`; compare
carries it out. A past run is current when its recorded spec equals the spec this compare gives its
recorded tasks and its files are all there; the newest current run of each asked task is reused (one set
aside in stale/ is restored first), older runs of those tasks are set aside as superseded, and the other
runs of asked tasks are set aside with what changed. `processes` is the one place that splits tasks into
lm_eval processes and sets their batch options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aura_eval.core.names import PPL_PREFIX
from aura_eval.runs.layout import PastRun
from aura_eval.runs.spec import EvalOptions, changes

SpecFor = Callable[[tuple[str, ...]], dict]  # tasks -> the run spec record this compare gives them


# ----------------------------------------------------------------------------- processes and batch sizes


def perplexity_tasks(tasks: list[str]) -> list[str]:
    return [t for t in tasks if t.startswith(PPL_PREFIX)]


def processes(tasks: list[str], folded: bool = False) -> list[list[str]]:
    """The lm_eval processes of a variant, by tasks: one for every task (aura-hf gives the perplexity windows
    their own batch size, `rolling_batch_size`), two for aura-folded (plain `hf` has one batch size)."""
    if not folded:
        return [list(tasks)] if tasks else []
    ppl = perplexity_tasks(tasks)
    return [part for part in ([t for t in tasks if t not in ppl], ppl) if part]


def batch_options(tasks: list[str], options: EvalOptions) -> dict:
    """--batch_size of a process running `tasks`, and the perplexity windows' own when it mixes both kinds."""
    ppl = perplexity_tasks(tasks)
    if len(ppl) == len(tasks):
        return {"batch_size": str(options.ppl_batch_size)}
    if ppl:
        return {"batch_size": str(options.batch_size), "ppl_batch_size": str(options.ppl_batch_size)}
    return {"batch_size": str(options.batch_size)}


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Reuse:
    run: PastRun
    tasks: list[str]  # the asked tasks it holds

    @property
    def restore(self) -> bool:
        return self.run.stale


@dataclass(frozen=True)
class SetAside:
    run: PastRun
    why: str
    superseded: bool = False


@dataclass(frozen=True)
class Run:
    tasks: list[str]
    why: list[str] = field(default_factory=list)  # what the set-aside runs of these tasks no longer match


@dataclass
class Plan:
    reuse: list[Reuse]
    set_aside: list[SetAside]
    run: list[Run]


def current_tasks(run: PastRun, spec_for: SpecFor) -> list[str] | None:
    """The tasks of a finished past run whose recorded spec equals the spec this compare gives them, else None."""
    tasks = run.recorded_tasks()
    if tasks is None or run.missing_files():
        return None
    try:
        return tasks if spec_for(tuple(tasks)) == run.spec else None
    except (OSError, ValueError):  # its tasks' data can no longer be read: not current
        return None


def why_not_current(run: PastRun, spec_for: SpecFor, part: list[str]) -> str:
    """What a past run of asked tasks no longer matches, in words."""
    tasks = run.recorded_tasks()
    try:
        spec = spec_for(tuple(tasks or part))
    except (OSError, ValueError) as error:
        return f"its tasks' data cannot be read ({error})"
    if run.spec == spec and run.missing_files():
        return f"{', '.join(run.missing_files())} missing (the part is not complete)"
    if run.spec == spec:
        return f"{run.name} lacks {', '.join(sorted(set(tasks or part) - run.tasks))}"
    return changes(run.record and (run.spec or {}), spec)


def plan_variant(wanted: list[str], found: list[PastRun], stale: list[PastRun], spec_for: SpecFor,
                 split: Callable[[list[str]], list[list[str]]]) -> Plan:
    """Reuse / set aside / run for one variant folder (`found`: its runs, `stale`: those in stale/)."""
    covered: dict[str, PastRun] = {}  # asked task -> the current run that holds it
    reuse = []
    for run in sorted(found + stale, key=lambda r: (r.date, not r.stale), reverse=True):  # newest first
        ran = current_tasks(run, spec_for)
        asked = [task for task in ran or [] if task in wanted]
        if not asked or set(asked) <= set(covered):
            continue  # not current, not asked, or a newer current run holds its tasks
        reuse.append(Reuse(run, asked))
        covered.update({task: run for task in asked})
    parts = split([task for task in wanted if task not in covered])
    reused = [r.run for r in reuse]
    aside = []
    for run in found:
        overlap = [task for task in wanted if task in run.tasks]
        if any(run is r for r in reused) or not overlap:
            continue
        if all(task in covered for task in overlap):
            aside.append(SetAside(run, f"superseded by {covered[overlap[0]].name}", superseded=True))
        else:
            part = next((p for p in parts if set(p) & set(overlap)), overlap)
            aside.append(SetAside(run, why_not_current(run, spec_for, part)))
    todo = [Run(part, list(dict.fromkeys(s.why for s in aside if not s.superseded and s.run.tasks & set(part))))
            for part in parts]
    return Plan(reuse, aside, todo)
