"""Creators' settings: how a creator hears about milestones (email, SMS, both, none) and
the phone for SMS (``GET``/``PUT /api/v1/creators/me/settings``), and the one event that
tells notifications whenever these or the creator's email change
(``CreatorSettingsChanged``, on ``campaigns.creators.v1``).

The email is the sign-in's (the token's ``email`` claim, ``AUTH_EMAIL_CLAIM``): campaigns
keeps the latest one it sees (on create, publish, and both settings calls) and announces a
change at once, rather than with the next publish.

Roles: ``routes`` and ``schemas`` (HTTP), ``commands``, ``handlers`` (remembering the
creator, saving, announcing), ``domain`` (the choices and their rules; no I/O). The table is
campaigns' ``creators`` (``campaigns.models.Creator``).
"""
