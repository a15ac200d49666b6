from hocba_runtime.service import serve

from hocba_lookup.bootstrap import build
from hocba_lookup.config import LookupSettings


def main() -> None:
    settings = LookupSettings()
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
