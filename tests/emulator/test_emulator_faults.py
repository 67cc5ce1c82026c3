"""Fault injection through the admin API, as seen by a client over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from dipflow.emulator.testing import RunningEmulator


def test_error_rate_one_fails_every_request_with_the_chosen_status(
    crm: RunningEmulator, api: httpx.Client
) -> None:
    crm.set_faults(error_rate=1.0, error_status=500)
    response = api.get("contacts")
    assert response.status_code == 500
    assert response.json()["error"]["code"].startswith("0x")
    crm.set_faults(error_rate=1.0, error_status=503)
    assert api.get("contacts").status_code == 503
    crm.clear_faults()
    assert api.get("contacts").status_code == 200


def test_throttling_sends_retry_after(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(throttle_rate=1.0, retry_after_s=7)
    response = api.get("contacts")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "0x80072322"


def test_fixed_latency_delays_responses(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(latency_ms=300)
    started = time.perf_counter()
    assert api.get("contacts", params={"$top": "1"}).status_code == 200
    assert time.perf_counter() - started >= 0.29


def test_uniform_latency_stays_within_bounds(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(latency_ms=50, latency_max_ms=120, latency_distribution="uniform")
    for _ in range(3):
        started = time.perf_counter()
        api.get("contacts", params={"$top": "1"})
        assert 0.049 <= time.perf_counter() - started < 1.0


def test_hanging_request_times_out_the_client(crm: RunningEmulator, api: httpx.Client) -> None:
    # Three times the client's budget; short enough that the module's shared emulator
    # is no longer serving it when it shuts down (a hung request delays shutdown).
    crm.set_faults(hang_rate=1.0, hang_s=1.5)
    with pytest.raises(httpx.ReadTimeout):
        api.get("contacts", timeout=0.5)


def test_malformed_body_is_not_json(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(malformed_rate=1.0)
    response = api.get("contacts", params={"$select": "fullname"})
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"\w"):
        response.json()


def test_faults_spare_the_token_endpoint_unless_asked(crm: RunningEmulator) -> None:
    crm.set_faults(error_rate=1.0)
    crm.token()  # still works
    crm.set_faults(error_rate=1.0, error_status=503, apply_to_token=True)
    with pytest.raises(httpx.HTTPStatusError) as info:
        crm.token()
    assert info.value.response.status_code == 503


@pytest.mark.slow
def test_seeded_rng_gives_a_reproducible_fault_sequence() -> None:
    from dipflow.emulator.settings import EmulatorSettings
    from dipflow.emulator.testing import running_emulator

    def sequence() -> list[int]:
        with running_emulator(settings=EmulatorSettings(rng_seed=42, require_auth=False)) as crm:
            crm.set_faults(error_rate=0.5, error_status=500)
            return [httpx.get(crm.api_url + "contacts?$top=1").status_code for _ in range(20)]

    first = sequence()
    assert set(first) == {200, 500}
    assert sequence() == first


def test_admin_api_validates_and_reports(crm: RunningEmulator, api: httpx.Client) -> None:
    admin = httpx.Client(base_url=crm.base_url)
    bad = admin.post("/_emulator/faults", json={"error_rate": 2})
    assert bad.status_code == 400
    assert admin.post("/_emulator/faults", json={"nonsense": 1}).status_code == 400
    assert admin.post("/_emulator/faults", content=b"{").status_code == 400
    assert admin.get("/_emulator/faults").json()["error_rate"] == 0
    crm.reset_stats()
    api.get("contacts")
    api.get("contacts(c0000000-0000-4000-8000-000000000001)")
    api.get("nope")
    stats = crm.stats()
    assert stats["requests"] == 3
    assert stats["per_path"]["/api/data/v9.2/contacts"] == 1
    assert stats["per_path"]["/api/data/v9.2/contacts({id})"] == 1
    assert stats["per_status"] == {"200": 2, "404": 1}
    assert "records" not in stats
    assert crm.stats(records=True)["records"]["contacts"] >= 7
    admin.close()


def test_faults_can_target_one_entity_set(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(error_rate=1.0, error_status=503, only_paths=["incidents"])
    assert api.get("contacts", params={"$top": "1"}).status_code == 200
    assert api.get("incidents", params={"$top": "1"}).status_code == 503
    assert api.get("incidents(e0000000-0000-4000-8000-000000000001)").status_code == 503


def test_max_faults_fails_only_the_first_requests(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(error_rate=1.0, error_status=503, max_faults=2)
    statuses = [api.get("contacts", params={"$top": "1"}).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    crm.set_faults(throttle_rate=1.0, retry_after_s=0, max_faults=1)  # a new config resets it
    assert [api.get("contacts").status_code for _ in range(2)] == [429, 200]


def test_normal_latency_is_centred_on_the_mean(crm: RunningEmulator, api: httpx.Client) -> None:
    crm.set_faults(latency_ms=80, latency_stddev_ms=10, latency_distribution="normal")
    samples = []
    for _ in range(8):
        started = time.perf_counter()
        api.get("contacts", params={"$top": "1"})
        samples.append(time.perf_counter() - started)
    assert 0.04 < sorted(samples)[len(samples) // 2] < 0.5
