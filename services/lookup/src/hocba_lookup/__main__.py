import os

from hocba_runtime.service import serve

from hocba_lookup.bootstrap import build
from hocba_lookup.config import LookupSettings


def main() -> None:
    settings = LookupSettings()
    # uvicorn trusts X-Forwarded-For from these addresses only (read when its config is made)
    os.environ["FORWARDED_ALLOW_IPS"] = settings.trusted_proxies
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
