from hocba_runtime.service import serve

from hocba_signing.bootstrap import build
from hocba_signing.config import SigningSettings


def main() -> None:
    settings = SigningSettings()
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
