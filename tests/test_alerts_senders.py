"""The alert senders against a local stand-in for Telegram's Bot API (an aiohttp server on
127.0.0.1 recording what it is sent): alerts arrive with the right chat id and text; when the
stand-in hangs, send() still returns at once and the failure is counted after the timeout; the bot
token never appears in the logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from loguru import logger
from pydantic import SecretStr

from alerts import Alert, halt_alert
from alerts.senders import AlertDispatcher, TelegramChannel, WebhookChannel, channels_from_settings
from config.settings import AlertsConfig, TelegramConfig, WebhookConfig
from messages.control import Halt

TOKEN = "424242:AAF-standin_secret_0123456789abcdef"
CHAT = "-1009876543210"


class StandIn:
    """Telegram's sendMessage (and a webhook) on 127.0.0.1; `hang` holds every request open."""

    def __init__(self) -> None:
        self.telegram: list[tuple[str, dict[str, Any]]] = []  # (token in the path, JSON body)
        self.webhook: list[dict[str, Any]] = []
        self.hang = False
        self.held = asyncio.Event()  # a request is being held
        self.in_flight = 0
        self._release = asyncio.Event()
        self.base_url = ""

    async def send_message(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            token = request.match_info["token"]
            self.telegram.append((token, await request.json()))
            if self.hang:
                self.held.set()
                await self._release.wait()
            if token != TOKEN:
                return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"},
                                         status=401)
            return web.json_response({"ok": True, "result": {"message_id": len(self.telegram)}})
        finally:
            self.in_flight -= 1

    async def hook(self, request: web.Request) -> web.Response:
        self.webhook.append(await request.json())
        return web.Response(status=204)

    def release(self) -> None:
        self._release.set()


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    server = StandIn()
    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", server.send_message)
    app.router.add_post("/hook", server.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base_url = f"http://127.0.0.1:{port}"
    yield server
    server.release()
    await runner.cleanup()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Any:
    """Every log line of the test, loguru's and the standard library's."""
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m).rstrip("\n")), level="DEBUG", format="{level} {message}")
    yield lambda: lines + [record.getMessage() for record in caplog.records]
    logger.remove(sink)


def _telegram(base_url: str, token: str = TOKEN, timeout_s: float = 5.0) -> TelegramChannel:
    return TelegramChannel(base_url, SecretStr(token), SecretStr(CHAT), timeout_s)


def _halt(reason: str, ts: int = 1) -> Alert:
    return halt_alert(Halt(reason=reason, scope="all", issued_by="operator", ts_event=ts, seq=1))


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_alerts_reach_telegram_and_the_webhook(stand_in: StandIn, logs: Any) -> None:
    dispatcher = AlertDispatcher([_telegram(stand_in.base_url), WebhookChannel(f"{stand_in.base_url}/hook", 5.0)],
                                 dedupe_s=60.0, max_per_minute=20)
    await dispatcher.start()
    try:
        first, second = _halt("operator asked"), _halt("breaker tripped", ts=2)
        dispatcher.send(first)
        dispatcher.send(first)  # a duplicate: not sent again
        dispatcher.send(second)
        await asyncio.wait_for(dispatcher.idle(), 10.0)
    finally:
        await dispatcher.close()
    assert stand_in.telegram == [(TOKEN, {"chat_id": int(CHAT), "text": first.text}),
                                 (TOKEN, {"chat_id": int(CHAT), "text": second.text})]
    assert stand_in.webhook == [msgspec.to_builtins(first), msgspec.to_builtins(second)]
    assert stand_in.webhook[0]["kind"] == "halt" and stand_in.webhook[0]["severity"] == "critical"
    assert dispatcher.stats["telegram"].sent == dispatcher.stats["webhook"].sent == 2
    assert dispatcher.gate.stats.duplicates == 1
    assert not any(TOKEN in line for line in logs())


