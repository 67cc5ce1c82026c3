"""One SIP call as the runtime sees it: `SipCall` implements `ChannelCall`. Layer 4 (channels).

It carries out the engine's media commands on the caller's RTP session, turns
DTMF into `DigitsCollected` (with barge-in), reports `PromptDone`/`PromptFailed`,
and asks its channel (`CallControl`, which `SipServer` implements) to bridge the
caller to an agent's phone or to end both legs. The call does not import the server:
the server imports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, assert_never

from dipflow.channels.seam import AgentEndpoint, CallHandle, MediaQuality, TransferResult
from dipflow.channels.sip.codecs import G722_PROMPTS, Transcoder
from dipflow.channels.sip.digits import DigitMethod, DigitRoute
from dipflow.channels.sip.media import Playback, SessionListener
from dipflow.channels.sip.rtp import DtmfDigit
from dipflow.channels.sip.sdp import Codec
from dipflow.channels.sip.sessions import Session
from dipflow.engine.commands import Disconnect, MediaCommand, Play, PlayMusic, StopMedia
from dipflow.engine.events import (
    AgentDisconnected,
    CallerHungUp,
    DigitsCollected,
    Event,
    PromptDone,
    PromptFailed,
)
from dipflow.media import MediaError, PromptRenderer, RenderedAudio

log = logging.getLogger(__name__)


class CallControl(Protocol):
    """What a call asks of its channel (implemented by `SipServer`)."""

    @property
    def prompts(self) -> PromptRenderer: ...

    def end_call(self, call: SipCall, *, notify: Event | None) -> None:
        """End both legs of `call` (idempotent); post `notify` to the runtime once."""
        ...

    async def connect_agent(self, call: SipCall, agent: AgentEndpoint) -> bool:
        """Ring the agent's phone and bridge it to the caller; False if it failed."""
        ...

    async def transfer(
        self, call: SipCall, destination: str, *, caller_id: str | None
    ) -> TransferResult:
        """Blind transfer (refer.py): REFER, else a bridged outbound leg."""
        ...


