"""Schemathesis against every service's OpenAPI, through the gateway, on the embedded stack:
no request may get a 5xx, and every response must be what the operation documents (status,
content type, headers, body schema; problems as application/problem+json).

Each service's schema is read from the service itself (`/openapi.json` is not routed by the
gateway); the calls go to the gateway, with a creator's token. Both what the schema allows
(positive) and what it does not (negative: wrong types, out-of-range values...) are sent,
a few examples per operation each, so the whole run stays within a couple of minutes.

Left out, with the reason:
- the operations endpoints (`/healthz`, `/readyz`, `/metrics`): per service, not routed
  by the gateway;
- `GET /api/v1/campaigns/{slug}/live`: a Server-Sent Events stream that stays open for up to
  `LIVE_MAX_CONNECTION_S`; its bad inputs (slug, `Last-Event-ID`) are pinned by
  test_bad_input.py and test_activity.py.
The Stripe webhook is fuzzed: without a valid signature it answers 400 problems, as documented.
"""

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from dropwave_devstack.stack import DevStack
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SERVICES = ("campaigns", "orders", "payments", "notifications")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
"""Per operation and generation mode: 20 public operations, about 1,000 requests in all
(`SCHEMATHESIS_EXAMPLES=200` for a longer hunt)."""
NOT_FUZZED = {("GET", "/api/v1/campaigns/{slug}/live")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _date_times() -> st.SearchStrategy[str]:
    """Mostly a deadline a campaign can have (future, any offset, before 2100), so creates
    and edits get past validation and their responses are checked too; else any instant."""
    now = datetime.now(UTC).replace(tzinfo=None)
    offsets = st.timedeltas(
        min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
    )
    future = st.datetimes(min_value=now + timedelta(days=2), max_value=datetime(2099, 12, 30))
    anything = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
    return st.builds(
        lambda at, offset: at.replace(tzinfo=timezone(offset)).isoformat(),
        st.one_of(future, future, future, anything),
        offsets.map(lambda d: timedelta(minutes=d // timedelta(minutes=1))),
    )


# Schemathesis' registry of string formats is process-wide; only this module uses it.
schemathesis.openapi.format("date-time", _date_times())


def public_operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        yield operation


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:  # one keep-alive connection to the gateway, reused
        yield s


@pytest.mark.parametrize("service", SERVICES)
def test_no_5xx_and_every_response_as_documented(
    stack: DevStack, session: requests.Session, service: str
) -> None:
    spec = httpx.get(f"{stack.services[service].base_url}/openapi.json", timeout=10)
    assert spec.status_code == 200, spec.text
    schema = schemathesis.openapi.from_dict(spec.json())
    headers = {"Authorization": f"Bearer {stack.mint_token('schemathesis-creator')}"}
    failures: list[str] = []
    operations = list(public_operations(schema))
    assert operations, f"{service} documents no public operation"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation, mode, stack.base_url, session, headers)
            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                if mode is GenerationMode.POSITIVE:  # else: nothing to break (no parameters)
                    failures.append(f"{operation.label}: no valid request could be generated")
            except AssertionError as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


def _runner(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
) -> Callable[[], None]:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing case is printed
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        try:
            case.call_and_validate(
                base_url=base_url, session=session, headers=headers, checks=CHECKS
            )
        except BaseExceptionGroup as group:  # several failed checks: one failure, all listed
            raise AssertionError(str(group)) from group

    return run
