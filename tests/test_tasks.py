"""The bundled tasks: generator, data files, rule books, programs and metrics. Offline and fast, no real LM."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import dspy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillopt_dspy.data import load_split_dir
from skillopt_dspy.testing import fake_lm

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("ticket_routing", "date_normalization", "field_extraction")
MIN_SIZES = {"train": 60, "valid": 60, "test": 100}
PROGRAMS = {
    "ticket_routing": "TicketRouter",
    "date_normalization": "DateNormalizer",
    "field_extraction": "InvoiceExtractor",
}
LEGAL_FORM_END = re.compile(r"\b(GmbH|AG|Inc\.?|LLC|Ltd\.?|Limited|Corp\.|S\.A\.|SAS|SARL|S\.r\.l\.|B\.V\.|plc|Oy|KG)$")


def _load_generator():
    """``make_data`` (the command line) and its ``datagen`` modules; scripts/ is on the path while they load."""
    sys.path.insert(0, scripts := str(ROOT / "scripts"))
    try:
        modules = ("make_data", *(f"datagen.{m}" for m in ("common", "routing", "dates", "invoices", "splits")))
        return [importlib.import_module(name) for name in modules]
    finally:
        sys.path.remove(scripts)


make_data, common, routing, dates, invoices, splits = _load_generator()


def rows(task: str, split: str) -> list[dict]:
    return [json.loads(line) for line in (ROOT / "data" / task / f"{split}.jsonl").read_text("utf-8").splitlines()]


def program_module(task: str):
    return importlib.import_module(f"programs.{task}")


def metric_of(task: str):
    return importlib.import_module(f"metrics.{task}").metric


def example(task: str, row: dict) -> dspy.Example:
    """A split-dir row as the loader gives it to the program and the metric (renamed by ``FIELDS``)."""
    fields = program_module(task).FIELDS
    renamed = {fields.get(k, k): v for k, v in row.items()}
    return dspy.Example(**renamed).with_inputs(fields["input"])


# ---------------------------------------------------------------- generator and files


def test_check_mode_passes_on_the_committed_data():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_data.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_check_mode_fails_when_a_file_differs_or_is_missing(tmp_path):
    assert make_data.main(["--out", str(tmp_path)]) == 0
    assert make_data.main(["--check", "--out", str(tmp_path)]) == 0
    target = tmp_path / "date_normalization" / "valid.jsonl"
    target.write_bytes(target.read_bytes().replace(b"-", b"/", 1))
    assert make_data.main(["--check", "--out", str(tmp_path)]) == 1
    target.unlink()
    assert make_data.main(["--check", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("task", TASKS)
def test_regenerating_gives_identical_bytes(task):
    first, second = splits.build(task), splits.build(task)
    for split in MIN_SIZES:
        text = splits.render(first[split])
        assert text == splits.render(second[split])
        assert text.encode("utf-8") == (ROOT / "data" / task / f"{split}.jsonl").read_bytes()


@pytest.mark.parametrize("task", TASKS)
def test_other_seeds_give_other_examples_that_pass_every_self_check(task):
    # build() re-checks each example against its text (cue audit, stated fields): any seed must pass.
    for seed in range(1, 9):
        assert splits.build(task, seed=seed)["test"] != splits.build(task)["test"]


@pytest.mark.parametrize("task", TASKS)
def test_split_sizes_ids_and_keys(task):
    for split, minimum in MIN_SIZES.items():
        data = rows(task, split)
        assert len(data) >= minimum
        assert [r["id"] for r in data] == [f"{task}-{split}-{i:03d}" for i in range(len(data))]
        for r in data:
            assert list(r) == ["id", "input", "expected_output"]
            assert isinstance(r["input"], str) and r["input"].strip()
            assert isinstance(r["expected_output"], str) and r["expected_output"]


@pytest.mark.parametrize("task", TASKS)
def test_no_input_is_shared_between_splits(task):
    seen: dict[str, str] = {}
    for split in MIN_SIZES:
        for r in rows(task, split):
            key = " ".join(r["input"].lower().split())
            assert key not in seen, f"{r['id']} repeats an input of {seen[key]}"
            seen[key] = r["id"]


@pytest.mark.parametrize("task", TASKS)
def test_the_loader_reads_every_split_under_the_program_field_names(task):
    fields = program_module(task).FIELDS
    loaded = load_split_dir(ROOT / "data" / task, fields=fields)
    assert set(loaded) == set(MIN_SIZES)
    ex = loaded["train"][0]
    assert set(ex.inputs().keys()) == {fields["input"]}
    assert ex[fields["expected_output"]] == rows(task, "train")[0]["expected_output"]


def test_allocate_gives_every_split_the_same_mix():
    import random

    kinds = common.allocate({"a": 3, "b": 1}, 8, random.Random(0))
    assert sorted(kinds) == ["a"] * 6 + ["b"] * 2


# ---------------------------------------------------------------- gold labels


def test_routing_labels_are_queues_and_every_queue_is_tested():
    queues = program_module("ticket_routing").QUEUES
    assert tuple(routing.QUEUES) == queues
    for split in MIN_SIZES:
        labels = [r["expected_output"] for r in rows("ticket_routing", split)]
        assert set(labels) <= set(queues)
    assert set(r["expected_output"] for r in rows("ticket_routing", "test")) == set(queues)


def test_most_routing_examples_need_a_house_rule():
    needs_rule = [routing.audit_ticket(r["input"]) is not None for r in rows("ticket_routing", "test")]
    assert sum(needs_rule) >= 0.7 * len(needs_rule)


def test_every_routing_ticket_routes_by_its_cues_to_its_gold_queue():
    for split in MIN_SIZES:
        for r in rows("ticket_routing", split):
            audited = routing.audit_ticket(r["input"])
            assert audited in (None, r["expected_output"]), r["id"]


def test_routing_rules_take_precedence_in_order():
    t = routing.Ticket
    assert routing.route(t("technical", enterprise=True, outage=True, legal=True)) == "escalations"
    assert routing.route(t("shipping", refund=100.0)) == "billing"
    assert routing.route(t("shipping", refund=100.5)) == "escalations"
    assert routing.route(t("general", legal=True, refund=20)) == "escalations"
    assert routing.route(t("technical", enterprise=True, outage=True)) == "priority_support"
    assert routing.route(t("technical", enterprise=False, outage=True)) == "technical"
    assert routing.route(t("technical", enterprise=True)) == "technical"
    assert routing.route(t("general", access=True, cancel=True)) == "account_access"
    assert routing.route(t("general", feature=True)) == "general"
    assert routing.route(t("general", cancel=True)) == "billing"


def test_dates_are_valid_iso_dates():
    for split in MIN_SIZES:
        for r in rows("date_normalization", split):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["expected_output"]), r["id"]
            assert 1930 <= dt.date.fromisoformat(r["expected_output"]).year <= 2031
            assert re.match(r"Reference date: \d{4}-\d{2}-\d{2} \(\w+day\)\. Text: ", r["input"])


def test_date_conventions():
    ref = dt.date(2024, 3, 15)  # a Friday
    assert dates.weekday_date(ref, 4, "next") == dt.date(2024, 3, 22)  # strictly after: not today
    assert dates.weekday_date(ref, 0, "next") == dt.date(2024, 3, 18)
    assert dates.weekday_date(ref, 4, "last") == dt.date(2024, 3, 8)
    assert dates.weekday_date(ref, 0, "this") == dt.date(2024, 3, 11)  # may lie in the past
    assert dates.weekday_date(ref, 6, "this") == dt.date(2024, 3, 17)
    assert dates.weekday_date(ref, 4, "on") == ref
    assert [dates.two_digit_year(y) for y in (0, 30, 31, 99)] == [2000, 2030, 1931, 1999]
    assert dates.next_on_or_after(ref, 3, 15) == ref
    assert dates.next_on_or_after(ref, 3, 2) == dt.date(2025, 3, 2)
    assert dates.last_day(2024, 2) == dt.date(2024, 2, 29)
    assert dates.add_months(dt.date(2024, 12, 31), 1) == dt.date(2025, 1, 1)


def test_every_date_kind_is_drawn_and_its_value_matches_its_text():
    import random

    rng = random.Random(0)
    ref = dt.date(2024, 3, 15)
    for kind in dates.DATE_KINDS:
        for _ in range(30):
            expr = dates.date_expression(rng, kind, ref)
            if kind == "quarter":
                assert (expr.value.month, expr.value.day) in {(1, 1), (4, 1), (7, 1), (10, 1)}
            if kind == "numeric" and expr.bare and expr.bare[2:3] == "/":
                day, month = expr.bare.split("/")[:2]
                assert (expr.value.day, expr.value.month) == (int(day), int(month))  # day-first
            if kind in ("no_year", "day_only"):
                assert ref <= expr.value < dt.date(2025, 3, 16)
            if kind == "part_of_month" and expr.when.startswith(("at the end", "by the end")):
                assert (expr.value + dt.timedelta(days=1)).day == 1


def test_date_templates_contain_no_second_date():
    words = re.compile(
        r"\b(" + "|".join(common.MONTHS + common.WEEKDAYS) + r"|today|tomorrow|yesterday|week|month|year|\d+[/.]\d+)\b",
        re.I,
    )
    for _, template in dates.DATE_SENTENCES:
        assert not words.search(template), template
    for template in dates.DATE_LABELS + dates.DATE_OPENERS + dates.DATE_CLOSERS:
        assert not words.search(template), template


def test_extraction_gold_objects_follow_the_conventions():
    keys = program_module("field_extraction").KEYS
    for split in MIN_SIZES:
        for r in rows("field_extraction", split):
            gold = json.loads(r["expected_output"])
            assert tuple(gold) == keys, r["id"]
            assert re.fullmatch(r"\d+\.\d{2}", gold["total"]), r["id"]
            assert gold["date"] is None or dt.date.fromisoformat(gold["date"])
            assert gold["currency"] in {"EUR", "USD", "GBP", "CHF", "CAD", "AUD", None}
            assert gold["vendor"] and not LEGAL_FORM_END.search(gold["vendor"]), r["id"]
            assert gold["invoice_number"] is None or gold["invoice_number"] in r["input"]


def test_extraction_data_exercises_nulls_and_the_dollar_rule():
    golds = [json.loads(r["expected_output"]) for split in MIN_SIZES for r in rows("field_extraction", split)]
    for key in ("invoice_number", "date", "currency"):
        assert any(g[key] is None for g in golds), key
    inputs = [r["input"] for split in MIN_SIZES for r in rows("field_extraction", split)]
    bare_dollar_cad = [
        g for g, text in zip(golds, inputs) if g["currency"] in ("CAD", "AUD") and re.search(r"(?<![CA])\$\d", text)
    ]
    assert len(bare_dollar_cad) >= 10


def test_amount_formatting():
    assert invoices.amount_text(123450, "eu") == "1.234,50"
    assert invoices.amount_text(123450, "ch") == "1'234.50"
    assert invoices.amount_text(123450, "us") == "1,234.50"
    assert invoices.amount_text(5, "plain") == "0.05"


@pytest.mark.parametrize("task", TASKS)
def test_reference_skill_exists_and_is_not_training_data(task):
    skill = (ROOT / "data" / task / "reference_skill.md").read_text("utf-8")
    assert skill.startswith("# ") and len(skill) > 500
    train = " ".join(r["input"] for r in rows(task, "train"))
    assert skill not in train


def test_reference_skill_examples_agree_with_the_rule_book():
    ref = dt.date(2024, 3, 15)
    skill = (ROOT / "data" / "date_normalization" / "reference_skill.md").read_text("utf-8")
    assert 'next Friday" →\n2024-03-22' in skill or '"next Friday" → 2024-03-22' in skill
    assert dates.weekday_date(ref, 4, "next").isoformat() == "2024-03-22"
    assert dates.weekday_date(ref, 0, "this").isoformat() in skill
    assert dates.next_on_or_after(ref, 3, 2).isoformat() in skill
    assert dates.last_day(2024, 4).isoformat() in skill


# ---------------------------------------------------------------- programs


@pytest.mark.parametrize("task", TASKS)
def test_programs_expose_fields_consistent_with_their_signature(task):
    module = program_module(task)
    program = getattr(module, PROGRAMS[task])()
    predictors = program.named_predictors()
    assert len(predictors) == 1
    signature = predictors[0][1].signature
    assert list(module.FIELDS) == ["input", "expected_output"]
    assert list(signature.input_fields) == [module.FIELDS["input"]]
    assert list(signature.output_fields) == [module.FIELDS["expected_output"]]


@pytest.mark.parametrize("task", TASKS)
def test_signatures_state_no_house_rule(task):
    program = getattr(program_module(task), PROGRAMS[task])()
    instructions = program.named_predictors()[0][1].signature.instructions.lower()
    assert len(instructions) < 120
    for word in ("chargeback", "enterprise", "ent-", "refund", "day first", "day-first", "quarter", "gmbh", "usd"):
        assert word not in instructions


@pytest.mark.parametrize("adapter", [dspy.JSONAdapter, dspy.ChatAdapter])
@pytest.mark.parametrize("task", TASKS)
def test_program_answers_score_1_end_to_end_with_a_scripted_lm(task, adapter):
    module = program_module(task)
    row = rows(task, "valid")[0]
    out = module.FIELDS["expected_output"]
    gold = json.loads(row["expected_output"]) if task == "field_extraction" else row["expected_output"]
    lm = fake_lm(lambda call: {out: gold})
    ex = example(task, row)
    with dspy.context(lm=lm, adapter=adapter()):
        prediction = getattr(module, PROGRAMS[task])()(**ex.inputs())
    assert metric_of(task)(ex, prediction).score == 1.0


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize("task", TASKS)
def test_metrics_give_1_on_every_gold_answer(task):
    metric, out = metric_of(task), program_module(task).FIELDS["expected_output"]
    for split in MIN_SIZES:
        for r in rows(task, split):
            result = metric(example(task, r), dspy.Prediction(**{out: r["expected_output"]}))
            assert result.score == 1.0, (r["id"], result.feedback)


def test_routing_metric_feedback():
    metric = metric_of("ticket_routing")
    ex = dspy.Example(ticket="I opened a chargeback. Account: ENT-1234", queue="escalations").with_inputs("ticket")
    result = metric(ex, dspy.Prediction(queue="billing"))
    assert result.score == 0.0
    assert "Expected queue 'escalations' but got 'billing'" in result.feedback
    assert "chargeback" in result.feedback and "ENT-1234" in result.feedback
    assert metric(ex, dspy.Prediction(queue="  Escalations ")).score == 1.0
    access = dspy.Example(ticket="I can't log in.", queue="account_access")
    assert metric(access, dspy.Prediction(queue="Account Access")).score == 1.0
    assert metric(access, dspy.Prediction(queue="'account-access'")).score == 1.0
    for bad in (None, "", "escalate", 7):
        result = metric(ex, dspy.Prediction(queue=bad))
        assert result.score == 0.0 and "escalations" in result.feedback
    assert metric(ex, dspy.Prediction()).score == 0.0
    refund = dspy.Example(ticket="Please refund the €250.00 I paid.", queue="escalations")
    assert "refund of €250.00" in metric(refund, dspy.Prediction(queue="billing")).feedback


def test_date_metric_feedback():
    metric = metric_of("date_normalization")
    ex = dspy.Example(text="Reference date: 2024-03-15 (Friday). Text: next Friday", date="2024-03-22")
    assert metric(ex, dspy.Prediction(date=" 2024-03-22 ")).score == 1.0
    off = metric(ex, dspy.Prediction(date="2024-03-15"))
    assert off.score == 0.0 and "7 days after the reference date" in off.feedback
    swapped = dspy.Example(text="Reference date: 2024-03-15 (Friday). Text: 03/04/2021", date="2021-04-03")
    assert "swapped" in metric(swapped, dspy.Prediction(date="2021-03-04")).feedback
    assert "YYYY-MM-DD" in metric(swapped, dspy.Prediction(date="03/04/2021")).feedback
    assert "not a real calendar date" in metric(swapped, dspy.Prediction(date="2021-02-30")).feedback
    assert "years" in metric(swapped, dspy.Prediction(date="1921-04-03")).feedback
    for bad in (None, "", 20210403):
        assert metric(swapped, dspy.Prediction(date=bad)).score == 0.0
    assert metric(swapped, dspy.Prediction()).score == 0.0


def test_extraction_metric_scores_fields_and_explains_each_mistake():
    metric = metric_of("field_extraction")
    invoice_cls = program_module("field_extraction").Invoice
    doc = "Atlas Freight Inc.\nInvoice #A0731\nDate: 03/04/2024\nSubtotal: $1,200.00\nTotal due: $1,080.00"
    gold = {"vendor": "Atlas Freight", "invoice_number": "A0731", "date": "2024-04-03", "total": "1080.00"}
    gold["currency"] = "USD"
    ex = dspy.Example(document=doc, invoice=json.dumps(gold)).with_inputs("document")
    assert metric(ex, dspy.Prediction(invoice=invoice_cls(**gold))).score == 1.0
    assert metric(ex, dspy.Prediction(invoice={**gold, "vendor": "ATLAS  FREIGHT"})).score == 1.0
    wrong = {**gold, "vendor": "Atlas Freight Inc.", "total": "1200.00", "date": "2024-03-04"}
    result = metric(ex, dspy.Prediction(invoice=wrong))
    assert result.score == pytest.approx(0.4)
    assert "legal form" in result.feedback and "Subtotal: $1,200.00" in result.feedback
    assert "swapped" in result.feedback and "invoice_number" not in result.feedback
    fmt = metric(ex, dspy.Prediction(invoice={**gold, "total": "$1,080.00"}))
    assert fmt.score == pytest.approx(0.8) and "wrong format" in fmt.feedback
    currency = metric(ex, dspy.Prediction(invoice={**gold, "currency": "CAD"}))
    assert currency.score == pytest.approx(0.8) and 'currency: expected "USD", got "CAD"' in currency.feedback
    assert metric(ex, dspy.Prediction(invoice={**gold, "currency": "usd"})).score == 1.0
    assert metric(ex, dspy.Prediction(invoice={**gold, "currency": "$"})).score == pytest.approx(0.8)
    nulls = metric(ex, dspy.Prediction(invoice={**gold, "invoice_number": "null", "currency": None}))
    assert nulls.score == pytest.approx(0.6) and "does state it" in nulls.feedback
    for bad in (None, "not json", "[1, 2]", 42, {"vendor": "Atlas Freight"}):
        result = metric(ex, dspy.Prediction(invoice=bad))
        assert result.score < 1.0 and result.feedback
    assert metric(ex, dspy.Prediction(invoice="```json\n" + json.dumps(gold) + "\n```")).score == 1.0


answers = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["vendor", "total", "date", "x"]), st.one_of(st.none(), st.text(max_size=10))),
)


@settings(max_examples=60, deadline=None)
@given(answer=answers)
def test_metrics_never_raise_and_stay_in_range(answer):
    for task in TASKS:
        module = program_module(task)
        row = rows(task, "test")[0]
        result = metric_of(task)(example(task, row), dspy.Prediction(**{module.FIELDS["expected_output"]: answer}))
        assert 0.0 <= result.score <= 1.0
        assert isinstance(result.feedback, str) and result.feedback
