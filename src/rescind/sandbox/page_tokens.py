"""NextToken values for the fakes that page a query's results (Athena, CloudTrail Lake):
opaque to the client, tied to their query, and checked when they come back."""

from __future__ import annotations

import base64
import json
from typing import Any


def page_token(qid: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"q": qid, "o": offset}).encode()).decode()


def token_offset(token: Any, qid: str) -> int:
    """Where ``token`` resumes ``qid``'s rows (0 without one); ValueError if it is not a
    token of that query."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if data["q"] != qid:
            raise ValueError("a token from another query")
        return int(data["o"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("the NextToken is not valid for this query") from None
