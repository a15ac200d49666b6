"""Who may call the lookup: everybody. The parent portal, the parent lookup API, the verification
page and API and the PDF download by ticket are public (a later issue protects the parent lookup
with access codes); what they show is minimized instead: a verifier sees what matches the paper to
the person (name, school, class, school year, results, signers, status) and never the personal ID
number, the date of birth or the parents.
"""

from hocba_runtime.auth import PUBLIC, PolicyTable

POLICIES = PolicyTable("lookup", {
    "GET /": PUBLIC,
    "POST /tra-cuu": PUBLIC,
    "GET /verify/{document_id}": PUBLIC,
    "GET /pdf/{ticket}": PUBLIC,
    "POST /api/lookup": PUBLIC,
    "GET /api/documents/{document_id}": PUBLIC,
})
