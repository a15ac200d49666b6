"""Who may call the lookup: everybody. The parent portal, the parent lookup API, the verification
page and API and the PDF download by ticket are public (a later issue protects the parent lookup
with access codes); what they show is minimized instead: a verifier sees what matches the paper to
the person (name, school, class, school year, results, signers, status) and never the personal ID
number, the date of birth or the parents. What shows a child's record is PUBLIC_PERSONAL: every
answer goes into the audit trail, with the caller's address and whose record it showed.
"""

from hocba_runtime.auth import PUBLIC, PUBLIC_PERSONAL, PolicyTable

POLICIES = PolicyTable(
    "lookup",
    {
        "GET /": PUBLIC,
        "GET /lang/{lang}": PUBLIC,
        # -- the parent portal and the parents' API (entrypoints/http.py) --
        "POST /tra-cuu": PUBLIC_PERSONAL,
        "GET /pdf/{ticket}": PUBLIC_PERSONAL,
        "POST /api/lookup": PUBLIC_PERSONAL,
        # -- verification (entrypoints/verify.py) --
        "GET /verify": PUBLIC,  # the start page; its code form redirects to /verify/{id}
        "GET /verify/{document_id}": PUBLIC_PERSONAL,
        "POST /verify/pdf": PUBLIC_PERSONAL,
        "GET /api/documents/{document_id}": PUBLIC_PERSONAL,
        "POST /api/verify": PUBLIC_PERSONAL,
        # The transparency log holds no personal data (hocba_trust.logentry).
        "GET /log/checkpoint": PUBLIC,
        "GET /log/key": PUBLIC,
        "GET /log/entries/{index}": PUBLIC,
        "GET /log/proof/inclusion": PUBLIC,
        "GET /log/proof/consistency": PUBLIC,
        "GET /log/documents/{document_id}": PUBLIC,
    },
)