class SipCall(SessionListener):
    """The channel side of one call (caller leg, and the agent leg once connected)."""

    def __init__(
        self, control: CallControl, *, leg_id: str, session: Session, ani: str, dnis: str
    ) -> None:
        self.control = control
        self.leg_id = leg_id
        self.session = session
        self.ani = ani
        self.dnis = dnis
        self.caller_name = ""
        """The caller's display name (P-Asserted-Identity, else From), for the agent's phone."""
        self.handle: CallHandle | None = None
        self.agent: AgentEndpoint | None = None
        self.agent_leg_id: str | None = None
        self.agent_session: Session | None = None
        self.ended = False
        self.digit_route = DigitRoute()
        """The route key presses are taken from: the first one used (`digits.py`)."""
        self.offered: set[str] = set()
        """Legs whose 2xx carried our offer (their INVITE had none): the answer is in the ACK."""
        self._generation = 0
        self._early: list[Event] = []
        session.rtcp_reports.on_report = self.report_media

    # -- events to the runtime --

    def post(self, event: Event) -> None:
        if self.handle is None:
            self._early.append(event)  # before start_call returned (cannot happen in practice)
            return
        self.handle.post(event)

    def media_quality(self) -> tuple[MediaQuality, ...]:
        """Each leg's RTP quality (RFC 3550: measured here, and reported by the peer)."""
        legs = [("caller", self.session)]
        if self.agent_session is not None:
            legs.append(("agent", self.agent_session))
        return tuple(session.rtcp_reports.state.quality(name) for name, session in legs)

    def report_media(self) -> None:
        if self.handle is not None:
            self.handle.report_media(self.media_quality())

    def attach(self, handle: CallHandle) -> None:
        self.handle = handle
        early, self._early = self._early, []
        for event in early:
            handle.post(event)

    # -- ChannelCall --

    async def execute(self, command: MediaCommand) -> None:
        if self.ended:
            if isinstance(command, Play):
                self.post(PromptFailed(prompt_id=command.prompt_id, reason="call ended"))
            return
        match command:
            case Play():
                await self._play(command)
            case PlayMusic():
                await self._music(command)
            case StopMedia():
                self._generation += 1
                self.session.play(None)
            case Disconnect():
                self.control.end_call(self, notify=None)
            case _:
                assert_never(command)

    async def connect_agent(self, agent: AgentEndpoint) -> bool:
        if self.ended or agent.sip_uri is None:
            return False
        return await self.control.connect_agent(self, agent)

    async def transfer(self, destination: str, *, caller_id: str | None) -> TransferResult:
        if self.ended:
            return TransferResult(ok=False, error="the caller has hung up")
        return await self.control.transfer(self, destination, caller_id=caller_id)

    def tap_audio(self, sink: Callable[[bytes], None]) -> Callable[[], None]:
        """`channels.seam.AudioSource`: the caller's audio as G.711 u-law frames (A-law and
        G.722 transcoded; G.722 keeps its decoder state, hence one transcoder per type)."""
        to_ulaw: dict[int, Transcoder] = {}

        def tap(payload_type: int, payload: bytes) -> None:
            xcoder = to_ulaw.get(payload_type)
            if xcoder is None:
                xcoder = to_ulaw[payload_type] = Transcoder(Codec(payload_type), Codec.PCMU)
            sink(xcoder(payload))

        self.session.taps.append(tap)

        def untap() -> None:
            if tap in self.session.taps:
                self.session.taps.remove(tap)

        return untap

    # -- playback --

    async def _play(self, command: Play) -> None:
        self._generation += 1
        generation = self._generation
        try:
            audio, codec = await self._render(command.text, command.audio, command)
        except MediaError as exc:
            self.post(PromptFailed(prompt_id=command.prompt_id, reason=str(exc)))
            return
        if generation != self._generation or self.ended:
            return  # superseded by a later command while rendering
        self.session.play(
            Playback(
                prompt_id=command.prompt_id,
                audio=audio,
                loop=False,
                interruptible=command.interruptible,
                codec=codec,
            )
        )

    async def _music(self, command: PlayMusic) -> None:
        self._generation += 1
        generation = self._generation
        try:
            audio, codec = await self._render(None, command.audio, None)
        except MediaError as exc:
            self.post(PromptFailed(prompt_id=command.prompt_id, reason=str(exc)))
            return
        if generation != self._generation or self.ended:
            return
        self.session.play(
            Playback(prompt_id=None, audio=audio, loop=True, interruptible=False, codec=codec)
        )

    async def _render(
        self, text: str | None, audio_name: str | None, play: Play | None
    ) -> tuple[bytes, Codec]:
        """The audio encoded for the session's codec once rendered (re-encoded when played
        if the codec changes later: a late answer or a re-offer). A new prompt is rendered
        by the renderer's workers (`PromptRenderer.workers`), never on this loop."""
        prompts = self.control.prompts
        rendered: RenderedAudio
        if text and play is not None:
            # Each segment of a prompt in several languages in its own voice.
            rendered = await prompts.render_spoken_async(
                play.spoken(), rate=play.rate, gain_db=play.gain_db
            )
        elif text:
            rendered = await prompts.render_text_async(text, language="en-US", voice=None)
        elif audio_name:
            rendered = await prompts.render_audio_async(audio_name)
        else:
            raise MediaError("the prompt has neither text nor audio")
        codec = self.session.codec
        if codec is Codec.G722:
            known = G722_PROMPTS.cached(rendered.key)
            if known is None:  # G.722 encoding is CPU work: once per prompt, off the loop
                known = await asyncio.to_thread(
                    G722_PROMPTS.get, rendered.key, lambda: rendered.pcm.samples
                )
            return known, codec
        return (rendered.ulaw() if codec is Codec.PCMU else rendered.alaw()), codec

    # -- SessionListener --

    def on_digit(self, session: Session, digit: DtmfDigit, method: DigitMethod) -> None:
        if session is not self.session or self.ended or self.agent_session is not None:
            return  # agents' keypads and post-bridge digits do not drive the flow
        if not self.digit_route.admit(method):
            if self.digit_route.ignored == 1:
                log.info("SIP call %s: keys by %s ignored, it sends them by %s as well",
                         self.leg_id, method, self.digit_route.method)  # fmt: skip
            return
        playing = session.playback
        self.post(DigitsCollected(digits=digit.value))
        if playing is not None and playing.interruptible and playing.prompt_id is not None:
            session.play(None)  # barge-in
            self._generation += 1
            self.post(PromptDone(prompt_id=playing.prompt_id, interrupted=True))

    def on_playback_done(self, session: Session, playback: Playback) -> None:
        if session is self.session and playback.prompt_id is not None and not self.ended:
            self.post(PromptDone(prompt_id=playback.prompt_id))

    # -- hang-ups --

    def caller_gone(self) -> None:
        """The caller hung up (BYE, CANCEL, or never ACKed): end the agent leg too."""
        self.control.end_call(self, notify=CallerHungUp())

    def agent_gone(self) -> None:
        """The agent hung up: tell the flow, and end the caller's leg as well."""
        agent_id = self.agent.agent_id if self.agent else ""
        self.agent_leg_id = None  # already ended by the agent's BYE
        self.control.end_call(self, notify=AgentDisconnected(agent_id=agent_id))
