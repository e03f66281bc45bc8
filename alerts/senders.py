"""Delivering alerts: Telegram's Bot API, a JSON webhook, and the dispatcher that keeps them off
the trading path.

`AlertDispatcher.send(alert)` is synchronous: it passes the alert through the `AlertGate` and puts
what comes out on each channel's bounded queue (put_nowait; when a queue is full its oldest alert is
dropped and counted), so a caller never awaits the network. One worker task per channel delivers
its queue in order, each request bounded by the channel's timeout; a failure is counted and logged
in one line (the bot token is never in it: it is part of Telegram's URL, so every text that could
hold the URL is redacted). No retries: an alert late by minutes is worth less than one on time, and
the next alert of the same fact comes after the dedupe window anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import msgspec
from loguru import logger
from pydantic import SecretStr

from alerts.gate import AlertGate
from alerts.model import Alert
from config.settings import AlertsConfig

TELEGRAM_MAX_CHARS = 4096  # sendMessage refuses longer texts
MAX_ERROR_CHARS = 300


class AlertChannel(Protocol):
    name: str  # distinct per dispatcher: "telegram", "webhook"
    timeout_s: float

    async def deliver(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        """Send one alert; raise on any failure (the dispatcher counts and logs it)."""
        ...

    def redact(self, text: str) -> str:
        """text without this channel's secrets."""
        ...


class DeliveryRefused(Exception):
    """The far end answered, but not with success."""


class TelegramChannel:
    """sendMessage: POST {base_url}/bot<token>/sendMessage with {"chat_id", "text"}."""

    name = "telegram"

    def __init__(self, base_url: str, bot_token: SecretStr, chat_id: SecretStr, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = bot_token
        self._chat_id = chat_id
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"TelegramChannel({self.base_url!r})"

    async def deliver(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        chat = self._chat_id.get_secret_value()
        payload: dict[str, Any] = {"chat_id": int(chat) if chat.lstrip("-").isdigit() else chat,
                                   "text": alert.text[:TELEGRAM_MAX_CHARS]}
        url = f"{self.base_url}/bot{self._token.get_secret_value()}/sendMessage"
        async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
            body = await resp.read()
        try:
            answer = msgspec.json.decode(body)
        except msgspec.DecodeError:
            answer = None
        if resp.status != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description") if isinstance(answer, dict) else None
            raise DeliveryRefused(f"HTTP {resp.status}" + (f": {description}" if description else ""))

    def redact(self, text: str) -> str:
        token = self._token.get_secret_value()
        return text.replace(token, "<token>") if token else text


class WebhookChannel:
    """POST the alert as JSON ({"kind", "severity", "text", "key", "ts"}); any 2xx is success."""

    name = "webhook"

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WebhookChannel({urlsplit(self._url).hostname!r})"

    async def deliver(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        async with session.post(self._url, data=msgspec.json.encode(alert),
                                headers={"Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
            await resp.read()
        if not 200 <= resp.status < 300:
            raise DeliveryRefused(f"HTTP {resp.status}")

    def redact(self, text: str) -> str:
        # a webhook's URL often carries its secret in the path or query (Slack, Discord): show the host only
        parts = urlsplit(self._url)
        return text.replace(self._url, f"{parts.scheme}://{parts.netloc}/...")


def channels_from_settings(config: AlertsConfig) -> list[AlertChannel]:
    """The channels the settings turn on (none when alerts are off). The loader has checked that an
    enabled Telegram has its token and chat id."""
    if not config.enabled:
        return []
    channels: list[AlertChannel] = []
    telegram = config.telegram
    if telegram.enabled:
        if telegram.bot_token is None or telegram.chat_id is None:
            raise ValueError("alerts.telegram is enabled without LT_TELEGRAM_BOT_TOKEN and LT_TELEGRAM_CHAT_ID")
        channels.append(TelegramChannel(telegram.base_url, telegram.bot_token, telegram.chat_id, telegram.timeout_s))
    if config.webhook.url is not None:
        channels.append(WebhookChannel(config.webhook.url, config.webhook.timeout_s))
    return channels


@dataclass
class ChannelStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0  # the oldest waiting alert, when the queue was full
    last_error: str | None = None  # redacted, one line


class AlertDispatcher:
    def __init__(self, channels: Sequence[AlertChannel], *, dedupe_s: float, max_per_minute: int,
                 queue_size: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.channels = {channel.name: channel for channel in channels}
        self.gate = AlertGate(list(self.channels), dedupe_s=dedupe_s, max_per_minute=max_per_minute)
        self.stats = {name: ChannelStats() for name in self.channels}
        self._queues: dict[str, asyncio.Queue[Alert]] = {
            name: asyncio.Queue(maxsize=queue_size) for name in self.channels}
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(cls, config: AlertsConfig) -> AlertDispatcher:
        return cls(channels_from_settings(config), dedupe_s=config.dedupe_s,
                   max_per_minute=config.max_per_minute, queue_size=config.queue_size)

    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession()
        self._workers = [asyncio.create_task(self._work(channel), name=f"alerts:{name}")
                         for name, channel in self.channels.items()]

    def send(self, alert: Alert) -> None:
        """Queue the alert on every channel the gate lets it through; never waits."""
        for name, admitted in self.gate.admit(alert, self._clock()).items():
            queue = self._queues[name]
            if queue.full():
                queue.get_nowait()
                queue.task_done()
                self.stats[name].dropped += 1
            queue.put_nowait(admitted)

    def waiting(self, channel: str) -> int:
        return self._queues[channel].qsize()

    async def idle(self) -> None:
        """Until every queued alert has been delivered or has failed."""
        await asyncio.gather(*(queue.join() for queue in self._queues.values()))

    async def close(self) -> None:
        """Stop the workers (alerts still queued are abandoned) and close the HTTP session."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _work(self, channel: AlertChannel) -> None:
        queue = self._queues[channel.name]
        stats = self.stats[channel.name]
        assert self._session is not None
        while True:
            alert = await queue.get()
            try:
                # the request's own timeout bounds its phases; this bounds the whole of it
                async with asyncio.timeout(channel.timeout_s):
                    await channel.deliver(self._session, alert)
            except asyncio.CancelledError:
                queue.task_done()
                raise
            except Exception as exc:
                stats.failed += 1
                stats.last_error = self._describe(channel, exc)
                logger.warning("alert {} not delivered to {}: {}", alert.kind, channel.name, stats.last_error)
            else:
                stats.sent += 1
            queue.task_done()

    @staticmethod
    def _describe(channel: AlertChannel, exc: Exception) -> str:
        if isinstance(exc, TimeoutError):
            text = f"no answer within {channel.timeout_s:g} s"
        else:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        text = " ".join(channel.redact(text).split())
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
