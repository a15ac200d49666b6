"""Personal data stays out of logs, traces, dead-letter headers and error messages.

The rule is that no code puts it there: messages name ids (student, class, record), never a personal
ID number, a date of birth or a name. `redact` is the safety net under that rule, applied where text
leaves a service (log lines, span events, dead-letter headers, error bodies): it blanks anything
shaped like a personal ID number (12 digits) or a date (2018-03-14, 14/03/2018), which an exception's
own text (a database's duplicate-key message, say) may carry.
"""

from __future__ import annotations

import re

_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
_ISO_DATE = re.compile(r"(?<!\d)(?:19|20)\d{2}-[01]\d-[0-3]\d(?![\dT:])")
_VN_DATE = re.compile(r"(?<!\d)[0-3]?\d/[01]?\d/(?:19|20)\d{2}(?!\d)")


def redact(text: str) -> str:
    """`text` with personal ID numbers and dates replaced by a mark."""
    text = _CITIZEN_ID.sub("[personal-id]", text)
    text = _ISO_DATE.sub("[date]", text)
    return _VN_DATE.sub("[date]", text)
