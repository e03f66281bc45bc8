"""Alerts from a running system to a local stand-in for Telegram's Bot API (alerts.telegram.base_url):
an operator's halt and an actor's restart arrive as messages; with a stand-in that never answers,
trading goes on (trades keep closing) and the system stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from config.loader import TELEGRAM_CHAT_ENV, TELEGRAM_TOKEN_ENV, _attach_telegram
from config.settings import AppSettings
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session

BOT_TOKEN = "123456:stand-in-secret-abcdefghijklmnop"
CHAT_ID = "-100123"


class StandInBotApi:
    """Telegram's sendMessage on 127.0.0.1, in its own thread: records each request; when `hang`,
    answers none of them until the stand-in itself stops."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, JSON body)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stand-in-bot-api", daemon=True)

    def __enter__(self) -> StandInBotApi:
        self._thread.start()
        assert self._ready.wait(10.0), "the stand-in did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._release.set)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10.0)

    def texts(self) -> list[str]:
        return [str(body.get("text", "")) for _, body in list(self.requests)]

    async def _send_message(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, await request.json()))
        if self.hang:
            await self._release.wait()
        return web.json_response({"ok": True, "result": {"message_id": len(self.requests)}})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(asyncio.wait_for(runner.cleanup(), 5.0))
        self._loop.close()


def alert_settings(tmp_path: Path, base_url: str, timeout_s: float = 2.0, speed: float = 1.0) -> AppSettings:
    telegram = {"enabled": True, "base_url": base_url, "timeout_s": timeout_s}
    settings = make_settings(tmp_path, speed=speed, alerts={"enabled": True, "telegram": telegram})
    # as config.loader.load_config does: the secrets from the environment only
    return _attach_telegram(settings, {TELEGRAM_TOKEN_ENV: BOT_TOKEN, TELEGRAM_CHAT_ENV: CHAT_ID})


def _answers_again(run: SystemRun, name: str, before: dict[str, float]) -> bool:
    try:
        return run.stats(name).get("pid") != before.get("pid")
    except Exception:
        return False


@pytest.mark.timeout(90)
def test_a_halt_and_a_restart_arrive_as_telegram_messages(ray_session: Any, tmp_path: Path) -> None:
    with StandInBotApi() as bot, SystemRun(alert_settings(tmp_path, bot.url), supervise=True) as run:
        wait_until(lambda: run.call("operator", "alert_stats").get("telegram") is not None, 30.0,
                   message="the operator's alerts to start")
        wait_until(lambda: run.call("risk", "status")["event_time_ns"], 30.0, message="market data")
        time.sleep(1.5)  # a few health rounds seen: the watch's baseline, so nothing below is "first sight"
        assert not [t for t in bot.texts() if "HALTED" in t or "RESTARTED" in t], bot.texts()

        assert run.system.control("halt", "alert test", scope="fast") == ["fast"]
        wait_until(lambda: any("HALTED strategy fast (by operator): alert test" in t for t in bot.texts()), 20.0,
                   message=f"the halt alert (received: {bot.texts()})")
        path, body = bot.requests[-1]
        assert path == f"/bot{BOT_TOKEN}/sendMessage" and body["chat_id"] == int(CHAT_ID)

        before = run.stats("feed")
        os.kill(int(before["pid"]), signal.SIGKILL)
        wait_until(lambda: any(t.startswith("ACTOR RESTARTED: feed (1 time") for t in bot.texts()), 30.0,
                   message=f"the restart alert (received: {bot.texts()})")
        stats = run.call("operator", "alert_stats")["telegram"]
        assert stats["failed"] == 0 and stats["sent"] == len(bot.requests)
        # each fact once: the halt and the restart are not repeated on later rounds
        time.sleep(1.5)
        texts = bot.texts()
        assert sum("HALTED strategy fast" in t for t in texts) == 1 and sum("ACTOR RESTARTED" in t for t in texts) == 1


@pytest.mark.timeout(90)
def test_trading_goes_on_while_the_bot_api_hangs(ray_session: Any, tmp_path: Path) -> None:
    with StandInBotApi(hang=True) as bot:
        # each request may hang for 60 s: longer than the test trades
        with SystemRun(alert_settings(tmp_path, bot.url, timeout_s=60.0, speed=5.0), supervise=True) as run:
            wait_until(lambda: run.call("operator", "alert_stats").get("telegram") is not None, 30.0,
                       message="the operator's alerts to start")
            wait_until(lambda: run.trades_closed() >= 1, 30.0, message="a first trade")
            # a halt and a resume: one alert, whose request the stand-in never answers
            run.system.control("halt", "hang test", scope="fast")
            wait_until(lambda: bot.requests, 20.0, message="the halt alert sent to the hanging stand-in")
            run.system.control("resume", "hang test", scope="fast")
            trades = run.trades_closed()
            wait_until(lambda: run.trades_closed() >= trades + 2, 30.0,
                       message=f"trades closing while the Bot API hangs ({run.poll_errors[-3:]})")
            stats = run.call("operator", "alert_stats")["telegram"]
            assert stats["sent"] == 0 and stats["failed"] == 0  # still waiting for its answer
            assert "HALTED strategy fast" in bot.texts()[0]
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 30.0  # stopped cleanly, not held by the hung request


def test_the_supervisor_keeps_the_telegram_secrets_for_the_operator(tmp_path: Path) -> None:
    from supervisor import absolute_paths

    telegram = absolute_paths(alert_settings(tmp_path, "http://127.0.0.1:9")).alerts.telegram
    assert telegram.bot_token is not None and telegram.bot_token.get_secret_value() == BOT_TOKEN
    assert telegram.chat_id is not None and telegram.chat_id.get_secret_value() == CHAT_ID
