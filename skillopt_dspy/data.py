"""Datasets -> ``dspy.Example``: split dirs (SkillOpt's layout) and Hugging Face ``datasets``.

A split dir holds the splits ``train``, ``valid`` (also named ``val``, ``validation`` or ``dev``) and
optionally ``test``, each as ``<split>.jsonl`` (one JSON object per line), ``<split>.json`` (a JSON
array), or microsoft SkillOpt's ``<split>/`` folder holding one such file. A record looks like
``{"id": ..., "input": ..., "expected_output": ...}``. ``fields`` renames keys to the program's field names
(``{"input": "ticket", "expected_output": "queue"}``); the input keys are the only ones passed to the
program, every other key (``id``, ``metadata``...) stays on the example as a label for the metric.

Example:
    >>> splits = load_split_dir("data/ticket_routing", fields={"input": "ticket", "expected_output": "queue"})
    ... # doctest: +SKIP
    >>> list(splits["train"][0].inputs().keys())  # doctest: +SKIP
    ['ticket']
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "val", "validation", "dev"), "test": ("test",)}
SPLIT_ALIASES = {name: split for split, names in SPLIT_NAMES.items() for name in names}
DEFAULT_FIELDS = {"input": "input", "expected_output": "expected_output"}
_SUFFIXES = (".jsonl", ".json")


class DataError(ValueError):
    """The data cannot be turned into examples; the message says which file, row or field."""


def read_records(path: str | Path) -> list[Any]:
    """The records of a ``.jsonl`` file (one per line) or a ``.json`` file (an array, or ``{"data": [...]}``).

    Example:
        >>> read_records("data/ticket_routing/train.jsonl")[0]["expected_output"]  # doctest: +SKIP
        'escalations'
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        data = data.get("data", data) if isinstance(data, dict) else data
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
        return data
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def find_split_file(root: str | Path, split: str) -> Path | None:
    """The file holding ``split`` under ``root`` (see the module docstring), or None; two candidates is an error."""
    root = Path(root)
    found: list[Path] = []
    for name in SPLIT_NAMES[split]:
        found += [root / f"{name}{suffix}" for suffix in _SUFFIXES if (root / f"{name}{suffix}").is_file()]
        folder = root / name
        if folder.is_dir():
            inside = sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
            if len(inside) != 1:
                raise DataError(
                    f"{folder}/ must hold exactly one .json or .jsonl file, found {[p.name for p in inside] or 'none'}"
                )
            found += inside
    if len(found) > 1:
        raise DataError(f"the {split} split of {root} is ambiguous: {[str(p) for p in found]}; keep one")
    return found[0] if found else None


def _example_fix(row: Mapping[str, Any], missing: list[str], input_keys: Sequence[str]) -> str:
    for key in missing:
        guess = "input" if key in input_keys else "expected_output"
        if guess in row and guess != key:
            return f"{{{guess!r}: {key!r}}}"
    return f"{{<key in the data>: {missing[0]!r}}}"


def to_examples(
    rows: Iterable[Any],
    *,
    input_keys: Sequence[str],
    fields: Mapping[str, str] | None = None,
    label_keys: Sequence[str] = (),
    source: str = "data",
) -> list[dspy.Example]:
    """Rename keys by ``fields``, require ``input_keys`` and ``label_keys`` in every row, mark the inputs.

    Other keys may differ between rows (a warning says so once); they stay on the examples as labels.

    Example:
        >>> rows = [{"id": 1, "input": "2+2", "expected_output": "4"}]
        >>> to_examples(rows, input_keys=["question"], fields={"input": "question"})[0].inputs().toDict()
        {'question': '2+2'}
    """
    fields = dict(fields or {})
    required = list(dict.fromkeys([*input_keys, *label_keys]))
    examples: list[dspy.Example] = []
    first_keys: set[str] | None = None
    differing: int | None = None
    for i, row in enumerate(rows, 1):
        if not isinstance(row, Mapping):
            raise DataError(f"{source}, row {i}: expected a JSON object, got {type(row).__name__}")
        renamed = {fields.get(k, k): v for k, v in row.items()}
        missing = [k for k in required if k not in renamed]
        if missing:
            back = {v: k for k, v in fields.items() if k != v}
            named = ", ".join(f"{k!r}" + (f" (from {back[k]!r})" if k in back else "") for k in missing)
            raise DataError(
                f"{source}, row {i}: missing {named}; the row has {sorted(row)}. Map the data's keys to the "
                f"program's fields with data.fields, e.g. {_example_fix(row, missing, input_keys)}"
            )
        if first_keys is None:
            first_keys = set(renamed)
        elif set(renamed) != first_keys and differing is None:
            differing = i
        examples.append(dspy.Example(**renamed).with_inputs(*input_keys))
    if differing is not None:
        logger.warning(
            "%s: rows have different keys (row 1: %s, row %d: %s); the extra keys are kept as labels",
            source,
            sorted(first_keys or ()),
            differing,
            sorted(examples[differing - 1].keys()),
        )
    return examples


def _identity(example: dspy.Example) -> str:
    if "id" in example:
        return f"id={example.id}"
    return json.dumps(example.inputs().toDict(), sort_keys=True, default=str)


