"""The fleet's work queue: each item is done once, by one board, or given back and done by another.

A board takes one item at a time. If the board dies or hangs on it, the item goes back to the
front of the queue, its attempt counted; an item that failed ``max_attempts`` times is set aside
as failed (a sample that faults every board must not take the fleet down). ``take`` waits while
the queue is empty but other boards still hold items, since any of them may come back."""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Hashable


@dataclass
class Outcome:
    done: dict[Hashable, tuple[str, Any]] = field(default_factory=dict)  # key -> (instance, result)
    failed: dict[Hashable, list[str]] = field(default_factory=dict)  # key -> the errors of each attempt
    unfinished: list[Hashable] = field(default_factory=list)  # never done: no board was left to take them


class WorkQueue:
    def __init__(self, items: list, key=lambda item: item, max_attempts: int = 3):
        self._key = key
        self._pending: deque = deque(items)
        self._held: dict[Hashable, str] = {}  # key -> instance holding it
        self._errors: dict[Hashable, list[str]] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self.max_attempts = max_attempts
        self.outcome = Outcome()
        keys = [key(i) for i in items]
        if len(set(keys)) != len(keys):
            raise ValueError("work items must have distinct keys")
        self.total = len(keys)

    def take(self, instance: str):
        """The next item for ``instance``, or None once nothing is left (or the queue stopped)."""
        with self._cond:
            while not self._pending and self._held and not self._stopped:
                self._cond.wait()
            if self._stopped or not self._pending:
                return None
            item = self._pending.popleft()
            self._held[self._key(item)] = instance
            return item

    def done(self, item, instance: str, result) -> None:
        with self._cond:
            key = self._release(item, instance)
            if key in self.outcome.done:  # cannot happen while one board holds an item at a time
                raise RuntimeError(f"work item {key!r} done twice")
            self.outcome.done[key] = (instance, result)
            self._cond.notify_all()

    def give_back(self, item, instance: str, error: str) -> bool:
        """Return ``item`` after its board failed on it. True if it was queued again; False if
        it has now failed ``max_attempts`` times and is set aside as failed."""
        with self._cond:
            key = self._release(item, instance)
            errors = self._errors.setdefault(key, [])
            errors.append(f"{instance}: {error}")
            again = len(errors) < self.max_attempts
            if again:
                self._pending.appendleft(item)
            else:
                self.outcome.failed[key] = errors
            self._cond.notify_all()
            return again

    def attempts(self, item) -> int:
        with self._cond:
            return len(self._errors.get(self._key(item), []))

    def stop(self) -> None:
        """No more items handed out (Ctrl-C, or a fatal error): boards end after their current item."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def close(self) -> Outcome:
        """The outcome once every board ended: items still queued are listed as unfinished."""
        with self._cond:
            self.outcome.unfinished = [self._key(i) for i in self._pending] + list(self._held)
            self._pending.clear()
            return self.outcome

    @property
    def remaining(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._held)

    def _release(self, item, instance: str):
        key = self._key(item)
        if self._held.get(key) != instance:
            raise RuntimeError(f"work item {key!r} is not held by {instance}")
        del self._held[key]
        return key
