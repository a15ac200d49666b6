from hocba_runtime.service import serve

from hocba_publishing.bootstrap import build
from hocba_publishing.config import PublishingSettings


def main() -> None:
    settings = PublishingSettings()
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
