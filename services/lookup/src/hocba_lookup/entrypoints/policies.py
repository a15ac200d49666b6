"""Who may call the lookup. The sign-in form, the parent portal and the parents' API are open to
anybody (no bearer token): a parent proves they may see a child's records with the personal ID
number, the date of birth and the school's access code, and then holds a session cookie
(`entrypoints/http.py`); what shows a child's record is PUBLIC_PERSONAL, so every answer goes into
the audit trail with the caller's address and whose record it showed. The verification page and
API are public and minimized (name, school, class, year, results, signers, status; never the
personal ID number, the date of birth or the parents). The school administrator of the student's
school issues access codes and lifts lockouts; the copies issued to parents are readable by the
school's administrator and principal and by the auditor.
"""

from hocba_runtime.auth import PUBLIC, PUBLIC_PERSONAL, PolicyTable, allow
from hocba_runtime.auth import Scope as S

POLICIES = PolicyTable(
    "lookup",
    {
        "GET /": PUBLIC,
        "GET /lang/{lang}": PUBLIC,
        # -- the parent portal and the parents' API (entrypoints/http.py) --
        "POST /dang-nhap": PUBLIC_PERSONAL,
        "GET /hoc-ba": PUBLIC_PERSONAL,
        "POST /dang-xuat": PUBLIC,
        "GET /hoc-ba/pdf/{document_id}": PUBLIC_PERSONAL,
        "GET /hoc-ba/so/{level}": PUBLIC_PERSONAL,
        "POST /api/session": PUBLIC_PERSONAL,
        "DELETE /api/session": PUBLIC,
        "GET /api/session/records": PUBLIC_PERSONAL,
        # -- the school: access codes, lockouts, issued copies (entrypoints/schools.py) --
        "POST /api/students/{student_id}/access-code": allow(school_admin=S.SCHOOL),
        "POST /api/schools/{school_id}/access-codes": allow(school_admin=S.SCHOOL),
        "DELETE /api/students/{student_id}/lockout": allow(school_admin=S.SCHOOL),
        "GET /api/students/{student_id}/issued-copies": allow(
            school_admin=S.SCHOOL, principal=S.SCHOOL, auditor=S.CITY
        ),
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
