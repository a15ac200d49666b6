from hocba_runtime.service import serve

from hocba_records.bootstrap import build
from hocba_records.config import RecordsSettings


def main() -> None:
    settings = RecordsSettings()
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
