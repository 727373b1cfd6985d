"""Datasets → ``dspy.Example``: SkillOpt split dirs (JSONL) and Hugging Face ``datasets``.

A split dir holds ``train.jsonl``, ``valid.jsonl`` and optionally ``test.jsonl``, one JSON object per
line such as ``{"input": ..., "expected_output": ...}`` (extra keys like ``id`` are kept as labels, never
passed to the program). ``fields`` renames keys to the program's field names, e.g.
``{"input": "ticket", "expected_output": "queue"}``; the renamed ``input`` keys become the inputs.

Example:
    >>> splits = load_split_dir("data/ticket_routing", fields={"input": "ticket", "expected_output": "queue"})
    ... # doctest: +SKIP
    >>> splits["train"][0].inputs().keys()  # doctest: +SKIP
    dict_keys(['ticket'])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {"validation": "valid", "val": "valid", "dev": "valid"}
DEFAULT_FIELDS = {"input": "input", "expected_output": "expected_output"}


class DataError(ValueError):
    """The data cannot be turned into examples; the message says which file, line or field."""


def to_examples(
    rows: Iterable[Mapping[str, Any]],
    *,
    input_keys: Sequence[str],
    fields: Mapping[str, str] | None = None,
    source: str = "data",
) -> list[dspy.Example]:
    """Rename keys by ``fields``, check that every row has the same keys, and mark ``input_keys`` as inputs."""
    fields = dict(fields or {})
    examples: list[dspy.Example] = []
    first_keys: set[str] | None = None
    for i, row in enumerate(rows, 1):
        if not isinstance(row, Mapping):
            raise DataError(f"{source}, row {i}: expected a JSON object, got {type(row).__name__}")
        renamed = {fields.get(k, k): v for k, v in row.items()}
        keys = set(renamed)
        missing = [k for k in input_keys if k not in renamed]
        if missing:
            raise DataError(f"{source}, row {i}: missing input field(s) {missing}; the row has {sorted(row)}")
        if first_keys is None:
            first_keys = keys
        elif keys != first_keys:
            raise DataError(
                f"{source}, row {i}: fields {sorted(keys)} differ from the first row's {sorted(first_keys)}; "
                "every row must have the same fields"
            )
        examples.append(dspy.Example(**renamed).with_inputs(*input_keys))
    return examples


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; a malformed line is an error naming the file and line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def _identity(ex: dspy.Example) -> str:
    if "id" in ex:
        return f"id={ex.id}"
    return json.dumps(ex.inputs().toDict(), sort_keys=True, default=str)


def warn_overlaps(splits: Mapping[str, list[dspy.Example]]) -> list[str]:
    """Log (and return) a warning for every id or input shared by two splits: it inflates scores."""
    warnings = []
    names = list(splits)
    seen = {name: {_identity(ex) for ex in splits[name]} for name in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = seen[a] & seen[b]
            if shared:
                sample = sorted(shared)[0][:80]
                msg = f"{len(shared)} example(s) appear in both {a} and {b} (e.g. {sample}); scores on {b} are inflated"
                logger.warning(msg)
                warnings.append(msg)
    return warnings


def load_split_dir(
    path: str | Path,
    *,
    fields: Mapping[str, str] | None = None,
    input_keys: Sequence[str] | None = None,
    splits: Sequence[str] = SPLITS,
    limits: Mapping[str, int | None] | None = None,
) -> dict[str, list[dspy.Example]]:
    """Load ``path/{train,valid,test}.jsonl``; ``train`` and ``valid`` must exist and be non-empty.

    ``fields`` maps file keys to program field names (default: keep ``input`` / ``expected_output``);
    ``input_keys`` defaults to the renamed ``input`` key. ``limits`` keeps the first N of a split.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"split dir {str(root)!r} does not exist (expected {root}/train.jsonl, valid.jsonl, test.jsonl)"
        )
    mapping = {**DEFAULT_FIELDS, **(fields or {})}
    keys = list(input_keys) if input_keys else [mapping["input"]]
    out: dict[str, list[dspy.Example]] = {}
    for split in splits:
        file = root / f"{split}.jsonl"
        if not file.exists():
            if split == "test":
                continue
            raise DataError(f"{file} is missing: a split dir needs train.jsonl and valid.jsonl")
        examples = to_examples(read_jsonl(file), input_keys=keys, fields=mapping, source=str(file))
        if not examples:
            raise DataError(f"{file} has no examples")
        limit = (limits or {}).get(split)
        out[split] = examples[:limit] if limit else examples
    warn_overlaps(out)
    return out


def from_hf(
    dataset: Any,
    *,
    input_keys: Sequence[str],
    fields: Mapping[str, str] | None = None,
) -> list[dspy.Example] | dict[str, list[dspy.Example]]:
    """A ``datasets.Dataset`` → examples; a ``DatasetDict`` → {split: examples} (``validation`` → ``valid``).

    Example:
        >>> from datasets import Dataset
        >>> ds = Dataset.from_list([{"question": "2+2?", "answer": "4"}])
        >>> from_hf(ds, input_keys=["question"])[0].inputs().keys()
        dict_keys(['question'])
    """
    if _is_dataset_dict(dataset) or isinstance(dataset, Mapping):
        result = {}
        for name in list(dataset):
            split = SPLIT_ALIASES.get(name, name)
            result[split] = _from_one(dataset[name], input_keys, fields, f"split {name!r}")
        warn_overlaps(result)
        return result
    return _from_one(dataset, input_keys, fields, "dataset")


def _is_dataset_dict(obj: Any) -> bool:
    return type(obj).__name__ in ("DatasetDict", "IterableDatasetDict")


def _from_one(ds: Any, input_keys: Sequence[str], fields: Mapping[str, str] | None, source: str) -> list[dspy.Example]:
    if hasattr(ds, "__len__") and len(ds) == 0:
        raise DataError(f"{source} is empty")
    columns = getattr(ds, "column_names", None)
    if columns is not None:
        renamed = {(fields or {}).get(c, c) for c in columns}
        missing = [k for k in input_keys if k not in renamed]
        if missing:
            raise DataError(f"{source}: input field(s) {missing} are not among its columns {sorted(renamed)}")
    examples = to_examples(ds, input_keys=input_keys, fields=fields, source=source)
    if not examples:
        raise DataError(f"{source} is empty")
    return examples
