"""The opt-out report: JSON, or CSV with `Accept: text/csv`. The operator or the account's own admin token; the view
parses the query, calls `reports.opt_out_report` (which reads counters, never the history) and answers."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.access import authorised
from chalicelib.api.admin import CSV, csv_attachment, wants_csv
from chalicelib.api.http import json_response, parse_query
from chalicelib.api.openapi import Answer, operation
from chalicelib.api.report_schemas import ReportQuery
from chalicelib.domain import reports
from chalicelib.domain.models import Source
from chalicelib.domain.reports import CampaignRow, KeyRow, OptOutReport, PeriodRow

report_blueprint = Blueprint(__name__)


@operation(
    report_blueprint,
    "/v1/accounts/{account_id}/reports/opt-outs",
    tag="reports",
    query=ReportQuery,
    answers=[
        Answer(
            200,
            "the report; with `Accept: text/csv`, its rows as a CSV attachment",
            OptOutReport,
            content={CSV.split(";")[0]: {"schema": {"type": "string"}}},
        )
    ],
)
def get_opt_out_report(account_id: str) -> Response:
    """Opt-outs and opt-ins, per period, source, keyword, sender or campaign
    From counters kept with each applied change (no scan of the history): every opt-out and opt-in that changed a
    suppression counts once, on its UTC day. `by=campaign`: contacts' own opt-outs within 7 days after a campaign's
    text, over the texts it sent. At most 366 days; `Accept: text/csv` gives the rows as CSV."""
    request = report_blueprint.current_request
    parts, _, account = authorised(request, account_id)
    query = parse_query(request, ReportQuery)
    first, last = reports.report_range(query.from_, query.to, reports.utc_day(parts.clock.now()))
    assert parts.stores.reports is not None, "the stores have no report counters"
    report = reports.opt_out_report(
        parts.stores.reports, parts.stores.outbound, account.account_id, first, last, query.by
    )
    if wants_csv(request):
        return _csv(report)
    return json_response(report)


def _csv(report: OptOutReport) -> Response:
    """The rows, one line each, with a header; every cell neutralised against formulas (`csv_cell`)."""
    sources = [source.value for source in Source]
    if report.by in ("day", "week"):
        columns = ["period", "opt_outs", "opt_ins", *(f"opt_outs_{source}" for source in sources)]
    elif report.by == "campaign":
        columns = ["campaign", "sent", "opt_outs", "opt_out_rate"]
    else:
        columns = [report.by, "opt_outs", "opt_ins"]
    rows: list[list[object]] = []
    for row in report.rows:
        cells: list[object]
        if isinstance(row, PeriodRow):
            cells = [row.period, row.opt_outs, row.opt_ins, *(row.by_source.get(source, 0) for source in sources)]
        elif isinstance(row, CampaignRow):
            cells = [row.key, row.sent, row.opt_outs, row.opt_out_rate]
        else:
            assert isinstance(row, KeyRow)
            cells = [row.key, row.opt_outs, row.opt_ins]
        rows.append(cells)
    name = f"opt-outs-{report.account_id}-{report.from_}-{report.to}-by-{report.by}.csv"
    return csv_attachment(columns, rows, name, next_cursor=None)
