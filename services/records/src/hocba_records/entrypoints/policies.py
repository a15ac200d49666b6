"""Who may call the records API. The shell checks the token and the role against this table before
a handler runs; the handler resolves which school, class or student a request touches and asks
`access.require`, and the scope below decides.

school system, school administrator: their own school's data; principal: reads their school;
teacher: the students of the classes they teach, without the personal ID number; operator: class
lists (ids only), city-wide.
"""

from hocba_runtime.auth import PolicyTable, Role, allow
from hocba_runtime.auth import Scope as S

POLICIES = PolicyTable(
    "records",
    {
        "POST /schools": allow(school_system=S.SCHOOL, school_admin=S.SCHOOL),
        "POST /classes": allow(school_system=S.SCHOOL, school_admin=S.SCHOOL),
        "POST /students": allow(school_system=S.SCHOOL, school_admin=S.SCHOOL),
        "POST /enrollments": allow(school_system=S.SCHOOL, school_admin=S.SCHOOL),
        "GET /students/{student_id}": allow(
            school_system=S.SCHOOL,
            school_admin=S.SCHOOL,
            principal=S.SCHOOL,
            teacher=S.CLASS,
            personal=True,
            hide={Role.TEACHER: {"citizen_id"}},
        ),
        "GET /classes/{class_id}/students": allow(
            school_system=S.SCHOOL,
            school_admin=S.SCHOOL,
            principal=S.SCHOOL,
            teacher=S.CLASS,
            operator=S.CITY,
        ),
    },
)
