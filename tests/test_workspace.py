"""From a config to a program, metric, data and LMs: bundled tasks, module:attribute names, early errors."""

import json
import os
import re
from pathlib import Path

import dspy
import pytest

from skillopt_dspy.config import ConfigError, build_config, deep_merge, load_config
from skillopt_dspy.generic import GenericProgram, exact_match
from skillopt_dspy.workspace import build, bundled_tasks, make_lm

ROOT = Path(__file__).resolve().parents[1]
FAKE = {"model": {"lm": "tests.cli_fakes:target"}}


def split_dir(root, **splits):
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


ROWS = [{"id": f"r{i}", "input": w, "expected_output": "alpha"} for i, w in enumerate(["ant", "bee", "cat"])]


def test_split_dir_data_alone_trains_the_generic_program_with_exact_match(tmp_path):
    d = split_dir(tmp_path / "d", train=ROWS[:2], valid=ROWS[2:])
    ws = build(build_config({**FAKE, "data": {"split_dir": str(d)}}))
    assert isinstance(ws.program, GenericProgram) and ws.metric is exact_match
    assert ws.splits["train"][0].inputs().toDict() == {"input": "ant"}
    assert isinstance(ws.lm, dspy.LM) and ws.reflection_lm is ws.lm  # the reflection LM defaults to the target


def test_a_bundled_task_fills_program_metric_fields_and_data():
    ws = build(load_config(ROOT / "configs" / "ticket_routing.yaml", values={"model.lm": "tests.cli_fakes:target"}))
    assert type(ws.program).__name__ == "TicketRouter" and ws.metric.__module__ == "metrics.ticket_routing"
    assert list(ws.splits["train"][0].inputs().keys()) == ["ticket"] and "queue" in ws.splits["train"][0]
    assert set(bundled_tasks([ROOT])) == {"ticket_routing", "date_normalization", "field_extraction"}


def test_bundled_paths_resolve_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(ROOT / "configs" / "date_normalization.yaml", values={"model.lm": "tests.cli_fakes:target"})
    assert len(build(cfg).splits["valid"]) > 0
    relative = load_config(ROOT / "configs" / "quickstart.yaml", values={"data.split_dir": "data/ticket_routing"})
    relative = relative.model_copy(update={"model": relative.model.model_copy(update={"lm": "tests.cli_fakes:target"})})
    assert len(build(relative).splits["train"]) == 24  # data/ticket_routing found under the repo root


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "astrology"}, "task.name: unknown bundled task 'astrology'; bundled tasks: date_normalization, "),
        ({"model": {"lm": "local/gpt-99"}}, "model.lm: unknown local model 'gpt-99'; use one of ['qwen2.5-coder"),
        ({"model": {"lm": "local/missing.gguf"}}, "model.lm: no GGUF file at 'missing.gguf'"),
        (
            {"model": {"lm": "nowhere.lms:factory"}},
            "model.lm 'nowhere.lms:factory': cannot import module 'nowhere.lms'",
        ),
        (
            {"model": {"reflection_lm": "tests.cli_fakes:nothing"}},
            "module 'tests.cli_fakes' has no attribute 'nothing'",
        ),
        ({"task": {"program": "tests.fakes:GROUPS"}}, "task.program 'tests.fakes:GROUPS' is a dict, not a dspy.Module"),
        ({"task": {"metric": "tests.fakes:rule_for"}}, "task.metric: metric 'rule_for' has signature (word: 'str')"),
        ({"data": {"split_dir": "/nonexistent/dir"}}, "data: split dir '/nonexistent/dir' does not exist"),
    ],
)
def test_bad_parts_fail_before_any_lm_is_built(data, message):
    base = {"data": {"split_dir": str(ROOT / "data" / "ticket_routing")}, **FAKE}
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(build_config(deep_merge(base, data)))


def test_no_data_is_an_error_naming_the_keys():
    with pytest.raises(ConfigError, match=re.escape("data.split_dir: no data; set data.split_dir (--split-dir)")):
        build(build_config(FAKE))


