import os
import sys

from hocba_runtime.service import serve

from hocba_lookup.bootstrap import build
from hocba_lookup.config import LookupSettings


def main() -> None:
    """Serve the lookup; `rebuild` (`python -m hocba_lookup rebuild`): rebuild its read model by
    replaying the publishing topic (hocba_lookup.rebuild)."""
    if sys.argv[1:2] == ["rebuild"]:
        from hocba_lookup.rebuild import main as rebuild

        raise SystemExit(rebuild(sys.argv[2:]))
    settings = LookupSettings()
    # uvicorn trusts X-Forwarded-For from these addresses only (read when its config is made)
    os.environ["FORWARDED_ALLOW_IPS"] = settings.trusted_proxies
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
