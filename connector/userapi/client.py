"""The cybozu.com User API calls the USER schema makes, on the Kintone client's transport."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connector.kintone.client import KintoneClient

ENTRIES_PER_CALL = 100
"""Users, organizations or user lists in one User API call (add, update, delete, get)."""


class UserApiClient(KintoneClient):
    """`/v1/{api}.json` of one cybozu.com domain, with the Kintone client's retries, rate
    limit, counting and error translation. Password authentication only."""

    def path(self, api: str) -> str:
        return f"/v1/{api}.json"

    def call(
        self,
        method: str,
        api: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
        app: int | str | None = None,
    ) -> Any:
        """One User API call; its errors name the table (`cybozu.com users`), not an app."""
        where = None if app is None else f"cybozu.com {app}"
        return super().call(method, api, params, idempotent=idempotent, app=where)

    def read(
        self, entity: str, *, codes: Sequence[str] = (), ids: Sequence[int] = ()
    ) -> Iterator[dict[str, Any]]:
        """Users or organizations by code or id, 100 a call."""
        name, values = ("codes", list(codes)) if codes else ("ids", [int(i) for i in ids])
        for start in range(0, len(values), ENTRIES_PER_CALL):
            chunk = values[start : start + ENTRIES_PER_CALL]
            body = self.call("GET", entity, {name: chunk, "size": ENTRIES_PER_CALL}, app=entity)
            yield from body[entity]

    def send(
        self, method: str, entity: str, entries: Sequence[Mapping[str, Any]], *, idempotent: bool
    ) -> None:
        """POST or PUT at most 100 users or organizations, all or nothing."""
        self.call(method, entity, {entity: list(entries)}, idempotent=idempotent, app=entity)

    def remove(self, entity: str, codes: Sequence[str]) -> None:
        """DELETE at most 100 users or organizations by code."""
        self.call("DELETE", entity, {"codes": list(codes)}, app=entity)

    def user_organizations(self, code: str) -> list[dict[str, Any]]:
        """A user's departments with their titles: `[{orgCode, titleCode}]`."""
        body = self.call("GET", "user/organizations", {"code": code}, app="user_organizations")
        out = []
        for entry in body.get("organizationTitles", []):
            title = entry.get("title") or {}
            out.append({"orgCode": entry["organization"]["code"], "titleCode": title.get("code")})
        return out

    def put_user_organizations(self, lists: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Replace the departments of at most 100 users."""
        body = [
            {
                "code": code,
                "organizations": [
                    {
                        k: v
                        for k, v in (("orgCode", i["orgCode"]), ("titleCode", i.get("titleCode")))
                        if v
                    }
                    for i in items
                ],
            }
            for code, items in lists.items()
        ]
        self.call(
            "PUT",
            "userOrganizations",
            {"userOrganizations": body},
            app="user_organizations",
        )

    def user_groups(self, code: str) -> list[dict[str, Any]]:
        """A user's groups: `[{groupCode}]`."""
        body = self.call("GET", "user/groups", {"code": code}, app="user_groups")
        return [{"groupCode": g["code"]} for g in body.get("groups", [])]

    def every(self, entity: str) -> list[dict[str, Any]]:
        """Every organization or group, 100 a call."""
        found: list[dict[str, Any]] = []
        while True:
            body = self.call(
                "GET", entity, {"size": ENTRIES_PER_CALL, "offset": len(found)}, app=entity
            )
            page = list(body[entity])
            found += page
            if len(page) < ENTRIES_PER_CALL:
                return found

    def members(self, entity: str, code: str) -> list[dict[str, Any]]:
        """The users of one organization (`{user, title}`) or group (`{user}`), 100 a call."""
        api, key = (
            ("organization/users", "userTitles")
            if entity == "organizations"
            else ("group/users", "users")
        )
        found: list[dict[str, Any]] = []
        while True:
            params = {"code": code, "size": ENTRIES_PER_CALL, "offset": len(found)}
            page = list(self.call("GET", api, params, app=entity)[key])
            found += page if key == "userTitles" else [{"user": u} for u in page]
            if len(page) < ENTRIES_PER_CALL:
                return found

    def put_user_groups(self, code: str, items: Sequence[Mapping[str, Any]]) -> None:
        """Replace one user's groups."""
        groups = [i["groupCode"] for i in items]
        self.call("PUT", "user/groups", {"code": code, "groups": groups}, app="user_groups")

    def user_services(self, codes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The services each user may use: `{code: [{service}]}`, 100 users a call."""
        out: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(codes), ENTRIES_PER_CALL):
            chunk = list(codes[start : start + ENTRIES_PER_CALL])
            body = self.call(
                "GET",
                "users/services",
                {"codes": chunk, "size": ENTRIES_PER_CALL},
                app="user_services",
            )
            for user in body.get("users", []):
                out[user["code"]] = [{"service": s} for s in user.get("services", [])]
        return out

    def put_user_services(self, lists: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Replace the services of at most 100 users."""
        body = [
            {"code": code, "services": [i["service"] for i in items]}
            for code, items in lists.items()
        ]
        self.call("PUT", "users/services", {"users": body}, app="user_services")
