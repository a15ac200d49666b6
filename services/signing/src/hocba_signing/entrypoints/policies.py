"""Who may call the signing API. The shell checks the token and the role against this table before
a handler runs; the handler resolves the request, batch or signer a call touches and asks
`access.require`, and the scope below decides.

teacher, principal: what is addressed to them (SELF): the requests they are a required signer of,
their own pending list and batches, signing and refusing in their own name only (whose turn it is
stays the domain's rule: 409). principal, school administrator: every request of their own school
(SCHOOL). school administrator: a signer's pending list and the handover of what waits for a
signer, within their own school. A school system has no signing endpoint. The canonical content
of a request carries the student's personal data: every read of it is audited.
"""

from hocba_runtime.auth import PolicyTable, allow
from hocba_runtime.auth import Scope as S

POLICIES = PolicyTable(
    "signing",
    {
        "GET /signers/{staff_id}/pending": allow(
            teacher=S.SELF, principal=S.SELF, school_admin=S.SCHOOL
        ),
        "GET /requests/{record_id}/versions/{version}": allow(
            teacher=S.SELF, principal=S.SCHOOL, school_admin=S.SCHOOL, personal=True
        ),
        "POST /requests/{record_id}/versions/{version}/signatures": allow(
            teacher=S.SELF, principal=S.SELF
        ),
        "POST /requests/{record_id}/versions/{version}/rejection": allow(
            teacher=S.SELF, principal=S.SELF
        ),
        "POST /signers/{staff_id}/batches": allow(teacher=S.SELF, principal=S.SELF),
        "GET /batches/{batch_id}": allow(teacher=S.SELF, principal=S.SELF),
        "POST /batches/{batch_id}/signature": allow(teacher=S.SELF, principal=S.SELF),
        "POST /signers/{staff_id}/handover": allow(school_admin=S.SCHOOL),
    },
)
