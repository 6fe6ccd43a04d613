"""The one mutable thing in a worker: a reference to the current `ServingState`.

A reload builds the new state aside (in a background thread, reusing unchanged parts)
and then rebinds one attribute, which is atomic in Python: a request reads
`holder.state` once and keeps using that object, so requests in flight during a reload
finish on the old state and later ones see the new one — nothing is dropped. A failed
reload keeps the old state and records why. The watcher polls the parts' versions
(file stats only) every `watch_s` seconds; each worker process runs its own.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field

from xpollinate.serving.config import ServeConfig
from xpollinate.serving.state import NotReadyError, ServingState, load_state, versions

log = logging.getLogger("xpollinate.serving")


@dataclass
class ReloadOutcome:
    reloaded: bool
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0


def freeze_heap() -> None:
    """Move every object alive now (the state just loaded) out of the cyclic collector's reach."""
    gc.unfreeze()  # the previous state's objects become collectable again
    gc.collect()
    gc.freeze()


class StateHolder:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.state: ServingState | None = None
        self.reasons: list[str] = ["loading: the state is being read into memory"]
        self.loading = False
        self._attempted: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_reload = lambda outcome: None  # metrics hook

    @property
    def ready(self) -> bool:
        return self.state is not None

    def reload(self) -> ReloadOutcome:
        """Build a new state from the run directory and swap it in; keep the old one on failure."""
        with self._lock:
            self.loading = True
            started = time.perf_counter()
            try:
                self._attempted = versions(self.config)
                new = load_state(self.config, previous=self.state)
            except NotReadyError as exc:
                outcome = ReloadOutcome(False, exc.reasons)
            except Exception as exc:  # never let a reload kill the worker
                log.exception("reload failed")
                outcome = ReloadOutcome(False, [f"reload failed: {type(exc).__name__}: {exc}"])
            else:
                self.state = new  # the atomic swap
                outcome = ReloadOutcome(True)
                freeze_heap()
            finally:
                self.loading = False
            outcome.seconds = time.perf_counter() - started
            self.reasons = outcome.reasons
            if outcome.reasons:
                log.warning("state not (re)loaded: %s", "; ".join(outcome.reasons))
            self.on_reload(outcome)
            return outcome

    def changed(self) -> bool:
        now = versions(self.config)
        seen = self.state.versions if self.state is not None else self._attempted
        return seen != now

    def start(self) -> None:
        """Load the first state and watch for new versions, in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="xp-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        self.reload()
        if self.config.watch_s <= 0:
            return
        while not self._stop.wait(self.config.watch_s):
            try:
                if self.changed():
                    self.reload()
            except Exception:  # a transient file-system error: try again next tick
                log.exception("version check failed")