def test_data_that_does_not_fit_the_program_says_how_to_map_it(tmp_path):
    d = split_dir(tmp_path / "d", train=ROWS, valid=ROWS)
    cfg = {**FAKE, "task": {"program": "tests.fakes:WordGroup"}, "data": {"split_dir": str(d)}}
    with pytest.raises(ConfigError, match=re.escape("missing 'word'; the row has ['expected_output', 'id', 'input']")):
        build(build_config(cfg))
    ws = build(build_config(cfg, values={"data.fields": {"input": "word", "expected_output": "group"}}))
    assert ws.splits["train"][0].word == "ant" and ws.splits["train"][0].group == "alpha"


def test_programs_and_lm_factories_import_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "myprogs").mkdir()
    (tmp_path / "myprogs" / "__init__.py").write_text("")
    (tmp_path / "myprogs" / "echo.py").write_text(
        "import dspy\nFIELDS = {'input': 'text', 'expected_output': 'label'}\n"
        "class Echo(dspy.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.p = dspy.Predict('text -> label')\n"
        "    def forward(self, text):\n        return self.p(text=text)\n"
        "def lm(**kwargs):\n    return dspy.LM('openai/echo', **kwargs)\n"
    )
    d = split_dir(tmp_path / "d", train=ROWS, valid=ROWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", os.getcwd())])
    cfg = build_config(
        {
            "model": {"lm": "myprogs.echo:lm", "lm_kwargs": {"temperature": 0.3}},
            "task": {"program": "myprogs.echo:Echo"},
            "data": {"split_dir": "d"},
        }
    )
    ws = build(cfg)
    assert type(ws.program).__name__ == "Echo" and ws.splits["valid"][0].label == "alpha"
    assert ws.lm.model == "openai/echo" and ws.lm.kwargs["temperature"] == 0.3
    assert d.is_dir()


def test_lm_strings():
    assert make_lm("openai/gpt-4o-mini", {"temperature": 0.1}).model == "openai/gpt-4o-mini"
    assert make_lm("tests.cli_fakes:target").model == "fake/target"
    with pytest.raises(ConfigError, match=r"returned str, not a dspy\.LM"):
        make_lm("tests.cli_fakes:not_an_lm")


def test_relative_skill_paths_resolve_like_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(
        ROOT / "configs" / "ticket_routing.yaml",
        values={
            "model.lm": "tests.cli_fakes:target",
            "optimizer.initial_skill": "data/ticket_routing/reference_skill.md",
        },
    )
    kwargs = build(cfg).skillopt_kwargs()
    assert Path(kwargs["initial_skill"]).is_file() and kwargs["learning_rate"] == 4


def test_relative_paths_in_a_config_are_found_beside_it_from_any_directory(tmp_path, monkeypatch):
    from skillopt_dspy.workspace import check_lm

    exp = tmp_path / "experiments" / "mine"
    split_dir(exp / "my_data", train=ROWS, valid=ROWS)
    (exp / "start.md").write_text("- Answer alpha.\n")
    (exp / "memory.md").write_text("- Short rules win.\n")
    (exp / "tiny.gguf").write_bytes(b"GGUF")
    config_path = exp / "config.yaml"
    config_path.write_text(
        "model: {lm: 'tests.cli_fakes:target'}\n"
        "data: {split_dir: my_data}\n"
        "optimizer: {initial_skill: start.md, meta_skill: memory.md}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(config_path)
    ws = build(cfg)
    assert len(ws.splits["train"]) == len(ROWS)
    kwargs = ws.skillopt_kwargs()
    assert Path(kwargs["initial_skill"]) == exp / "start.md" and Path(kwargs["meta_skill"]) == exp / "memory.md"
    check_lm("local/tiny.gguf", "model.lm", cfg)  # found beside the config, not in the current directory


def test_a_missing_relative_path_lists_every_place_it_looked(tmp_path, monkeypatch):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text("model: {lm: 'tests.cli_fakes:target'}\ndata: {split_dir: my_data}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        build(load_config(exp / "config.yaml"))
    message = str(err.value)
    assert message.startswith("data.split_dir: 'my_data' not found")
    for place in (exp / "my_data", tmp_path / "my_data"):
        assert str(place) in message
