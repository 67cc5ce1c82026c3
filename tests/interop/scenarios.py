"""Call scenarios the interop tests share: a linphone caller choosing the goodbye branch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from dipflow.engine.events import DigitsCollected, PromptDone
from tests.interop.audio import tone_wav
from tests.interop.linphone import Linphone, LinphoneConfig
from tests.sip.sip_host import ScriptedHost


async def menu_call_choosing_2(
    tmp_path: Path,
    host: ScriptedHost,
    target: str,
    config: LinphoneConfig,
    *,
    wrap: tuple[str, ...] = (),
    before_pressing: Callable[[], Awaitable[None]] | None = None,
    microphone: Path | None = None,
) -> Linphone:
    """linphone calls `target`, listens to the greeting for 3 s, presses 2 (goodbye) and
    waits for dipflow to hang up. Returns the phone (its recording holds what it heard).
    `microphone`: what the phone sends as its audio (a 700 Hz tone by default)."""
    source = microphone or tone_wav(tmp_path / "caller.wav", 700)
    async with Linphone(tmp_path / "caller", config, source_wav=source, wrap=wrap) as phone:
        call = await phone.call(target)
        await phone.wait_connected(call)
        await asyncio.sleep(3.0)
        if before_pressing is not None:
            await before_pressing()
        await phone.press("2")
        await digit_reached(host)
        assert await phone.wait_ended(call, within_s=20) == "No error", "dipflow's BYE was lost"
    return phone


async def digit_reached(host: ScriptedHost) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not any(isinstance(e, DigitsCollected) for c in host.calls for e in c.events):
        assert loop.time() < deadline, f"dipflow got no key press: {[c.events for c in host.calls]}"
        await asyncio.sleep(0.1)


def chose_goodbye(host: ScriptedHost) -> None:
    (scripted,) = host.calls
    assert DigitsCollected(digits="2") in scripted.events, scripted.events
    assert scripted.branch == "2"
    assert PromptDone(prompt_id="goodbye") in scripted.events
