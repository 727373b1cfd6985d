import json
import logging

import pytest
from datasets import Dataset, DatasetDict

from skillopt_dspy.data import DataError, from_hf, load_split_dir


def split_dir(tmp_path, rows_by_split):
    for split, rows in rows_by_split.items():
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


ROWS = [{"id": "a", "input": "2+2", "expected_output": "4"}, {"id": "b", "input": "3+3", "expected_output": "6"}]


def test_split_dir_loads_with_renamed_fields_and_inputs(tmp_path):
    d = split_dir(tmp_path, {"train": ROWS, "valid": [{"id": "c", "input": "1+1", "expected_output": "2"}]})
    splits = load_split_dir(d, fields={"input": "question", "expected_output": "answer"})
    assert set(splits) == {"train", "valid"}
    ex = splits["train"][0]
    assert ex.question == "2+2" and ex.answer == "4" and ex.id == "a"
    assert list(ex.inputs().keys()) == ["question"]


def test_split_dir_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split_dir(tmp_path / "missing")
    d = split_dir(tmp_path, {"train": ROWS})
    with pytest.raises(DataError, match=r"valid\.jsonl is missing"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text("")
    with pytest.raises(DataError, match="has no examples"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"input": "x", "expected_output": "y"}\n{oops\n')
    with pytest.raises(DataError, match=r"valid\.jsonl:2: not valid JSON"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"input": "x", "expected_output": "y"}\n{"input": "z"}\n')
    with pytest.raises(DataError, match="differ from the first row"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"question": "x"}\n')
    with pytest.raises(DataError, match=r"missing input field\(s\) \['input'\]"):
        load_split_dir(d)


def test_duplicates_between_splits_warn(tmp_path, caplog):
    d = split_dir(tmp_path, {"train": ROWS, "valid": [ROWS[0]]})
    with caplog.at_level(logging.WARNING):
        load_split_dir(d)
    assert "appear in both train and valid" in caplog.text


def test_limits_keep_the_first_examples(tmp_path):
    d = split_dir(tmp_path, {"train": ROWS, "valid": ROWS[:1]})
    assert len(load_split_dir(d, limits={"train": 1})["train"]) == 1


def test_hugging_face_datasets(tmp_path):
    ds = Dataset.from_list([{"q": "2+2", "a": "4"}, {"q": "1+1", "a": "2"}])
    examples = from_hf(ds, input_keys=["q"])
    assert len(examples) == 2 and list(examples[0].inputs().keys()) == ["q"]
    dd = DatasetDict({"train": ds, "validation": Dataset.from_list([{"q": "3+3", "a": "6"}])})
    splits = from_hf(dd, input_keys=["question"], fields={"q": "question", "a": "answer"})
    assert set(splits) == {"train", "valid"} and splits["valid"][0].answer == "6"
    with pytest.raises(DataError, match=r"input field\(s\) \['prompt'\] are not among its columns"):
        from_hf(ds, input_keys=["prompt"])
    with pytest.raises(DataError, match="is empty"):
        from_hf(Dataset.from_list([]), input_keys=["q"])


def test_load_dataset_json(tmp_path):
    from datasets import load_dataset

    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    ds = load_dataset("json", data_files={"train": str(tmp_path / "train.jsonl")})
    splits = from_hf(ds, input_keys=["input"])
    assert [e.expected_output for e in splits["train"]] == ["4", "6"]
