"""Speculative decoding and concurrent slots as engine options: settings reach llama.cpp, bad ones fail early."""

import importlib.util
import json
import threading
from pathlib import Path

import dspy
import pytest
from dspy.lm15 import Config, Message, Request

from skillopt_dspy.lm import LocalEngine, local_lm
from skillopt_dspy.lm import engine as engine_module
from skillopt_dspy.lm.backend import Speculative
from skillopt_dspy.lm.registry import MODELS
from tests.lm.test_engine import FakeBackend


@pytest.fixture
def loads(monkeypatch):
    """Model loads as (path, kwargs), with no model loaded; registry names resolve to fake paths."""
    calls = []
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "resolve_model", lambda model: Path(f"/models/{Path(str(model)).name}.gguf"))
    monkeypatch.setattr(engine_module, "shared_backend", lambda path, **kw: calls.append((path, kw)) or FakeBackend())
    return calls


def test_draft_decoding_loads_the_registry_draft_next_to_the_target(loads):
    LocalEngine("qwen2.5-coder-1.5b", speculative="draft", draft_max=8)
    path, kw = loads[-1]
    assert path == Path("/models/qwen2.5-coder-1.5b.gguf")
    assert kw["speculative"] == Speculative("draft", draft_path=Path("/models/qwen2.5-coder-0.5b.gguf"), n_max=8)
    LocalEngine("qwen2.5-coder-1.5b", speculative="draft")
    assert loads[-1][1]["speculative"].n_max == 16 and loads[-1][1]["speculative"].p_min == 0.75
    LocalEngine("qwen2.5-coder-1.5b", speculative="ngram")
    assert loads[-1][1]["speculative"] == Speculative("ngram", n_max=8, ngram=4)
    LocalEngine("qwen2.5-coder-1.5b", speculative="off")
    assert loads[-1][1]["speculative"] is None
    assert LocalEngine("qwen2.5-coder-1.5b", speculative=False).speculative_kind == "off"  # YAML's `off`


def test_auto_takes_the_registry_choice_and_a_path_gets_none(loads, monkeypatch):
    for name, spec in MODELS.items():
        engine = LocalEngine(name)
        assert engine.speculative_kind == spec.speculative
        assert (loads[-1][1]["speculative"] is None) == (spec.speculative == "off")
    assert LocalEngine("/somewhere/model.gguf").speculative_kind == "off"
    custom = LocalEngine("/somewhere/model.gguf", speculative="draft", draft_model="/somewhere/small.gguf")
    assert custom.speculative_kind == "draft" and loads[-1][1]["speculative"].draft_path.name == "small.gguf.gguf"


def test_bad_speculative_settings_fail_before_any_load(loads):
    with pytest.raises(ValueError, match="speculative must be one of"):
        LocalEngine("qwen2.5-coder-1.5b", speculative="eagle")
    with pytest.raises(ValueError, match="speculative must be one of"):
        LocalEngine("qwen2.5-coder-1.5b", speculative=True)  # YAML's `on`: which kind is not said
    with pytest.raises(ValueError, match="needs a draft_model"):
        LocalEngine("qwen2.5-coder-0.5b", speculative="draft")
    with pytest.raises(ValueError, match="draft_max must be a positive integer"):
        LocalEngine("qwen2.5-coder-1.5b", speculative="ngram", draft_max=0)
    with pytest.raises(ValueError, match="n_parallel must be a positive integer"):
        LocalEngine("qwen2.5-coder-1.5b", n_parallel=0)
    assert loads == []
    with pytest.raises(ValueError, match="draft_path is needed"):
        Speculative("draft")
    with pytest.raises(ValueError, match="'draft' or 'ngram'"):
        Speculative("medusa")


def test_engine_options_survive_save_and_load(loads):
    lm = local_lm("qwen2.5-coder-1.5b", speculative="ngram", draft_max=6, n_parallel=2)
    state = json.loads(json.dumps(lm.dump_state()))
    restored = dspy.LM.load_state(state, allow_custom_lm_class=True)
    assert restored.engine.dump_state() == lm.engine.dump_state()
    assert loads[-1][1] == loads[0][1] and loads[0][1]["n_parallel"] == 2


def test_several_slots_let_calls_run_together_one_slot_serializes(loads):
    request = Request(model="local/x", messages=(Message.user("hi"),), config=Config())
    for n_parallel, expected in ((1, 1), (2, 2)):
        backend = FakeBackend(delay=0.2)
        engine = LocalEngine("x.gguf", backend=backend, n_parallel=n_parallel)
        threads = [threading.Thread(target=engine.complete, args=(request,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert backend.max_active == expected


@pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None, reason="needs the runtime (the 'local' extra)")
def test_settings_land_on_llama_cpp_params():
    import xllamacpp

    types = xllamacpp.common_speculative_type
    params = xllamacpp.CommonParams()
    Speculative("draft", draft_path=Path("/m/small.gguf"), n_max=8, p_min=0.5).apply(params, xllamacpp, 3)
    assert params.speculative.types == [types.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    draft = params.speculative.draft
    assert draft.mparams.path == "/m/small.gguf" and draft.n_max == 8 and abs(draft.p_min - 0.5) < 1e-6
    assert draft.cpuparams.n_threads == 3 and draft.cpuparams_batch.n_threads == 3
    params = xllamacpp.CommonParams()
    Speculative("ngram", n_max=12, ngram=4).apply(params, xllamacpp, 2)
    assert params.speculative.types == [types.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    assert params.speculative.ngram_simple.size_n == 4 and params.speculative.ngram_simple.size_m == 12
