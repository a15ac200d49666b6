"""`python -m hocba_runtime.admin ensure-topics --bootstrap HOST:PORT`: create Hocba's topics and
their dead-letter topics where missing (the deployment's init job; the local stack does the same)."""

from __future__ import annotations

import argparse
import asyncio
import time

from hocba_runtime.kafka import ensure_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hocba-admin")
    parser.add_argument("command", choices=["ensure-topics"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the broker")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            created = asyncio.run(ensure_topics(args.bootstrap))
            break
        except Exception as exc:  # noqa: BLE001 - the broker may still be starting
            if time.monotonic() > deadline:
                print(f"error: broker {args.bootstrap} not reachable: {type(exc).__name__}")
                return 1
            time.sleep(2)
    print(f"topics created: {', '.join(created) if created else 'none (all exist)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
