"""Risk judges a modify as the order it becomes (band, post-only cross, halt, rate), and a refused
modify or cancel leaves the order as it was (op says so), on the risk actor class itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from messages.codec import COMMANDS, CONTROL, INTENTS, ORDER_EVENTS
from messages.control import Halt
from messages.orders import ModifyIntent, OrderRejected
from tests.test_event_time_shells import ACCOUNT, DAY0_NS, Batches, run, started_risk, top


def modify(price: float, *, seq: int, coi: int = 5, side: str = "buy", size: float = 0.1) -> bytes:
    return INTENTS.encode(ModifyIntent(strategy="fast", account_index=ACCOUNT, market_id=2, client_order_index=coi,
                                       side=side, price=price, size=size, reason="requote",  # type: ignore[arg-type]
                                       ts_event=DAY0_NS, seq=seq))


@pytest.mark.timeout(30)
def test_a_modify_is_judged_as_the_order_it_becomes(tmp_path: Path) -> None:
    async def test() -> None:
        risk, peers = await started_risk(tmp_path, order_rate_per_min=100)
        await risk.on_batch(Batches().encode(top(DAY0_NS)))  # book 149.99 / 150.01
        assert await risk.on_intent(modify(149.95, seq=1)) == "approved"
        assert await risk.on_intent(modify(149.95, seq=1)) == "duplicate"  # the same modify, retried
        [command] = [COMMANDS.decode(args[0]) for args in peers.sent("router", "on_command")]
        assert isinstance(command.intent, ModifyIntent) and command.intent.price == 149.95
        assert await risk.on_intent(modify(150.02, seq=2)) == "post_only_cross"  # a bid through the ask
        assert await risk.on_intent(modify(140.0, seq=3)) == "price_band"
        await risk.control(CONTROL.encode(Halt(reason="test", scope="fast", ts_event=DAY0_NS, seq=9)))
        assert await risk.on_intent(modify(149.95, seq=4)) == "halted"
        refusals = [ORDER_EVENTS.decode(args[0]) for args in peers.sent("strategy:fast", "on_order_event")]
        assert all(isinstance(r, OrderRejected) and r.op == "modify" and r.source == "risk" for r in refusals)
        assert len(refusals) == 3 and len(peers.sent("router", "on_command")) == 1

    run(test)
