"""What the persistence actor does when SQLite cannot write (storage.faults): trading halts.

Policy (DESIGN: "no order without its journal"):
- the fault begins: a `Halt(scope="all", issued_by="storage", reason="storage: disk full
  (SQLITE_FULL) at <path>")` goes to risk's kill switch, NOT persisted (it could not be: the
  disk is what failed). If risk restarts while the fault lasts (it would come up running, from
  storage), the halt is sent again: the guard watches risk's worker pid every HALT_CHECK_S.
  Meanwhile no order can be sent anyway: the router sends one only after its journal write
  committed, and the writer refuses that write at once during a fault (storage.writer);
- the fault ends (a write committed again): writes resume by themselves, trading does NOT. The
  halt is issued again, persisted this time (so a restart keeps it), its reason saying the
  writes resumed; an operator resumes trading after looking at the disk. Why not automatically:
  a disk that filled once fills again (a flapping halt/resume would trade in between with
  nothing learned), and the halt may have covered strategies an operator or a breaker halted
  meanwhile, which a blanket resume would release.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from actors.common import SeqCounter, wall_ns
from messages.codec import CONTROL
from messages.control import ALL, Halt
from storage.faults import StorageFault

HALT_CHECK_S = 2.0
CALL_TIMEOUT_S = 10.0
RECOVERY_HALT_TIMEOUT_S = 120.0
ISSUER = "storage"
RESUMED_NOTE = "writes resumed; trading stays halted until an operator resumes"


class StorageGuard:
    """Sends the storage's halts to risk (through `sender`, an actors.common.Sender)."""

    def __init__(self, sender: Any, log: Any) -> None:
        self.sender = sender
        self.log = log
        self.seq = SeqCounter()
        self.fault: StorageFault | None = None
        self.since = 0.0  # monotonic
        self.halts_sent = 0
        self.risk_halted_in: int | None = None  # the pid of risk's worker that has the halt (a restart: a new one)
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_fault(self, fault: StorageFault | None) -> None:
        """The writer's callback (on the event loop): a fault began (fault) or ended (None)."""
        if fault is not None:
            self.fault, self.since, self.risk_halted_in = fault, time.monotonic(), None
            if self._watch is None or self._watch.done():
                self._watch = asyncio.ensure_future(self._keep_halted())
            return
        ended, self.fault = self.fault, None
        if ended is not None:
            task = asyncio.ensure_future(self._halt_after_recovery(ended, time.monotonic() - self.since))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def fault_s(self) -> float:
        return time.monotonic() - self.since if self.fault is not None else 0.0

    async def _keep_halted(self) -> None:
        while self.fault is not None:
            fault = self.fault
            try:
                incarnation = int(await self.sender.call("risk", "pid", timeout_s=CALL_TIMEOUT_S))
                if incarnation != self.risk_halted_in:
                    await self._halt(str(fault), persist=False)
                    self.risk_halted_in = incarnation
            except Exception as exc:  # risk restarting or busy: asked again in HALT_CHECK_S
                self.log.warning("storage halt not delivered yet: {}", type(exc).__name__)
            await asyncio.sleep(HALT_CHECK_S)  # a period: risk's incarnation is polled, not awaited

    async def _halt_after_recovery(self, fault: StorageFault, lasted_s: float) -> None:
        if self._watch is not None and not self._watch.done():
            await asyncio.wait({self._watch}, timeout=CALL_TIMEOUT_S)
        reason = f"{fault} for {lasted_s:.0f} s; {RESUMED_NOTE}"
        deadline = time.monotonic() + RECOVERY_HALT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                await self._halt(reason, persist=True)
                return
            except Exception as exc:  # risk restarting: it restores nothing of a halt never stored
                self.log.warning("storage halt not persisted yet: {}", type(exc).__name__)
                await asyncio.sleep(1.0)  # back-off before asking risk again
        self.log.error("storage halt not persisted after {:g} s: risk did not answer", RECOVERY_HALT_TIMEOUT_S)

    async def _halt(self, reason: str, persist: bool) -> None:
        halt = Halt(reason=reason, scope=ALL, issued_by=ISSUER, ts_event=wall_ns(), seq=self.seq.next())
        await self.sender.call("risk", "control", CONTROL.encode(halt), persist, timeout_s=60.0)
        self.halts_sent += 1
