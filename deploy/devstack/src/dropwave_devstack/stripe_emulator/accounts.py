"""Connect accounts and account links, which localstripe 1.15 lacks.

``/v1/accounts`` (create/retrieve/list/update; Express accounts start with
``charges_enabled``/``payouts_enabled``/``details_submitted`` false) and ``/v1/account_links``
(``account_onboarding``/``account_update`` links with ``url`` and ``expires_at``;
``refresh_url``/``return_url`` required).

Test-only controls under ``/_config`` (never part of Stripe's API):

* ``POST /_config/accounts/{id}`` with ``charges_enabled``/``payouts_enabled``/
  ``details_submitted``: flips the flags and sends ``account.updated``;
* ``GET /_config/accounts/{id}/onboard``: what finishing the onboarding link does (all three
  flags true, ``account.updated``); the account link's ``url`` points here.

Nothing here touches localstripe: :mod:`.patches` adds the routes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ACCOUNT_LINK_TTL_S", "AccountResources", "build"]

ACCOUNT_LINK_TTL_S = 300


@dataclass(frozen=True)
class AccountResources:
    account: Any
    """The ``account`` resource (a ``localstripe`` ``StripeObject``)."""
    account_link: Any
    """Account links: created, never stored (Stripe cannot retrieve them either)."""


def build(r: Any, base_url: str) -> AccountResources:
    """The resources, for an emulator answering at ``base_url`` (account links point there)."""
    UserError = r.UserError
    to_bool = r.try_convert_to_bool

    class Account(r.StripeObject):  # type: ignore[misc]
        object = "account"
        _id_prefix = "acct_"

        def __init__(
            self,
            type: Any = None,
            country: Any = None,
            email: Any = None,
            business_type: Any = None,
            capabilities: Any = None,
            metadata: Any = None,
            **kwargs: Any,
        ) -> None:
            if kwargs:
                raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
            if type not in ("express", "standard", "custom"):
                raise UserError(400, "Missing or invalid type", {"param": "type"})
            if capabilities is not None and not isinstance(capabilities, dict):
                raise UserError(400, "Invalid capabilities", {"param": "capabilities"})
            super().__init__()
            self.type = type
            self.country = country or "US"
            self.email = email
            self.business_type = business_type
            self.metadata = metadata or {}
            self.charges_enabled = False
            self.payouts_enabled = False
            self.details_submitted = False
            self.capabilities = dict.fromkeys(capabilities or {}, "inactive")
            self.requirements = {"currently_due": ["external_account", "tos_acceptance.date"]}

        def _set_state(self, **flags: Any) -> None:
            for name in ("charges_enabled", "payouts_enabled", "details_submitted"):
                if name in flags and flags[name] is not None:
                    value = to_bool(flags[name])
                    if not isinstance(value, bool):
                        raise UserError(400, f"Invalid {name}", {"param": name})
                    setattr(self, name, value)
            active = "active" if self.charges_enabled and self.payouts_enabled else "inactive"
            self.capabilities = dict.fromkeys(self.capabilities, active)
            self.requirements = {
                "currently_due": [] if self.details_submitted else ["external_account"]
            }
            r.schedule_webhook(r.Event("account.updated", self))

        @classmethod
        def _api_update(cls, id: str, metadata: Any = None, **data: Any) -> Any:
            if data:
                raise UserError(400, "Unexpected " + ", ".join(data.keys()))
            obj = cls._api_retrieve(id)
            if metadata:
                obj.metadata = {**obj.metadata, **metadata}
            return obj

        @classmethod
        def _api_config(cls, id: str, **flags: Any) -> Any:
            obj = cls._api_retrieve(id)
            obj._set_state(**flags)
            return obj

        @classmethod
        def _api_onboard(cls, id: str, **_: Any) -> Any:
            obj = cls._api_retrieve(id)
            obj._set_state(charges_enabled=True, payouts_enabled=True, details_submitted=True)
            return obj

    class AccountLink:
        """Not stored (Stripe cannot retrieve account links either)."""

        def __init__(self, account: str, url: str) -> None:
            self.created = int(time.time())
            self.expires_at = self.created + ACCOUNT_LINK_TTL_S
            self.url = url
            self.account = account

        def _export(self, expand: Any = None) -> dict[str, Any]:
            return {
                "object": "account_link",
                "created": self.created,
                "expires_at": self.expires_at,
                "url": self.url,
            }

        @classmethod
        def _api_create(
            cls,
            account: Any = None,
            type: Any = None,
            refresh_url: Any = None,
            return_url: Any = None,
            collect: Any = None,
            collection_options: Any = None,
            **kwargs: Any,
        ) -> AccountLink:
            if kwargs:
                raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
            for name, value in (("account", account), ("type", type)):
                if not isinstance(value, str) or not value:
                    raise UserError(400, f"Missing required param: {name}.", {"param": name})
            if type not in ("account_onboarding", "account_update"):
                raise UserError(400, "Invalid type", {"param": "type"})
            for name, value in (("refresh_url", refresh_url), ("return_url", return_url)):
                if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                    raise UserError(400, f"Missing or invalid {name}", {"param": name})
            assert isinstance(account, str)
            Account._api_retrieve(account)  # 404 for an unknown account
            return cls(account, f"{base_url}/_config/accounts/{account}/onboard")

    return AccountResources(account=Account, account_link=AccountLink)
