"""Notify and escalate: channels, routing by severity and account owner, secrets.

``settings`` is the ``[notify]`` table; ``routing`` turns roles (``security``,
``owner``) into recipients; ``message`` renders what is sent (always with the
incident id and the latest ANCHOR line); ``channels`` builds each service's exact
request; ``transport`` delivers it (live), blocks it (dry-run) or captures it
(exercise); ``record`` reads what the journal already says (severity, threads,
tickets, messages). The provider (``providers/notify.py``) and the actions
(``actions/notify.py``) put them together. See docs/notify.md.
"""
