"""Config loading: _base_ inheritance, overrides, errors that name the key, SkillOpt-format configs."""

import inspect
import logging
import re
from pathlib import Path

import pytest
import yaml

from skillopt_dspy import SkillOpt
from skillopt_dspy.config import Config, ConfigError, apply_overrides, build_config, load_config
from skillopt_dspy.skillopt_compat import MAPPING, SAME_AS_HERE

ROOT = Path(__file__).resolve().parents[1]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_inheritance_deep_merges_and_child_wins(tmp_path):
    write(tmp_path / "_base_" / "a.yaml", "optimizer:\n  learning_rate: 3\n  gate: soft\ntrain:\n  epochs: 5\n")
    write(tmp_path / "_base_" / "b.yaml", "_base_: a.yaml\ntrain:\n  batch_size: 4\n")
    cfg = load_config(write(tmp_path / "c.yaml", "_base_: [_base_/b.yaml]\noptimizer:\n  learning_rate: 6\n"))
    assert cfg.optimizer.learning_rate == 6 and cfg.optimizer.gate == "soft"
    assert cfg.train.epochs == 5 and cfg.train.batch_size == 4
    assert cfg.source == str(tmp_path / "c.yaml")


def test_task_shorthand_keeps_the_base_task_keys(tmp_path):
    write(tmp_path / "base.yaml", "task:\n  predictors: [route]\n")
    cfg = load_config(write(tmp_path / "c.yaml", "_base_: base.yaml\ntask: ticket_routing\n"))
    assert cfg.task.name == "ticket_routing" and cfg.task.predictors == ["route"]
    assert load_config(write(tmp_path / "d.yaml", "data:\n  task: field_extraction\n")).task.name == "field_extraction"
    assert build_config({}, overrides=["task=date_normalization"]).task.name == "date_normalization"
    with pytest.raises(ConfigError, match=r"data\.task \('a'\) and task\.name \('b'\) disagree"):
        build_config({"task": {"name": "b"}, "data": {"task": "a"}})


