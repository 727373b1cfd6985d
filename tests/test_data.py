"""Split dirs (ours and SkillOpt's folder layout) and Hugging Face datasets become dspy.Examples."""

import json
import logging

import pytest
from datasets import Dataset, DatasetDict, load_dataset

from skillopt_dspy.data import DataError, check_overlaps, from_hf, load_split_dir, to_examples

ROWS = [{"id": "a", "input": "2+2", "expected_output": "4"}, {"id": "b", "input": "3+3", "expected_output": "6"}]
VALID = [{"id": "c", "input": "1+1", "expected_output": "2"}]


def jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def split_dir(root, rows_by_split):
    for split, rows in rows_by_split.items():
        jsonl(root / f"{split}.jsonl", rows)
    return root


def test_split_dir_renames_fields_and_only_inputs_reach_the_program(tmp_path):
    d = split_dir(tmp_path, {"train": ROWS, "valid": VALID})
    splits = load_split_dir(d, fields={"input": "question", "expected_output": "answer"})
    assert set(splits) == {"train", "valid"}  # test is optional
    ex = splits["train"][0]
    assert ex.question == "2+2" and ex.answer == "4" and ex.id == "a"
    assert list(ex.inputs().keys()) == ["question"] and set(ex.labels().keys()) == {"answer", "id"}


def test_skillopt_folder_layout_with_json_arrays_loads(tmp_path):
    """microsoft SkillOpt's split_dir: train/ val/ test/ folders, each holding one JSON array (items.json)."""
    for split, rows in (("train", ROWS), ("val", VALID), ("test", VALID)):
        (tmp_path / split).mkdir()
        (tmp_path / split / "items.json").write_text(json.dumps(rows, indent=2))
    splits = load_split_dir(tmp_path, limits={"train": 1})
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [1, 1, 1]
    assert splits["valid"][0].expected_output == "2"


def test_json_files_and_split_name_aliases(tmp_path):
    (tmp_path / "train.json").write_text(json.dumps({"data": ROWS}))
    jsonl(tmp_path / "dev.jsonl", VALID)
    assert len(load_split_dir(tmp_path)["valid"]) == 1
    jsonl(tmp_path / "val.jsonl", VALID)
    with pytest.raises(DataError, match=r"the valid split of .* is ambiguous"):
        load_split_dir(tmp_path)


def test_split_dir_errors_name_the_file_and_row(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split_dir(tmp_path / "missing")
    d = split_dir(tmp_path, {"train": ROWS})
    with pytest.raises(DataError, match="has no valid split: expected valid or val or validation or dev"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text("")
    with pytest.raises(DataError, match=r"valid\.jsonl has no examples"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"input": "x", "expected_output": "y"}\n{oops\n')
    with pytest.raises(DataError, match=r"valid\.jsonl:2: not valid JSON"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"input": "x", "expected_output": "y"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"valid\.jsonl, row 2: expected a JSON object, got list"):
        load_split_dir(d)
    (tmp_path / "valid.jsonl").write_text('{"input": "x", "expected_output": "y"}\n{"input": "z"}\n')
    with pytest.raises(DataError, match=r"row 2: missing 'expected_output'; the row has \['input'\]"):
        load_split_dir(d)
    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match=r"val/ must hold exactly one \.json or \.jsonl file, found none"):
        load_split_dir(d)


def test_mismatched_fields_say_how_to_map_them(tmp_path):
    d = split_dir(tmp_path, {"train": [{"question": "q", "ground_truth": "a"}], "valid": VALID})
    with pytest.raises(
        DataError,
        match=r"missing 'input', 'expected_output'; the row has \['ground_truth', 'question'\]\. .*data\.fields",
    ):
        load_split_dir(d)
    renamed = split_dir(tmp_path / "b", {"train": ROWS, "valid": VALID})
    with pytest.raises(DataError, match=r"missing 'ticket'; .*e\.g\. \{'input': 'ticket'\}"):
        load_split_dir(renamed, input_keys=["ticket"])  # a program whose forward takes `ticket`
    with pytest.raises(DataError, match=r"missing 'ticket' \(from 'question'\)"):
        load_split_dir(renamed, fields={"question": "ticket"}, input_keys=["ticket"])
    fields = {"question": "input", "ground_truth": "expected_output"}
    splits = load_split_dir(d, fields=fields)
    assert splits["train"][0].input == "q" and splits["train"][0].expected_output == "a"
    assert splits["valid"][0].input == "1+1"  # keys already named as the program's fields stay as they are


def test_optional_keys_may_differ_between_rows_with_a_warning(caplog):
    rows = [{"input": "a", "expected_output": "b"}, {"input": "c", "expected_output": "d", "metadata": {"k": 1}}]
    with caplog.at_level(logging.WARNING):
        examples = to_examples(rows, input_keys=["input"], label_keys=["expected_output"], source="f.jsonl")
    assert examples[1].metadata == {"k": 1} and list(examples[1].inputs().keys()) == ["input"]
    assert "f.jsonl: rows have different keys" in caplog.text


def test_duplicate_ids_within_and_between_splits_warn(tmp_path, caplog):
    d = split_dir(tmp_path, {"train": [*ROWS, ROWS[0]], "valid": [ROWS[1]], "test": VALID})
    with caplog.at_level(logging.WARNING):
        load_split_dir(d)
    assert "1 example(s) repeated within train (e.g. id=a)" in caplog.text
    assert "1 example(s) appear in both train and valid (e.g. id=b); scores on valid are inflated" in caplog.text
    no_ids = to_examples([{"input": "x", "expected_output": "y"}], input_keys=["input"])
    assert check_overlaps({"train": no_ids, "test": no_ids}) == [
        '1 example(s) appear in both train and test (e.g. {"input": "x"}); scores on test are inflated'
    ]


def test_hugging_face_datasets():
    ds = Dataset.from_list([{"q": "2+2", "a": "4"}, {"q": "1+1", "a": "2"}])
    examples = from_hf(ds, input_keys=["q"])
    assert len(examples) == 2 and list(examples[0].inputs().keys()) == ["q"] and examples[0].a == "4"
    dd = DatasetDict({"train": ds, "validation": Dataset.from_list([{"q": "3+3", "a": "6"}])})
    splits = from_hf(dd, input_keys=["question"], fields={"q": "question", "a": "answer"}, label_keys=["answer"])
    assert set(splits) == {"train", "valid"} and splits["valid"][0].answer == "6"
    with pytest.raises(DataError, match=r"field\(s\) \['prompt'\] are not among its columns \['a', 'q'\]"):
        from_hf(ds, input_keys=["prompt"])
    with pytest.raises(DataError, match="dataset is empty"):
        from_hf(Dataset.from_list([]), input_keys=["q"])
    with pytest.raises(DataError, match="two splits of the dataset are both 'valid'"):
        from_hf({"val": ds, "validation": ds}, input_keys=["q"])


def test_load_dataset_json_reads_a_skillopt_split_dir(tmp_path):
    jsonl(tmp_path / "train.jsonl", ROWS)
    jsonl(tmp_path / "valid.jsonl", VALID)
    files = {"train": str(tmp_path / "train.jsonl"), "validation": str(tmp_path / "valid.jsonl")}
    splits = from_hf(load_dataset("json", data_files=files), input_keys=["input"], label_keys=["expected_output"])
    assert [e.expected_output for e in splits["train"]] == ["4", "6"] and splits["valid"][0].id == "c"
