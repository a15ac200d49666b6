from hocba_runtime.service import serve

from hocba_assessment.bootstrap import build
from hocba_assessment.config import AssessmentSettings


def main() -> None:
    settings = AssessmentSettings()
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
