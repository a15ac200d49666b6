"""Running an async call again after a failure that may pass: bounded, with growing pauses."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

log = logging.getLogger("hocba.retry")

P = ParamSpec("P")
R = TypeVar("R")


def retry(
    attempts: int,
    pause: float,
    worth_retrying: Callable[[Exception], bool],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Call at most `attempts` times in all while the failure is `worth_retrying`, pausing
    `pause × attempt` seconds in between; the last failure is raised."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(1, attempts + 1):
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    if attempt == attempts or not worth_retrying(exc):
                        raise
                    log.warning(
                        "call failed, retrying",
                        extra={
                            "call": fn.__name__,
                            "attempt": attempt,
                            "error_type": type(exc).__name__,
                        },
                    )
                    await asyncio.sleep(pause * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate
