import pytest

from skillopt_dspy.config import ConfigError, apply_overrides, build_config, load_config
from skillopt_dspy.skillopt_compat import MAPPING, translate

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


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


def test_dotted_overrides_parse_values_as_yaml(tmp_path):
    cfg = load_config(
        write(tmp_path / "c.yaml", "train:\n  epochs: 1\n"),
        overrides=[
            "optimizer.learning_rate=8",
            "train.batch_size=32",
            "optimizer.use_slow_update=false",
            "task.predictors=[a, b]",
        ],
    )
    assert cfg.optimizer.learning_rate == 8 and cfg.train.batch_size == 32
    assert cfg.optimizer.use_slow_update is False and cfg.task.predictors == ["a", "b"]
    with pytest.raises(ConfigError, match=r"must look like section\.key=value"):
        apply_overrides({}, ["learning_rate"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"optimizer": {"learing_rate": 3}}, "optimizer.learing_rate: unknown key; allowed here: aggregate_fan_in"),
        ({"optimizer": {"learning_rate": "many"}}, "optimizer.learning_rate: Input should be a valid integer"),
        ({"optimizer": {"gate": "median"}}, "optimizer.gate: Input should be 'hard', 'soft' or 'mixed'"),
        ({"optimizer": {"mixed_weight": 2}}, "optimizer.mixed_weight: Input should be less than or equal to 1"),
        ({"optimizer": {"lr_scheduler": "step"}}, "'constant', 'linear' or 'cosine'"),
        ({"optimizer": {"learning_rate": 2, "min_learning_rate": 3}}, "must not exceed"),
        ({"modle": {}}, "modle: unknown key; allowed here: data, model, optimizer, run, source, task, train"),
        ({"model": {"adapter": "yaml"}}, "model.adapter: Input should be 'json', 'chat' or 'xml'"),
    ],
)
def test_errors_name_the_key_path_and_allowed_values(data, message):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        build_config(data)


def test_missing_file_bad_yaml_and_base_cycle(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path / "bad.yaml", "a: [1, 2"))
    write(tmp_path / "x.yaml", "_base_: y.yaml\n")
    write(tmp_path / "y.yaml", "_base_: x.yaml\n")
    with pytest.raises(ConfigError, match="_base_ cycle"):
        load_config(tmp_path / "x.yaml")


def test_skillopt_format_is_translated_and_unmapped_keys_reported(caplog):
    data = {
        "model": {"name": "openai/gpt-4o-mini", "optimizer": "openai/gpt-4o", "temperature": 0.2},
        "train": {"num_epochs": 3, "batch_size": 12, "split_dir": "d", "use_meta_skill": False},
        "gradient": {"minibatch_size": 4, "top_k": 9},
        "optimizer": {"learning_rate": 5, "min_learning_rate": 2, "lr_scheduler": "cosine", "use_slow_update": False},
        "evaluation": {"metric": "mixed", "mixed_weight": 0.3},
    }
    cfg = build_config(data)
    assert cfg.model.lm == "openai/gpt-4o-mini" and cfg.model.reflection_lm == "openai/gpt-4o"
    assert cfg.model.lm_kwargs == {"temperature": 0.2}
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.minibatch_size) == (3, 12, 4)
    assert cfg.data.split_dir == "d" and cfg.optimizer.use_meta_skill is False
    assert (cfg.optimizer.learning_rate, cfg.optimizer.min_learning_rate, cfg.optimizer.lr_scheduler) == (
        5,
        2,
        "cosine",
    )
    assert cfg.optimizer.gate == "mixed" and cfg.optimizer.mixed_weight == 0.3
    assert "gradient.top_k" in caplog.text and "no meaning" in caplog.text
    assert translate({"evaluation": {"metric": "soft"}})[0] == {"optimizer": {"gate": "soft"}}


def test_mapping_targets_exist_in_the_native_schema():
    for target in MAPPING.values():
        section, key = target.split(".")[:2]
        assert key in build_config({}).model_dump()[section], target


def test_bundled_configs_load():
    for name in ("quickstart", "ticket_routing", "date_normalization", "field_extraction"):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        assert cfg.task.name and cfg.model.lm.startswith("local/")


def test_skillopt_kwargs_match_the_optimizer():
    from skillopt_dspy import SkillOpt

    cfg = build_config({"optimizer": {"learning_rate": 3}, "train": {"epochs": 1}})
    opt = SkillOpt(metric=lambda e, p, t=None: 1.0, **cfg.skillopt_kwargs())
    assert opt.settings.learning_rate == 3 and opt.settings.epochs == 1