def check_overlaps(splits: Mapping[str, list[dspy.Example]]) -> list[str]:
    """Warn (and return the warnings) about ids repeated inside a split or shared by two splits.

    Examples without an ``id`` are compared by their inputs. A shared example inflates the later split's score.
    """
    warnings = []
    seen = {name: [_identity(ex) for ex in examples] for name, examples in splits.items()}
    for name, ids in seen.items():
        repeated = [k for k, n in Counter(ids).items() if n > 1]
        if repeated:
            warnings.append(f"{len(repeated)} example(s) repeated within {name} (e.g. {repeated[0][:80]})")
    names = list(seen)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = set(seen[a]) & set(seen[b])
            if shared:
                sample = sorted(shared)[0][:80]
                warnings.append(
                    f"{len(shared)} example(s) appear in both {a} and {b} (e.g. {sample}); scores on {b} are inflated"
                )
    for msg in warnings:
        logger.warning(msg)
    return warnings


def load_split_dir(
    path: str | Path,
    *,
    fields: Mapping[str, str] | None = None,
    input_keys: Sequence[str] | None = None,
    label_keys: Sequence[str] | None = None,
    splits: Sequence[str] = SPLITS,
    required: Sequence[str] = ("train", "valid"),
    limits: Mapping[str, int | None] | None = None,
) -> dict[str, list[dspy.Example]]:
    """Load the splits of a split dir as examples: ``{"train": [...], "valid": [...], "test": [...]}``.

    ``fields`` maps data keys to program field names (``input`` / ``expected_output`` stay as they are unless
    renamed); ``input_keys`` default to the renamed ``input``, ``label_keys`` to the renamed
    ``expected_output`` (pass ``()`` to require none). A ``required`` split that is missing or empty is an
    error; ``limits`` keeps the first N examples of a split.

    Example:
        >>> load_split_dir("data/ticket_routing")["valid"][0].expected_output  # doctest: +SKIP
        'billing'
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"split dir {str(root)!r} does not exist (expected train and valid splits in it)")
    mapping = {**DEFAULT_FIELDS, **(fields or {})}
    inputs = list(input_keys) if input_keys else [mapping["input"]]
    labels = [mapping["expected_output"]] if label_keys is None else list(label_keys)
    out: dict[str, list[dspy.Example]] = {}
    for split in splits:
        file = find_split_file(root, split)
        if file is None:
            if split in required:
                names = " or ".join(SPLIT_NAMES[split])
                raise DataError(
                    f"{root} has no {split} split: expected {names} as a .jsonl or .json file or as a folder"
                )
            continue
        examples = to_examples(
            read_records(file), input_keys=inputs, fields=mapping, label_keys=labels, source=str(file)
        )
        if not examples:
            raise DataError(f"{file} has no examples")
        limit = (limits or {}).get(split)
        out[split] = examples[:limit] if limit else examples
    check_overlaps(out)
    logger.info("loaded %s from %s", ", ".join(f"{len(v)} {k}" for k, v in out.items()), root)
    return out


def from_hf(
    dataset: Any,
    *,
    input_keys: Sequence[str],
    fields: Mapping[str, str] | None = None,
    label_keys: Sequence[str] = (),
) -> list[dspy.Example] | dict[str, list[dspy.Example]]:
    """A ``datasets.Dataset`` -> examples; a ``DatasetDict`` -> ``{split: examples}`` (``validation`` -> ``valid``).

    ``input_keys`` and ``label_keys`` name fields after renaming by ``fields``. Works on what
    ``load_dataset("json", data_files=...)`` returns.

    Example:
        >>> from datasets import Dataset
        >>> ds = Dataset.from_list([{"question": "2+2?", "answer": "4"}])
        >>> from_hf(ds, input_keys=["question"])[0].inputs().toDict()
        {'question': '2+2?'}
    """
    if type(dataset).__name__ in ("DatasetDict", "IterableDatasetDict") or isinstance(dataset, Mapping):
        result = {}
        for name in list(dataset):
            split = SPLIT_ALIASES.get(name, name)
            if split in result:
                raise DataError(f"two splits of the dataset are both {split!r}: {list(dataset)}")
            result[split] = _from_one(dataset[name], input_keys, fields, label_keys, f"split {name!r}")
        check_overlaps(result)
        return result
    return _from_one(dataset, input_keys, fields, label_keys, "dataset")


def _from_one(
    ds: Any, input_keys: Sequence[str], fields: Mapping[str, str] | None, label_keys: Sequence[str], source: str
) -> list[dspy.Example]:
    if hasattr(ds, "__len__") and len(ds) == 0:
        raise DataError(f"{source} is empty")
    columns = getattr(ds, "column_names", None)
    if columns is not None:
        renamed = {(fields or {}).get(c, c) for c in columns}
        missing = [k for k in [*input_keys, *label_keys] if k not in renamed]
        if missing:
            raise DataError(
                f"{source}: field(s) {missing} are not among its columns {sorted(renamed)}; rename with fields="
            )
    examples = to_examples(ds, input_keys=input_keys, fields=fields, label_keys=label_keys, source=source)
    if not examples:
        raise DataError(f"{source} is empty")
    return examples
