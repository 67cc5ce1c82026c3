"""Flows reached by name through the runtime: GoTo another flow, call a subflow, from
the configuration's `flow_library`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from dipflow.center import ContactOffered
from dipflow.channels.sim import SimCaller, Speaker
from dipflow.emulator.testing import RunningEmulator
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.errors import RuntimeStartError
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.simcall import make_agents_available

DNIS = "+18005550100"


def write(path: Path, name: str, activities: dict[str, Any], **extra: Any) -> Path:
    first = next(iter(activities))
    flow = {
        "name": name,
        "start": "Start",
        "activities": {"Start": {"kind": "start", "next": first}, **activities},
        **extra,
    }
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    return path


def welcome(tmp_path: Path) -> Path:
    return write(
        tmp_path / "welcome.yaml",
        "Welcome",
        {
            "Check": {"kind": "subflow", "flow": "Hours", "returns": {"Open": "IsOpen"},
                      "on": {"out": "Lang", "error": "Lang"}},
            "Lang": {"kind": "menu", "prompt": {"text": "Open {{ Open }}. For Spanish press 2."},
                     "choices": {"2": "Spanish"}, "on": {"2": "ToSpanish"}},
            "ToSpanish": {"kind": "goto", "flow": "Spanish", "on": {"error": "Bye"}},
            "Bye": {"kind": "disconnect_contact"},
        },
        variables=[{"name": "Open", "default": "?"}],
    )  # fmt: skip


async def library_runtime(
    emulator: RunningEmulator, tmp_path: Path, library: dict[str, str]
) -> Runtime:
    base = demo_config(emulator=emulator, tts="silent", web_port=0, flow=str(welcome(tmp_path)))
    data = base.model_dump(mode="json")
    data["flow_library"] = library
    config = DipflowConfig.model_validate({**data, "base_dir": tmp_path})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    return runtime


def library_files(tmp_path: Path) -> dict[str, str]:
    write(
        tmp_path / "hours.yaml",
        "Hours",
        {"Set": {"kind": "set_variable", "variable": "IsOpen", "value": "yes", "next": "End"},
         "End": {"kind": "end"}},
        variables=[{"name": "IsOpen", "default": "no"}],
    )  # fmt: skip
    write(
        tmp_path / "spanish.yaml",
        "Spanish",
        {
            "Hola": {"kind": "play_message", "prompt": {"text": "Hola."}, "next": "Cola"},
            "Cola": {"kind": "queue_contact", "queue": "CustomerCare", "next": "Musica"},
            "Musica": {"kind": "play_music"},
        },
    )
    return {"Hours": "hours.yaml", "Spanish": "spanish.yaml"}


async def test_a_call_uses_a_subflow_then_goes_to_another_flow(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await library_runtime(emulator, tmp_path, library_files(tmp_path))
    offers: list[ContactOffered] = []
    runtime.center.subscribe(lambda n: offers.append(n) if isinstance(n, ContactOffered) else None)
    try:
        await make_agents_available(runtime, ["agent1"])
        caller = SimCaller(presses=["2"])
        session = runtime.start_call(caller, ani="+14155550123", dnis=DNIS, channel="sim")
        caller.attach(session)
        async with asyncio.timeout(10):
            while not offers:  # noqa: ASYNC110 - polls what the subscriber records
                await asyncio.sleep(0.01)
        said = [line.text for line in caller.transcript if line.speaker is Speaker.IVR]
        assert said[:2] == ["Open yes. For Spanish press 2.", "Hola."]
        assert session.facts.queue == "CustomerCare"
        assert session.state is not None
        path = [e.activity for e in session.state.trace]
        assert path[:4] == ["Start", "Check", "Start", "Set"]  # the subflow's own steps
        assert "ToSpanish" in path and path.index("Hola") > path.index("ToSpanish")
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


async def test_a_subflow_declaring_a_variable_of_the_flow_stops_the_start(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    library = library_files(tmp_path)
    write(
        tmp_path / "hours.yaml",
        "Hours",
        {"End": {"kind": "end"}},
        variables=[{"name": "Open"}],  # Welcome declares Open too
    )
    with pytest.raises(RuntimeStartError, match="declares variable 'Open'"):
        await library_runtime(emulator, tmp_path, library)


async def test_the_configuration_maps_a_schedule_id_to_working_hours(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """An imported Business Hours names its Control Hub schedule by id; `schedules:` of
    dipflow.yaml gives it (here a holiday around today, so the branch is certain)."""
    import datetime as dt

    flow = write(
        tmp_path / "hours.yaml",
        "Hours",
        {
            "Open": {"kind": "business_hours", "schedule_id": "ch-123",
                     "on": {"working_hours": "Say", "holidays": "Holiday", "default": "Say"}},
            "Holiday": {"kind": "play_message", "prompt": {"text": "closed for the holiday"},
                        "next": "Bye"},
            "Say": {"kind": "play_message", "prompt": {"text": "hello"}, "next": "Bye"},
            "Bye": {"kind": "disconnect_contact"},
        },
        schedules={"ch-123": None},
    )  # fmt: skip
    today = dt.datetime.now(dt.UTC).date()
    base = demo_config(emulator=emulator, tts="silent", web_port=0, flow=str(flow))
    data = base.model_dump(mode="json")
    data["schedules"] = {
        "ch-123": {
            "timezone": "UTC",
            "holidays": [{"name": "test", "start": str(today - dt.timedelta(days=1)),
                          "end": str(today + dt.timedelta(days=1))}],
        }
    }  # fmt: skip
    config = DipflowConfig.model_validate({**data, "base_dir": tmp_path})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    try:
        caller = SimCaller()
        session = runtime.start_call(caller, ani="+14155550123", dnis=DNIS, channel="sim")
        caller.attach(session)
        await asyncio.wait_for(session.done.wait(), 10)
        said = [line.text for line in caller.transcript if line.speaker is Speaker.IVR]
        assert said == ["closed for the holiday"]
    finally:
        await runtime.stop()


async def test_a_media_stream_on_a_channel_without_audio_is_logged_and_the_call_goes_on(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = write(
        tmp_path / "stream.yaml",
        "Stream",
        {
            "Fork": {"kind": "start_media_stream", "destination": "ws://127.0.0.1:9/x",
                     "next": "Say"},
            "Say": {"kind": "play_message", "prompt": {"text": "hello"}, "next": "Bye"},
            "Bye": {"kind": "disconnect_contact"},
        },
    )  # fmt: skip
    base = demo_config(emulator=emulator, tts="silent", web_port=0, flow=str(flow))
    config = DipflowConfig.model_validate({**base.model_dump(mode="json"), "base_dir": tmp_path})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    try:
        caller = SimCaller()
        session = runtime.start_call(caller, ani="+14155550123", dnis=DNIS, channel="sim")
        caller.attach(session)
        await asyncio.wait_for(session.done.wait(), 10)
        assert [line.text for line in caller.transcript if line.speaker is Speaker.IVR] == ["hello"]
        assert "the sim channel has no audio to stream" in caplog.text
    finally:
        await runtime.stop()
