"""In-band keys on a SIP leg (issue 12.4): a caller whose offer has no telephone-event is
listened to for tones; one that offers telephone-event, and an agent's leg, are not. The
detector itself is tested in tests/media; linphone's tones in tests/interop."""

from __future__ import annotations

from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.latch import MediaPeer
from dipflow.channels.sip.media import RtpSession, SessionListener
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.rtp import DtmfDigit, RtpStream
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated
from dipflow.media import g711
from dipflow.media.audio import from_array
from tests.media.test_media_dtmf import silence, tone

PHONE = ("127.0.0.1", 6000)


class _Keys(SessionListener):
    def __init__(self) -> None:
        self.keys: list[tuple[str, DigitMethod]] = []

    def on_digit(self, session: RtpSession, digit: DtmfDigit, method: DigitMethod) -> None:
        self.keys.append((digit.value, method))


def _leg(*, telephone_event: int | None, caller: bool, codec: Codec = Codec.PCMA) -> _Keys:
    keys = _Keys()
    peer = MediaPeer(AmplificationGuard(factor=3.0, max_keys=16), window_s=2.0)
    session = RtpSession(port=40000, listener=keys, peer=peer)
    session.listens_for_keys = caller
    session.configure(
        Negotiated(codec=codec, dtmf_payload_type=telephone_event, remote_address=PHONE[0],
                   remote_port=PHONE[1], direction=Direction.SENDRECV)
    )  # fmt: skip
    pcm = from_array(silence(0.1) + tone("4", 0.12) + silence(0.1) + tone("#", 0.12))
    audio = g711.alaw_encode(pcm) if codec is Codec.PCMA else g711.ulaw_encode(pcm)
    stream = RtpStream(int(codec))
    for start in range(0, len(audio), 160):
        session.datagram_received(stream.packet(audio[start : start + 160]), PHONE)
    return keys


def test_a_caller_without_telephone_event_is_heard_by_its_tones() -> None:
    assert _leg(telephone_event=None, caller=True).keys == [
        ("4", DigitMethod.INBAND),
        ("#", DigitMethod.INBAND),
    ]
    assert [k for k, _ in _leg(telephone_event=None, caller=True, codec=Codec.PCMU).keys] == [
        "4",
        "#",
    ]


def test_no_tone_detection_with_telephone_event_or_on_an_agent_leg() -> None:
    assert _leg(telephone_event=101, caller=True).keys == []  # its keys come as events
    assert _leg(telephone_event=None, caller=False).keys == []  # agents' keys drive nothing
