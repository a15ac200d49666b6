"""Who may call the publishing API. A published document carries the child's personal data (the
personal ID number, date of birth, parents), so it is for the school's staff and the lookup only:
the principal and the school administrator of the record's school, the teachers of the record's
class (homeroom and subject teachers), and the lookup service fetching a PDF for a parent who found
it. A student's whole record book of a school level is for whoever may read every year in it, as
each year's PDF is. The public verification page is the lookup's, not this API. Only the principal
of the record's school revokes a published document (thu hồi), in their own name. The
transparency log (checkpoints, entries, proofs) holds no personal data: the lookup serves it
publicly.
"""

from hocba_runtime.auth import PolicyTable, allow
from hocba_runtime.auth import Scope as S

PUBLISHED_DOCUMENT = allow(
    principal=S.SCHOOL, school_admin=S.SCHOOL, teacher=S.CLASS, service=S.CITY, personal=True
)

TRANSPARENCY_LOG = allow(service=S.CITY, operator=S.CITY, auditor=S.CITY)
"""The log holds no personal data; the lookup serves it to anybody, and the city's staff read it."""

POLICIES = PolicyTable(
    "publishing",
    {
        "GET /documents/{document_id}": PUBLISHED_DOCUMENT,
        "GET /documents/{document_id}/pdf": PUBLISHED_DOCUMENT,
        "GET /records/{record_id}/documents": PUBLISHED_DOCUMENT,
        "GET /students/{student_id}/book": PUBLISHED_DOCUMENT,
        "POST /documents/{document_id}/revocation": allow(principal=S.SCHOOL),
        "GET /log/checkpoint": TRANSPARENCY_LOG,
        "GET /log/key": TRANSPARENCY_LOG,
        "GET /log/entries/{index}": TRANSPARENCY_LOG,
        "GET /log/proof/inclusion": TRANSPARENCY_LOG,
        "GET /log/proof/consistency": TRANSPARENCY_LOG,
        "GET /log/documents/{document_id}": TRANSPARENCY_LOG,
    },
)