async def test_a_refused_request_is_counted_and_logged_in_one_line_without_the_token(
        stand_in: StandIn, logs: Any) -> None:
    wrong = "999:AAF-wrong_token_0123456789abcdefgh"
    dispatcher = AlertDispatcher([_telegram(stand_in.base_url, token=wrong)], dedupe_s=0.0, max_per_minute=20)
    await dispatcher.start()
    try:
        dispatcher.send(_halt("x"))
        await asyncio.wait_for(dispatcher.idle(), 10.0)
    finally:
        await dispatcher.close()
    stats = dispatcher.stats["telegram"]
    assert (stats.sent, stats.failed) == (0, 1)
    assert stats.last_error == "DeliveryRefused: HTTP 401: Unauthorized"
    failures = [line for line in logs() if "not delivered" in line]
    assert failures == ["WARNING alert halt not delivered to telegram: DeliveryRefused: HTTP 401: Unauthorized"]


async def test_an_error_quoting_the_url_is_redacted(logs: Any) -> None:
    # aiohttp's invalid-URL error quotes the whole URL, which holds the token
    dispatcher = AlertDispatcher([_telegram("http://127.0.0.1:99999")], dedupe_s=0.0, max_per_minute=20)
    await dispatcher.start()
    try:
        dispatcher.send(_halt("x"))
        await asyncio.wait_for(dispatcher.idle(), 10.0)
    finally:
        await dispatcher.close()
    stats = dispatcher.stats["telegram"]
    assert stats.failed == 1 and stats.last_error is not None
    assert "/bot<token>/sendMessage" in stats.last_error and TOKEN not in stats.last_error
    lines = logs()
    assert any("/bot<token>/sendMessage" in line for line in lines)
    assert not any(TOKEN in line for line in lines)


async def test_a_hanging_telegram_never_blocks_send(stand_in: StandIn, logs: Any) -> None:
    assert not asyncio.iscoroutinefunction(AlertDispatcher.send)
    stand_in.hang = True
    dispatcher = AlertDispatcher([_telegram(stand_in.base_url, timeout_s=0.5)], dedupe_s=0.0,
                                 max_per_minute=10_000, queue_size=100)
    await dispatcher.start()
    try:
        dispatcher.send(_halt("first"))
        await asyncio.wait_for(stand_in.held.wait(), 10.0)  # the worker's request is held open
        for i in range(1000):
            dispatcher.send(_halt(f"alert {i}", ts=10 + i))
        # all 1,000 returned while the stand-in still holds the first request: none awaited it
        assert stand_in.in_flight == 1 and len(stand_in.telegram) == 1
        assert dispatcher.stats["telegram"].failed == 0
        # the queue kept the newest 100; the 900 oldest were dropped and counted
        assert dispatcher.waiting("telegram") == 100
        assert dispatcher.stats["telegram"].dropped == 900
        await _until(lambda: dispatcher.stats["telegram"].failed >= 1)
        assert dispatcher.stats["telegram"].last_error == "no answer within 0.5 s"
        assert dispatcher.stats["telegram"].sent == 0
        # the worker moved on to the oldest alert kept: "alert 900"
        await _until(lambda: len(stand_in.telegram) >= 2)
        assert stand_in.telegram[1][1]["text"] == _halt("alert 900").text
    finally:
        await dispatcher.close()
    assert not any(TOKEN in line for line in logs())
    assert any("not delivered to telegram: no answer within 0.5 s" in line for line in logs())


def test_channels_follow_the_settings() -> None:
    assert channels_from_settings(AlertsConfig()) == []
    assert channels_from_settings(AlertsConfig(enabled=False, webhook=WebhookConfig(url="http://h/x"))) == []
    on = AlertsConfig(enabled=True, webhook=WebhookConfig(url="https://hooks.example.com/T0/B1/secret"),
                      telegram=TelegramConfig(enabled=True, bot_token=SecretStr(TOKEN), chat_id=SecretStr(CHAT)))
    channels = channels_from_settings(on)
    assert [c.name for c in channels] == ["telegram", "webhook"]
    assert TOKEN not in repr(channels) and "secret" not in repr(channels)
    with pytest.raises(ValueError, match="LT_TELEGRAM_BOT_TOKEN"):
        channels_from_settings(AlertsConfig(enabled=True, telegram=TelegramConfig(enabled=True)))
