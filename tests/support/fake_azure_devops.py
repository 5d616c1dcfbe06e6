"""A fake Azure DevOps (work item tracking, REST 7.1) on 127.0.0.1, on the fake tools' server
(tests/support/fake_xray.py), for one organization and one project.

It speaks the documented contract: `api-version=7.1` on every call; Basic auth with a personal access
token (any user name); `GET {org}/_apis/projects/{project}`; work items created
(`POST …/_apis/wit/workitems/$Test%20Case`) and updated (`PATCH …/workitems/{id}`) from JSON Patch
documents sent as `application/json-patch+json` (fields and `/relations/-`), read one by one or as
`workitems?ids=…&fields=…&errorPolicy=omit`, deleted (to the recycle bin), and found with WIQL
(`POST …/_apis/wit/wiql`: the work item type and a `[System.Tags] CONTAINS '…'`, which matches part of
the tags as well as a whole tag, so a client must check), read in batches of at most 200
(`POST …/_apis/wit/workitemsbatch {ids, fields, errorPolicy}`). Numeric ids, a `rev` moved by every change;
tags kept sorted, as Azure shows them; the steps field must be well-formed XML. Refusals are Azure's
`{"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}`.

It can misbehave like Azure: a per-minute limit and 429s with `Retry-After` and `X-RateLimit-*`,
refused credentials answered 401 or (`signin_page`) 203 with its HTML sign-in page, a test case
refused by its title, an edit made "in the tool".
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from tests.support.fake_xray import Raw, Refusal, Request, ToolServer

SIGN_IN = (
    b"<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body></body></html>"
)
ASSEMBLY = "Microsoft.VisualStudio.Services.Common"
NO_ITEM = "does not exist, or you do not have permissions to read it."
RELATIONS = (
    "Microsoft.VSTS.Common.TestedBy-Forward",
    "Microsoft.VSTS.Common.TestedBy-Reverse",
    "System.LinkTypes.Related",
    "System.LinkTypes.Hierarchy-Reverse",
)


@dataclass
class FakeAzureDevOps(ToolServer):
    pat: str = "5kq7yv3s3cr3tpat0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8"
    organization: str = "contoso"
    project: str = "Shop Web"
    signin_page: bool = False  # refused credentials answered 203 with the sign-in page, not 401
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    recycle_bin: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # title -> Azure's message

    def __post_init__(self) -> None:
        super().__post_init__()
        self._next_id = 4101
        self._changes = 0
        story = self._new_item("User Story", {"System.Title": "Checkout"}, item_id=4001)
        self.items[story["id"]] = story

    @property
    def organization_url(self) -> str:
        return f"{self.url}/{self.organization}"

    @property
    def settings(self) -> dict[str, Any]:
        return {"kind": "azure-devops", "organization_url": self.organization_url, "project": self.project}

    @property
    def secrets(self) -> dict[str, str]:
        return {"token": self.pat}

    # --- test-only --------------------------------------------------------------------------------

    def add_test_cases(self, count: int, tags: str) -> list[int]:
        """Test cases made by someone else."""
        with self._lock:
            made = [
                self._new_item("Test Case", {"System.Title": f"Manual {n}", "System.Tags": tags})
                for n in range(count)
            ]
            for item in made:
                self.items[item["id"]] = item
            return [item["id"] for item in made]

    def add_story(self, title: str, **fields: Any) -> int:
        """A user story made in Azure DevOps (`fields` by reference name)."""
        with self._lock:
            item = self._new_item("User Story", {"System.Title": title, **fields})
            self.items[item["id"]] = item
            return int(item["id"])

    def edit_item(self, item_id: int, **fields: Any) -> None:
        """Someone edits the work item in Azure DevOps: its fields change and its `rev` moves."""
        with self._lock:
            self.items[item_id]["fields"].update(fields)
            self._bump(self.items[item_id])

    def refuse(self, title: str, message: str) -> None:
        self.refused[title] = message

    def tagged(self, tag: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self.items.values() if tag in _tags(i["fields"].get("System.Tags"))]

    def test_cases(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self.items.values() if i["fields"]["System.WorkItemType"] == "Test Case"]

    # --- the server -------------------------------------------------------------------------------

    def _error(self, status: int, message: str, type_key: str = "InvalidArgumentValueException") -> Any:
        return {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": f"Microsoft.VisualStudio.Services.Common.{type_key}, {ASSEMBLY}",
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000,
        }

    def _limit_headers(self, wait: int) -> dict[str, str]:
        return {
            "Retry-After": str(wait),
            "X-RateLimit-Resource": "Core",
            "X-RateLimit-Delay": "0.5",
            "X-RateLimit-Limit": str(self.per_minute or 200),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(1_790_000_000 + wait),
        }

    def _authorize(self, request: Request) -> None:
        scheme, _, encoded = request.authorization.partition(" ")
        try:
            _, _, token = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            token = ""
        if scheme != "Basic" or token != self.pat:
            if self.signin_page:
                raise Refusal(203, Raw("text/html", SIGN_IN))
            raise Refusal(
                401, Raw("text/plain", b"Access Denied: The Personal Access Token used has expired.")
            )

    def _answer(self, request: Request) -> tuple[int, Any]:
        path, method, query = unquote(request.path), request.method, request.query
        version = query.get("api-version")
        if version is None:
            raise Refusal(
                400,
                self._error(
                    400,
                    f"No api-version was supplied for the {method} request.",
                    "VssVersionNotSpecifiedException",
                ),
            )
        if version != "7.1":
            raise Refusal(
                400,
                self._error(
                    400,
                    f"The requested REST API version of {version} is out of range.",
                    "VssVersionOutOfRangeException",
                ),
            )
        org = f"/{self.organization}"
        if path == f"{org}/_apis/projects/{self.project}" and method == "GET":
            return 200, {
                "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
                "name": self.project,
                "state": "wellFormed",
            }
        project = re.fullmatch(rf"{re.escape(org)}/_apis/projects/(.+)", path)
        if project:
            raise Refusal(
                404,
                self._error(
                    404,
                    f"TF200016: The following project does not exist: {project.group(1)}.",
                    "ProjectDoesNotExistWithNameException",
                ),
            )
        base = f"{org}/{self.project}/_apis/wit"
        if not path.startswith(base + "/"):
            raise Refusal(404, self._error(404, f"No endpoint {method} {path}"))
        rest = path.removeprefix(base)
        if rest == "/wiql" and method == "POST":
            return 200, self._wiql((request.body or {}).get("query", ""))
        if rest == "/workitems" and method == "GET":
            return 200, self._batch(query)
        if rest == "/workitemsbatch" and method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            ids = body.get("ids") if isinstance(body.get("ids"), list) else []
            fields = body.get("fields")
            batch = {
                "ids": ",".join(str(i) for i in ids),
                "errorPolicy": str(body.get("errorPolicy") or "fail"),
            }
            if isinstance(fields, list) and fields:
                batch["fields"] = ",".join(fields)
            return 200, self._batch(batch)
        kind = re.fullmatch(r"/workitems/\$(.+)", rest)
        if kind and method == "POST":
            self._patch_document(request)
            return 200, self._create(kind.group(1), request.body)
        one = re.fullmatch(r"/workitems/(\d+)", rest)
        if one:
            item = self.items.get(int(one.group(1)))
            if item is None:
                raise Refusal(
                    404,
                    self._error(
                        404,
                        f"TF401232: Work item {one.group(1)} {NO_ITEM}",
                        "WorkItemUnauthorizedAccessException",
                    ),
                )
            if method == "GET":
                return 200, self._view(item)
            if method == "PATCH":
                self._patch_document(request)
                return 200, self._update(item, request.body)
            if method == "DELETE":
                self.recycle_bin[item["id"]] = self.items.pop(item["id"])
                return 200, {"id": item["id"], "type": item["fields"]["System.WorkItemType"], "code": 200}
        raise Refusal(
            405, self._error(405, f"The requested resource does not support http method '{method}'.")
        )

    def _patch_document(self, request: Request) -> None:
        if not request.content_type.startswith("application/json-patch+json"):
            raise Refusal(
                415,
                self._error(
                    415,
                    f'The request indicated a Content-Type of "{request.content_type}" for method type '
                    f'"{request.method}" which is not supported. Valid content types for this method are: '
                    "application/json-patch+json.",
                    "VssRequestContentTypeNotSupportedException",
                ),
            )
        if not isinstance(request.body, list) or not request.body:
            raise Refusal(
                400, self._error(400, "You must pass a valid patch document in the body of the request.")
            )

    def _item_url(self, item_id: int) -> str:
        return f"{self.organization_url}/{quote(self.project)}/_apis/wit/workItems/{item_id}"

    def _view(self, item: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
        chosen = {k: v for k, v in item["fields"].items() if fields is None or k in fields}
        view: dict[str, Any] = {
            "id": item["id"],
            "rev": item["rev"],
            "fields": chosen,
            "url": self._item_url(item["id"]),
        }
        if fields is None:
            view["relations"] = [dict(r) for r in item["relations"]]
            view["_links"] = {
                "self": {"href": self._item_url(item["id"])},
                "html": {
                    "href": f"{self.organization_url}/{quote(self.project)}/_workitems/edit/{item['id']}"
                },
            }
        return view

    def _new_item(self, kind: str, fields: dict[str, Any], item_id: int | None = None) -> dict[str, Any]:
        if item_id is None:
            item_id, self._next_id = self._next_id, self._next_id + 1
        item: dict[str, Any] = {
            "id": item_id,
            "rev": 1,
            "fields": {
                "System.AreaPath": self.project,
                "System.TeamProject": self.project,
                "System.IterationPath": self.project,
                "System.WorkItemType": kind,
                "System.State": "Design" if kind == "Test Case" else "New",
                "System.Reason": "New",
                "System.CreatedDate": self._changed(),
                "System.ChangedDate": self._changed(),
                **fields,
            },
            "relations": [],
        }
        if "System.Tags" in item["fields"]:
            item["fields"]["System.Tags"] = "; ".join(
                sorted(_tags(item["fields"]["System.Tags"]), key=str.lower)
            )
        return item

    def _changed(self) -> str:
        return self._stamp().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _bump(self, item: dict[str, Any]) -> None:
        item["rev"] += 1
        item["fields"]["System.ChangedDate"] = self._changed()

    def _apply(self, item: dict[str, Any], ops: list[Any]) -> None:
        fields, relations = dict(item["fields"]), list(item["relations"])
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove", "test"):
                raise Refusal(400, self._error(400, f"Operation {op!r} is not supported."))
            path = str(op.get("path") or "")
            if path.startswith("/fields/"):
                name = path.removeprefix("/fields/")
                if op["op"] == "remove":
                    fields.pop(name, None)
                elif op["op"] == "test":
                    if fields.get(name) != op.get("value"):
                        raise Refusal(
                            412, self._error(412, f"TF401289: The current value of {name} does not match.")
                        )
                else:
                    fields[name] = op.get("value")
            elif path == "/relations/-" and op["op"] == "add":
                relations.append(self._relation(op.get("value") or {}))
            else:
                raise Refusal(
                    400, self._error(400, f"The path {path!r} is not valid for the operation {op['op']!r}.")
                )
        self._check(fields)
        if "System.Tags" in fields:
            fields["System.Tags"] = "; ".join(sorted(_tags(fields["System.Tags"]), key=str.lower))
        item["fields"], item["relations"] = fields, relations

    def _relation(self, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("rel") not in RELATIONS:
            raise Refusal(400, self._error(400, f"Relation type {value.get('rel')!r} is not known."))
        target = re.search(r"/_apis/wit/workItems/(\d+)$", str(value.get("url") or ""), re.IGNORECASE)
        if target is None or int(target.group(1)) not in self.items:
            raise Refusal(
                400, self._error(400, f"TF201035: The work item at {value.get('url')} does not exist.")
            )
        return {
            "rel": value["rel"],
            "url": self._item_url(int(target.group(1))),
            "attributes": {"isLocked": False},
        }

    def _check(self, fields: dict[str, Any]) -> None:
        title = str(fields.get("System.Title") or "")
        if not title.strip():
            raise Refusal(
                400,
                self._error(400, "TF401320: Rule Error for field Title. Error code: Required, InvalidEmpty."),
            )
        if len(title) > 255:
            raise Refusal(
                400, self._error(400, "TF401320: Rule Error for field Title. Error code: MaxLength.")
            )
        if title in self.refused:
            raise Refusal(400, self._error(400, self.refused[title]))
        priority = fields.get("Microsoft.VSTS.Common.Priority")
        if priority is not None and priority not in (1, 2, 3, 4):
            raise Refusal(
                400,
                self._error(
                    400,
                    "TF401326: Invalid field status 'InvalidListValue' for field "
                    f"'Microsoft.VSTS.Common.Priority' ({priority}).",
                ),
            )
        steps = fields.get("Microsoft.VSTS.TCM.Steps")
        if steps:
            try:
                ElementTree.fromstring(steps)
            except ElementTree.ParseError as bad:
                raise Refusal(400, self._error(400, f"The steps are not valid XML: {bad}")) from bad

    def _create(self, kind: str, ops: list[Any]) -> dict[str, Any]:
        if kind not in ("Test Case", "Bug", "User Story"):
            raise Refusal(
                404,
                self._error(
                    404, f"TF51535: Cannot find work item type {kind!r}.", "WorkItemTypeNotFoundException"
                ),
            )
        item = self._new_item(kind, {})
        self._apply(item, ops)
        self.items[item["id"]] = item
        return self._view(item)

    def _update(self, item: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
        self._apply(item, ops)
        self._bump(item)
        return self._view(item)

    def _batch(self, query: dict[str, str]) -> dict[str, Any]:
        ids = [int(i) for i in query.get("ids", "").split(",") if i.strip()]
        if not ids or len(ids) > 200:
            raise Refusal(400, self._error(400, "VS403474: between 1 and 200 ids may be asked at once."))
        missing = [i for i in ids if i not in self.items]
        if missing and query.get("errorPolicy", "fail").lower() != "omit":
            raise Refusal(
                404,
                self._error(
                    404,
                    f"TF401232: Work item {missing[0]} {NO_ITEM}",
                ),
            )
        fields = query["fields"].split(",") if query.get("fields") else None
        value = [self._view(self.items[i], fields) if i in self.items else None for i in ids]
        return {"count": len(value), "value": value}

    def _wiql(self, query: str) -> dict[str, Any]:
        if not re.match(r"\s*SELECT\s+\[System\.Id\]\s+FROM\s+WorkItems\b", query, re.IGNORECASE):
            raise Refusal(
                400,
                self._error(
                    400, "TF51005: The query references a field that does not exist.", "SyntaxException"
                ),
            )
        kind = re.search(r"\[System\.WorkItemType\]\s*=\s*'([^']*)'", query)
        contains = re.search(r"\[System\.Tags\]\s+CONTAINS\s+'([^']*)'", query, re.IGNORECASE)
        chosen = sorted(
            i
            for i, item in self.items.items()
            if (kind is None or item["fields"]["System.WorkItemType"] == kind.group(1))
            and (
                contains is None
                or contains.group(1).lower() in str(item["fields"].get("System.Tags") or "").lower()
            )
        )
        return {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": "2026-03-02T09:00:00Z",
            "columns": [{"referenceName": "System.Id", "name": "ID"}],
            "workItems": [{"id": i, "url": self._item_url(i)} for i in chosen],
        }


def _tags(value: Any) -> list[str]:
    return [t.strip() for t in str(value or "").split(";") if t.strip()]