def test_dotted_overrides_parse_values_as_yaml_and_flags_win(tmp_path):
    cfg = load_config(
        write(tmp_path / "c.yaml", "train:\n  epochs: 1\n"),
        overrides=[
            "optimizer.learning_rate=8",
            "train.batch_size=32",
            "optimizer.use_slow_update=false",
            "task.predictors=[a, b]",
            "model.lm_kwargs.temperature=0.2",
            "data.split_dir=2024",
        ],
        values={"data.split_dir": "2025"},  # a command-line flag: a string, never re-read as YAML
    )
    assert cfg.optimizer.learning_rate == 8 and cfg.train.batch_size == 32 and cfg.train.epochs == 1
    assert cfg.optimizer.use_slow_update is False and cfg.task.predictors == ["a", "b"]
    assert cfg.model.lm_kwargs == {"temperature": 0.2} and cfg.data.split_dir == "2025"
    with pytest.raises(ConfigError, match=r"must look like section\.key=value"):
        apply_overrides({}, ["learning_rate"])
    with pytest.raises(ConfigError, match=re.escape("train.epochs is a value, not a section")):
        apply_overrides({"train": {"epochs": 1}}, ["train.epochs.x=2"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"optimizer": {"learing_rate": 3}},
            "optimizer.learing_rate: unknown key; allowed here: aggregate_fan_in, batch_check, carry_ahead",
        ),
        (
            {"optimizer": {"learning_rate": "many"}},
            "optimizer.learning_rate: Input should be a valid integer (got 'many')",
        ),
        ({"optimizer": {"learning_rate": 2.5}}, "optimizer.learning_rate: Input should be a valid integer (got 2.5)"),
        ({"train": {"epochs": 0}}, "train.epochs: Input should be greater than or equal to 1 (got 0)"),
        ({"optimizer": {"gate": "median"}}, "optimizer.gate: Input should be 'hard', 'soft' or 'mixed' (got 'median')"),
        ({"optimizer": {"mixed_weight": 2}}, "optimizer.mixed_weight: Input should be less than or equal to 1"),
        ({"optimizer": {"lr_scheduler": "step"}}, "optimizer.lr_scheduler: Input should be 'constant', 'linear' or"),
        ({"optimizer": {"use_slow_update": "yes"}}, "optimizer.use_slow_update: Input should be a valid boolean"),
        (
            {"optimizer": {"learning_rate": 2, "min_learning_rate": 3}},
            "optimizer.min_learning_rate (3) must not exceed",
        ),
        ({"modle": {}}, "modle: unknown key; allowed here: data, model, optimizer, run, sweep, task, train"),
        ({"model": {"adapter": "yaml"}}, "model.adapter: Input should be 'json', 'chat' or 'xml'"),
        ({"model": {"lm": "gpt-4o"}}, "model.lm: 'gpt-4o' is not an LM string; use local/<model name or path.gguf>"),
        ({"task": {"program": "programs/x.py"}}, "task.program: 'programs/x.py' must be named as module:attribute"),
        ({"data": {"fields": {"input": 3}}}, "data.fields.input: Input should be a valid string (got 3)"),
        (
            {"train": {"train_size": 10}},
            "train.train_size: unknown key (SkillOpt's train.train_size is data.train_limit",
        ),
        ({"train": 3}, "train: Input should be a valid dictionary or instance of TrainConfig (got 3)"),
    ],
)
def test_errors_name_the_key_path_and_allowed_values(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(data)


def test_every_error_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        build_config({"train": {"epochs": 0, "batch_size": "x"}, "run": {"progres": True}})
    assert str(info.value).count("\n") == 3  # a title line and one line per key


def test_missing_file_bad_yaml_and_base_cycle(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=r"does not exist \(named in _base_ of .*c\.yaml\)"):
        load_config(write(tmp_path / "c.yaml", "_base_: gone.yaml\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path / "bad.yaml", "a: [1, 2"))
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_config(write(tmp_path / "list.yaml", "- 1\n"))
    write(tmp_path / "x.yaml", "_base_: y.yaml\n")
    write(tmp_path / "y.yaml", "_base_: x.yaml\n")
    with pytest.raises(ConfigError, match="_base_ cycle"):
        load_config(tmp_path / "x.yaml")


# A config in microsoft SkillOpt's layout (configs/_base_/default.yaml of github.com/microsoft/SkillOpt).
SKILLOPT_CONFIG = """
model:
  backend: azure_openai
  optimizer: gpt-4o
  target: gpt-4o-mini
  optimizer_backend: openai_chat
  target_backend: openai_chat
  reasoning_effort: medium
  azure_openai_api_key: "SECRET-VALUE"
  codex_exec_path: ""
train:
  num_epochs: 3
  train_size: 0
  batch_size: 12
  accumulation: 1
  seed: 42
gradient:
  minibatch_size: 4
  merge_batch_size: 3
  analyst_workers: 6
  max_analyst_rounds: 3
optimizer:
  learning_rate: 5
  min_learning_rate: 2
  lr_scheduler: cosine
  lr_control_mode: fixed
  skill_update_mode: patch
  use_slow_update: false
  slow_update_samples: 20
  use_meta_skill: true
evaluation:
  use_gate: true
  gate_metric: mixed
  gate_mixed_weight: 0.3
  sel_env_num: 10
  test_env_num: 0
env:
  name: searchqa
  split_mode: split_dir
  split_dir: data/searchqa
  skill_init: skills/start.md
human_feedback:
  enabled: false
  timeout_seconds: 0
"""


def test_a_skillopt_config_loads_with_every_key_mapped_or_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        cfg = load_config(write(tmp_path / "skillopt.yaml", SKILLOPT_CONFIG))
    assert cfg.model.lm == "openai/gpt-4o-mini" and cfg.model.reflection_lm == "openai/gpt-4o"
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.seed) == (3, 12, 42)
    assert (cfg.train.minibatch_size, cfg.optimizer.aggregate_fan_in, cfg.train.num_threads) == (4, 3, 6)
    assert (cfg.optimizer.learning_rate, cfg.optimizer.min_learning_rate, cfg.optimizer.lr_scheduler) == (
        5,
        2,
        "cosine",
    )
    assert cfg.optimizer.use_slow_update is False and cfg.optimizer.slow_update_samples == 20
    assert cfg.optimizer.gate == "mixed" and cfg.optimizer.mixed_weight == 0.3
    assert (cfg.data.train_limit, cfg.data.valid_limit, cfg.data.test_limit) == (None, 10, None)  # 0 = all
    assert cfg.data.split_dir == "data/searchqa" and cfg.optimizer.initial_skill == "skills/start.md"
    # Reported, once, by name; never the secret; what matches skillopt-dspy's behaviour is not noise.
    assert sorted(cfg.ignored_keys) == [
        "env.name",
        "gradient.max_analyst_rounds",
        "model.azure_openai_api_key",
        "model.reasoning_effort",
    ]
    assert "no meaning in skillopt-dspy" in caplog.text and "model.reasoning_effort" in caplog.text
    assert "SECRET-VALUE" not in caplog.text and "OPENAI_API_KEY" in caplog.text
    assert "SECRET-VALUE" not in cfg.dump_yaml()


def test_skillopt_behaviour_switches_that_differ_from_ours_are_reported():
    cfg = build_config({"evaluation": {"use_gate": False}, "optimizer": {"skill_update_mode": "full_rewrite"}})
    assert sorted(cfg.ignored_keys) == ["evaluation.use_gate", "optimizer.skill_update_mode"]
    cfg = build_config({"evaluation": {"use_gate": True}, "human_feedback": {"enabled": True, "timeout_seconds": 5}})
    assert cfg.ignored_keys == ["human_feedback.enabled", "human_feedback.timeout_seconds"]
    for key, value in SAME_AS_HERE.items():
        section, name = key.split(".")
        assert build_config({"evaluation": {}, section: {name: value}}).ignored_keys == [], key


def test_skillopt_limits_and_workers():
    cfg = build_config({"env": {"limit": 5, "workers": 3}, "gradient": {"analyst_workers": 16}})
    assert (cfg.data.train_limit, cfg.data.valid_limit, cfg.data.test_limit, cfg.train.num_threads) == (5, 5, 5, 3)
    cfg = build_config({"env": {"limit": 0}, "gradient": {"analyst_workers": 16}, "evaluation": {"test_env_num": 7}})
    assert (cfg.data.train_limit, cfg.data.test_limit, cfg.train.num_threads) == (None, 7, 16)


def test_skillopt_keys_in_errors_and_overrides_are_the_users(tmp_path):
    path = write(tmp_path / "s.yaml", "train:\n  num_epochs: 2\nevaluation:\n  gate_metric: hard\n")
    with pytest.raises(ConfigError, match=re.escape("evaluation.gate_metric (here optimizer.gate): Input should be")):
        load_config(path, overrides=["evaluation.gate_metric=median"])
    cfg = load_config(path, overrides=["train.num_epochs=5", "train.batch_size=3", "optimizer.gate=soft"])
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.optimizer.gate) == (5, 3, "soft")
    cfg = load_config(path, values={"model.lm": "openai/gpt-4o", "data.split_dir": "d"})
    assert cfg.model.lm == "openai/gpt-4o" and cfg.data.split_dir == "d"


def test_skillopt_backends_become_litellm_prefixes():
    cfg = build_config(
        {
            "model": {
                "backend": "openai_compatible",
                "target": "qwen2.5-7b",
                "openai_compatible_base_url": "http://localhost:8000/v1",
                "optimizer": "gpt-4o",
                "optimizer_backend": "azure_openai",
                "optimizer_azure_openai_endpoint": "https://x.openai.azure.com/",
                "azure_openai_api_version": "2024-12-01-preview",
            },
            "evaluation": {},
        }
    )
    assert cfg.model.lm == "openai/qwen2.5-7b" and cfg.model.lm_kwargs == {"api_base": "http://localhost:8000/v1"}
    assert cfg.model.reflection_lm == "azure/gpt-4o"
    assert cfg.model.reflection_lm_kwargs == {
        "api_base": "https://x.openai.azure.com/",
        "api_version": "2024-12-01-preview",
    }
    agent = {"model": {"target": "claude", "backend": "claude_code_exec"}, "evaluation": {}}
    with pytest.raises(ConfigError, match=r"model\.target \(here model\.lm\): 'claude' is not an LM string"):
        build_config(agent)
    cfg = build_config(agent, values={"model.lm": "anthropic/claude-sonnet-4"})  # what --lm does
    assert cfg.model.lm == "anthropic/claude-sonnet-4" and cfg.ignored_keys == ["model.backend"]


def test_mapping_targets_exist_in_the_native_schema():
    schema = Config().model_dump()
    for source, target in MAPPING.items():
        section, key = target.split(".")
        assert key in schema[section], f"{source} -> {target}"


def test_every_skillopt_knob_has_a_config_key():
    params = set(inspect.signature(SkillOpt.__init__).parameters) - {"self", "metric"}
    not_in_config = {"reflection_lm", "log_dir", "callbacks"}  # LM objects, the run dir, Python objects
    kwargs = Config().skillopt_kwargs()
    assert set(kwargs) == params - not_in_config
    opt = SkillOpt(lambda e, p, t=None: 1.0, **build_config({"optimizer": {"learning_rate": 3}}).skillopt_kwargs())
    assert opt.settings.learning_rate == 3


def test_bundled_configs_load_and_the_base_lists_every_default():
    for name in (
        "quickstart",
        "quickstart-large",
        "ticket_routing",
        "date_normalization",
        "field_extraction",
        "date_normalization-1.5b",
    ):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        assert cfg.task.name and cfg.model.lm.startswith("local/"), name
    large = load_config(ROOT / "configs" / "quickstart-large.yaml")  # the README's main job, as measured there
    assert (large.model.lm, large.task.name, large.optimizer.gate_test) == (
        "local/qwen2.5-coder-1.5b",
        "field_extraction",
        "strict",
    )
    assert (large.data.train_limit, large.data.valid_limit, large.data.test_limit, large.train.epochs) == (8, 20, 30, 1)
    base = yaml.safe_load((ROOT / "configs" / "_base_" / "default.yaml").read_text())
    assert base == Config().model_dump(mode="json")


def test_the_dates_config_holds_the_measured_dates_settings():
    # benchmarks/RESULTS.md's dates runs: compare.py --task date_normalization --budget 300 --cfg-options
    # data.valid_limit=60 data.test_limit=60 train.minibatch_size=4 train.batch_size=8 optimizer.learning_rate=2
    # optimizer.worked_examples=4 (--lm local/qwen2.5-coder-1.5b, compare.py's --threads 2)
    cfg = load_config(ROOT / "configs" / "date_normalization-1.5b.yaml")
    measured = build_config(
        {
            "task": "date_normalization",
            "model": {"lm": "local/qwen2.5-coder-1.5b"},
            "data": {"valid_limit": 60, "test_limit": 60},
            "optimizer": {"learning_rate": 2, "worked_examples": 4},
            "train": {"batch_size": 8, "minibatch_size": 4, "num_threads": 2, "max_metric_calls": 300},
        }
    )
    assert cfg.model_dump() == measured.model_dump()
    assert cfg.optimizer.worked_examples_from == "batch" and cfg.model.reflection_lm is None


def test_docs_describe_every_key_and_every_skillopt_key():
    docs = (ROOT / "docs" / "config.md").read_text()
    for section, body in Config().model_dump().items():
        for key in body:
            assert f"`{section}.{key}`" in docs, f"{section}.{key}"
    for key in [*MAPPING, *SAME_AS_HERE]:
        assert f"`{key}`" in docs, key


def test_dump_yaml_round_trips():
    cfg = build_config({"task": "ticket_routing", "optimizer": {"gate": "soft"}, "model": {"lm_kwargs": {"t": 1}}})
    again = build_config(yaml.safe_load(cfg.dump_yaml("header line\n\nanother")))
    assert again == cfg
