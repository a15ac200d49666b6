"""Who may call the assessment API. The shell checks the token and the role against this table
before a handler runs; the handler resolves the class a request touches (its school and teachers,
from the class profiles) and asks `access.require`, and the scope below decides.

school system: its schools' classes. Teacher (Scope.CLASS): a class they teach; marks only of what
they teach (a subject: its teachers and the homeroom teacher; conduct, qualities and attendance: the
homeroom teacher), closing and summer re-assessment as the homeroom teacher. Principal and school
administrator: their school; only the school administrator unlocks a closed class. Operator: a
class's record ids and versions city-wide, without the results. Auditor: audit trails. The pages
and sheets that name students carry personal data: every read is audited.
"""

from hocba_runtime.auth import PolicyTable, Role, allow
from hocba_runtime.auth import Scope as S

SCHOOL_STAFF_READS = allow(
    school_system=S.SCHOOL,
    principal=S.SCHOOL,
    school_admin=S.SCHOOL,
    teacher=S.CLASS,
    personal=True,
)

POLICIES = PolicyTable(
    "assessment",
    {
        "POST /assessments": allow(school_system=S.SCHOOL, teacher=S.CLASS),
        "POST /classes/{class_id}/gradebook": allow(school_system=S.SCHOOL, teacher=S.CLASS),
        "POST /classes/{class_id}/close": allow(
            school_system=S.SCHOOL, teacher=S.CLASS, principal=S.SCHOOL, school_admin=S.SCHOOL
        ),
        "POST /classes/{class_id}/students/{student_id}/summer-reassessment": allow(
            school_system=S.SCHOOL, teacher=S.CLASS
        ),
        "POST /classes/{class_id}/unlock": allow(school_admin=S.SCHOOL),
        "GET /classes/{class_id}/records": allow(
            school_system=S.SCHOOL,
            principal=S.SCHOOL,
            school_admin=S.SCHOOL,
            teacher=S.CLASS,
            operator=S.CITY,
            hide={Role.OPERATOR: {"level", "level_label"}},
        ),
        "GET /classes/{class_id}/audit": allow(
            auditor=S.CITY, principal=S.SCHOOL, school_admin=S.SCHOOL
        ),
        "GET /classes/{class_id}/gradebook-template": SCHOOL_STAFF_READS,
        "GET /classes/{class_id}/lists": SCHOOL_STAFF_READS,
        "GET /classes/{class_id}/students/{student_id}/report-card": SCHOOL_STAFF_READS,
    },
)
