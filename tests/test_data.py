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
    with pytest.raises(ValueError, match=r"y\.csv:2: field .label.: .maybe. is not a label"):
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


# ------------------------------------------------------------------ one label rule, and bad input named precisely


def write_csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_one_label_rule_scores_are_thresholded_at_half(tmp_path):
    source = write_csv(
        tmp_path / "d.csv",
        "text,label\na,0.8\nb,0.2\nc,0.5\nd,0.49\ne,true\nf,False\ng,toxic\nh,non-toxic\ni,1.0\nj,0\n",
    )
    assert load_labelled(source) == [
        ("a", 1), ("b", 0), ("c", 1), ("d", 0), ("e", 1), ("f", 0), ("g", 1), ("h", 0), ("i", 1), ("j", 0)
    ]


@pytest.mark.parametrize("bad", ["maybe", "1.5", "-0.1", "2", "nan", "inf", ""])
def test_a_bad_label_names_file_line_and_field(tmp_path, bad):
    source = write_csv(tmp_path / "y.csv", f"text,label\nfine,1\nwhat,{bad}\n")
    with pytest.raises(ValueError, match=r"y\.csv:3: field 'label': .*(0/1|true/false).*\[0, 1\]"):
        load_labelled(source)


def test_texts_that_pandas_took_for_missing_values_are_kept(tmp_path):
    source = write_csv(tmp_path / "d.csv", "text,label\nNA,1\nnull,0\nNone,1\n")
    assert load_labelled(source) == [("NA", 1), ("null", 0), ("None", 1)]


def test_empty_csv_names_the_file(tmp_path):
    source = write_csv(tmp_path / "empty.csv", "")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty; expected a header line"):
        load_labelled(source)
    header_only = write_csv(tmp_path / "header.csv", "text,label\n")
    with pytest.raises(ValueError, match=r"header\.csv: no rows"):
        load_labelled(header_only)


def test_non_utf8_file_names_file_and_line(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("text,label\nok,1\ncafé au lait,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv:3: not UTF-8"):
        load_labelled(str(tmp_path / "latin1.csv"))
    (tmp_path / "latin1.jsonl").write_bytes('{"text": "ok", "label": 1}\n{"text": "café", "label": 0}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.jsonl:2: not UTF-8"):
        load_labelled(str(tmp_path / "latin1.jsonl"))


def test_misaligned_rows_and_bad_json_name_the_line(tmp_path):
    shifted = write_csv(tmp_path / "shifted.csv", "text,label\nfine,1\nhello, world,0\n")  # unquoted comma
    with pytest.raises(ValueError, match=r"shifted\.csv:3: 3 fields but the header has 2"):
        load_labelled(shifted)
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2: not valid JSON"):
        load_labelled(str(tmp_path / "d.jsonl"))
    (tmp_path / "e.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(ValueError, match=r"e\.jsonl:2: no field 'label'"):
        load_labelled(str(tmp_path / "e.jsonl"))


def test_json_array_and_parquet(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps([{"text": "a", "label": 0.9}, {"text": "b", "label": 0}]))
    assert load_labelled(str(tmp_path / "d.json")) == [("a", 1), ("b", 0)]
    (tmp_path / "bad.json").write_text(json.dumps([{"text": "a", "label": 1}, {"text": "b", "label": "high"}]))
    with pytest.raises(ValueError, match=r"bad\.json record 2: field 'label'"):
        load_labelled(str(tmp_path / "bad.json"))
    pd.DataFrame({"comment_text": ["x", "y"], "toxic": [0.7, 0.1]}).to_parquet(tmp_path / "d.parquet")
    assert load_labelled(str(tmp_path / "d.parquet")) == [("x", 1), ("y", 0)]
