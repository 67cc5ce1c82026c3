"""Issue 11, item 3: REGISTER brute force against a real node.

The attack as filed: thousands of guesses per second on one reused nonce, no limit, the
demo password found at attempt 1,501. Now: after a few wrong answers the guessing source
(and the user, across sources) is locked out for doubling periods and gets no answer at
all, not even to the right password; the agent's own phone keeps re-registering, and other
agents register as usual.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from tests.security.node import running_node
from tests.security.sip_peer import SipPeer, challenge_params, digest_header

pytestmark = pytest.mark.slow

GUESSES = 1500


async def _guess(
    attacker: SipPeer, server: tuple[str, int], *, user: str, passwords: list[str]
) -> int:
    """Send one REGISTER per password, as fast as the socket takes them, all answering
    the same nonce (nc counting up); the number of them the node answered."""
    call_id = secrets.token_hex(8)
    attacker.send(
        attacker.register_bytes(user=user, server=server, call_id=call_id, cseq=1), server
    )
    challenge = await attacker.final_response(call_id)
    assert challenge is not None and challenge.status == 401
    params = challenge_params(challenge)
    ids = set()
    for n, password in enumerate(passwords, start=1):
        guess_id = f"{call_id}-{n}"
        ids.add(guess_id)
        authorization = digest_header(
            user=user, password=password, realm=params["realm"], nonce=params["nonce"],
            uri=f"sip:{server[0]}:{server[1]}", nc=n,
        )  # fmt: skip
        attacker.send(
            attacker.register_bytes(
                user=user, server=server, call_id=guess_id, cseq=1, authorization=authorization
            ),
            server,
        )
        if n % 50 == 0:
            await asyncio.sleep(0.01)  # let the node read; the attacker is still >1000/s
    await asyncio.sleep(1.0)
    answered = [m for m in attacker.drain() if m.call_id in ids]
    assert all(m.status == 401 for m in answered), [m.status for m in answered]  # never 200
    return len(answered)


async def test_guessing_a_password_is_locked_out_but_the_agents_phone_still_registers() -> None:
    async with running_node() as node:
        server = node.sip_address
        phone = await SipPeer.open("127.0.0.20")
        attacker = await SipPeer.open("127.0.0.1")
        others = [await SipPeer.open(f"127.0.0.{n}") for n in range(2, 8)]
        try:
            # agent1's phone is registered before the attack starts.
            ok, _ = await phone.register(user="agent1", password="agent1", server=server)
            assert ok is not None and ok.status == 200

            wrong = [f"guess{n}" for n in range(GUESSES)]
            # As filed: 1,500 wrong guesses, then the right password as attempt 1,501,
            # all in one burst on one nonce. Every one that reaches the node while the
            # source is locked is dropped unchecked and unanswered; so is the right one.
            answered = await _guess(attacker, server, user="agent1",
                                    passwords=[*wrong, "agent1"])  # fmt: skip
            # 5 free failures, then 1 s, 2 s... locks: a handful answered, not 1,501.
            assert answered <= 8, answered
            stats = node.sip.ua.stats
            assert stats["auth_failures"] <= 8  # passwords actually checked
            # The rest were refused unchecked (on a busy machine the kernel may drop some
            # of a 1,500-datagram burst before the node reads them).
            assert stats["auth_throttled"] >= GUESSES // 3
            binding = node.sip.ua.registrar.lookup("agent1", node.sip.driver.now())
            assert binding is not None and binding.source[0] == "127.0.0.20"

            # Spreading the guesses over other addresses does not buy more of them:
            # agent1 is locked as a user, whatever the source.
            spread = 0
            for other in others:
                spread += await _guess(other, server, user="agent1", passwords=wrong[:50])
            assert spread <= 6, spread

            # The real phone re-registers through all of it (it registers from the
            # address of agent1's live binding), and another agent registers as usual.
            again, _ = await phone.register(user="agent1", password="agent1", server=server)
            assert again is not None and again.status == 200
            newcomer = await SipPeer.open("127.0.0.30")
            try:
                ok2, _ = await newcomer.register(user="agent2", password="agent2", server=server)
                assert ok2 is not None and ok2.status == 200
            finally:
                newcomer.close()
        finally:
            for peer in (phone, attacker, *others):
                peer.close()
