"""The bundled tasks: reproducible data, valid labels, disjoint splits, metrics that can tell right from wrong."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from metrics import date_normalization as date_metric
from metrics import field_extraction as extraction_metric
from metrics import ticket_routing as routing_metric
from programs.date_normalization import FIELDS as DATE_FIELDS
from programs.date_normalization import DateNormalizer
from programs.field_extraction import FIELDS as EXTRACTION_FIELDS
from programs.field_extraction import Invoice, InvoiceExtractor
from programs.ticket_routing import FIELDS as ROUTING_FIELDS
from programs.ticket_routing import QUEUES, TicketRouter
from skillopt_dspy.data import load_split_dir

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "ticket_routing": (TicketRouter, ROUTING_FIELDS),
    "date_normalization": (DateNormalizer, DATE_FIELDS),
    "field_extraction": (InvoiceExtractor, EXTRACTION_FIELDS),
}


def test_generator_reproduces_the_committed_files():
    out = subprocess.run([sys.executable, "scripts/make_data.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("task", TASKS)
def test_sizes_disjoint_splits_and_program_fields(task):
    program_cls, fields = TASKS[task]
    splits = load_split_dir(ROOT / "data" / task, fields=fields)
    assert [len(splits[s]) >= n for s, n in (("train", 60), ("valid", 60), ("test", 100))] == [True] * 3
    inputs = {s: {" ".join(str(e[fields["input"]]).lower().split()) for e in exs} for s, exs in splits.items()}
    assert not inputs["train"] & inputs["valid"] and not inputs["train"] & inputs["test"]
    assert not inputs["valid"] & inputs["test"]
    program = program_cls()
    (_, predictor) = program.named_predictors()[0]
    assert list(predictor.signature.input_fields) == [fields["input"]]
    assert list(predictor.signature.output_fields) == [fields["expected_output"]]
    assert (ROOT / "data" / task / "reference_skill.md").read_text().strip()


def test_gold_labels_are_well_formed():
    for split in ("train", "valid", "test"):
        rows = [json.loads(line) for line in (ROOT / "data/ticket_routing" / f"{split}.jsonl").read_text().splitlines()]
        assert {r["expected_output"] for r in rows} <= set(QUEUES)
        for r in (
            json.loads(line) for line in (ROOT / "data/date_normalization" / f"{split}.jsonl").read_text().splitlines()
        ):
            dt.date.fromisoformat(r["expected_output"])
        for r in (
            json.loads(line) for line in (ROOT / "data/field_extraction" / f"{split}.jsonl").read_text().splitlines()
        ):
            assert set(json.loads(r["expected_output"])) == {"vendor", "invoice_number", "date", "total", "currency"}


def ex(**kw):
    return dspy.Example(**kw)


def test_routing_metric():
    gold = ex(ticket="t", queue="escalations", why="legal threats go to escalations")
    assert routing_metric.metric(gold, dspy.Prediction(queue="escalations")).score == 1.0
    wrong = routing_metric.metric(gold, dspy.Prediction(queue="billing"))
    assert wrong.score == 0.0 and "Expected queue 'escalations' but got 'billing'" in wrong.feedback
    assert "legal threats" in wrong.feedback
    assert routing_metric.metric(gold, dspy.Prediction(queue=None)).score == 0.0


def test_date_metric():
    gold = ex(text="t", date="2021-04-03", why="day-first")
    assert date_metric.metric(gold, dspy.Prediction(date=" 2021-04-03 ")).score == 1.0
    wrong = date_metric.metric(gold, dspy.Prediction(date="2021-03-04"))
    assert wrong.score == 0.0 and "day-first" in wrong.feedback
    assert "exactly YYYY-MM-DD" in date_metric.metric(gold, dspy.Prediction(date="April 3")).feedback


def test_extraction_metric_scores_fields_and_survives_garbage():
    fields = {"vendor": "Nordlicht", "invoice_number": None, "date": "2024-01-02", "total": "12.50", "currency": "EUR"}
    gold = ex(document="d", invoice=json.dumps(fields))
    assert extraction_metric.metric(gold, dspy.Prediction(invoice=Invoice(**fields))).score == 1.0
    half = extraction_metric.metric(
        gold, dspy.Prediction(invoice={**fields, "vendor": "Nordlicht GmbH", "total": "12,50"})
    )
    assert half.score == pytest.approx(0.6)
    assert "vendor: expected" in half.feedback and "total: expected" in half.feedback
    assert extraction_metric.metric(gold, dspy.Prediction(invoice="not json")).score == 0.0
    assert extraction_metric.metric(gold, dspy.Prediction(invoice=None)).score == 0.0
