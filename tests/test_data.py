import json

import pandas as pd
import pytest

from aura_eval.core.labelled import balanced_sample, data_hash, load_labelled


def test_jigsaw_layout_drops_nontoxic_rows_with_other_labels(tmp_path):
    df = pd.DataFrame({
        "id": list("abcde"),
        "comment_text": ["you idiot", "nice day", "rude but not 'toxic'", "thanks!", "threatening"],
        "toxic": [1, 0, 0, 0, 1], "severe_toxic": [0, 0, 0, 0, 0], "obscene": [1, 0, 1, 0, 0],
        "threat": [0, 0, 0, 0, 1], "insult": [1, 0, 0, 0, 0], "identity_hate": [0, 0, 0, 0, 0],
    })
    df.to_csv(tmp_path / "train.csv", index=False)
    rows = load_labelled(str(tmp_path / "train.csv"))
    assert rows == [("you idiot", 1), ("nice day", 0), ("thanks!", 0), ("threatening", 1)]


def test_text_label_csv_and_jsonl(tmp_path):
    pd.DataFrame({"text": ["a", "b", " ", "c"], "label": [1, 0, 1, "true"]}).to_csv(tmp_path / "d.csv", index=False)
    assert load_labelled(str(tmp_path / "d.csv")) == [("a", 1), ("b", 0), ("c", 1)]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"sentence": s, "toxic": t}) for s, t in [("x", 0), ("y", 1)]))
    assert load_labelled(str(tmp_path / "d.jsonl")) == [("x", 0), ("y", 1)]


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_labelled(str(tmp_path / "nope.csv"))
    pd.DataFrame({"body": ["a"], "label": [1]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ValueError, match="text column"):
        load_labelled(str(tmp_path / "x.csv"))
    pd.DataFrame({"text": ["a"], "label": ["maybe"]}).to_csv(tmp_path / "y.csv", index=False)
    with pytest.raises(ValueError, match="not 0/1"):
        load_labelled(str(tmp_path / "y.csv"))


def test_balanced_sample_is_balanced_seeded_and_checked():
    rows = [(f"t{i}", 1) for i in range(30)] + [(f"n{i}", 0) for i in range(50)]
    sample = balanced_sample(rows, 20, seed=3)
    assert sum(label for _, label in sample) == 20 and len(sample) == 40
    assert sample == balanced_sample(rows, 20, seed=3) and sample != balanced_sample(rows, 20, seed=4)
    assert data_hash(sample) == data_hash(list(sample))
    assert len(balanced_sample(rows, None)) == 60
    with pytest.raises(ValueError, match="exceeds"):
        balanced_sample(rows, 31)
    with pytest.raises(ValueError, match="both toxic and non-toxic"):
        balanced_sample([("a", 1)], 1)
