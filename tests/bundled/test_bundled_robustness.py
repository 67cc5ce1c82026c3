"""Whatever the CRM answers, a caller of the bundled flow reaches an agent queue or a
goodbye: never silence, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipflow.engine.commands import Enqueue, Play, PlayMusic
from dipflow.flow.bundled import bundled_path
from dipflow.flow.loader import load_flow
from dipflow.testing import HttpReply, run_flow

FLOW = load_flow(bundled_path("ms-dynamics-data-dip"))

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_RECORD = st.fixed_dictionaries(
    {},
    optional={
        "contactid": _SCALARS,
        "accountid": _SCALARS,
        "fullname": _SCALARS,
        "name": _SCALARS,
        "incident_customer_contacts": st.one_of(_JSON, st.lists(_JSON, max_size=2)),
        "incident_customer_accounts": st.one_of(_JSON, st.lists(_JSON, max_size=2)),
    },
)
_BODY = st.one_of(
    _JSON,
    st.fixed_dictionaries({"value": st.one_of(_JSON, st.lists(_RECORD, max_size=3))}),
)
_REPLY = st.one_of(
    st.builds(HttpReply, status=st.sampled_from([200, 200, 204, 401, 404, 500]), json=_BODY),
    st.just(HttpReply.timeout()),
    st.just(HttpReply.failure()),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(contacts=_REPLY, accounts=_REPLY, ani=st.text(max_size=20))
def test_any_crm_answer_ends_in_a_queue_or_a_goodbye(
    contacts: HttpReply, accounts: HttpReply, ani: str
) -> None:
    http: dict[str, Any] = {"GetCustomerInfo": contacts, "GetAccountInfo": accounts}
    result = run_flow(FLOW, ani=ani, http=http, max_time=40)
    assert any(isinstance(c, Enqueue) for c in result.commands) or result.disconnected
    # the caller is greeted at once, whatever happens: the welcome prompt is the first
    # thing they hear, at the call's first instant (the lookup is sent just before it)
    first_media_at, first_media = next(
        (at, c) for at, c in result.timeline if isinstance(c, Play | PlayMusic)
    )
    assert isinstance(first_media, Play) and first_media_at == 0
