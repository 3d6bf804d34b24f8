"""A local Grafana HTTP API test server (a real HTTP server; not Grafana).

Implements what ``dashboards diff|deploy`` use, with Grafana's documented status codes and
version semantics: ``POST /api/dashboards/db`` (create with ``id: null``; update only with
the current ``version`` unless ``overwrite``; ``412 version-mismatch`` / ``name-exists``;
each save is a new version with its message; ``folderUid`` must exist), ``GET`` and
``DELETE /api/dashboards/uid/<uid>``, ``GET .../versions``, ``GET /api/search`` (tag,
type, limit, page), ``GET /api/folders/<uid>``, ``POST /api/folders`` (409 when it exists).
Bearer token required (401 otherwise). Records every request; can fail the next ones.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

from tests.local_server import LocalServer

TOKEN = "glsa_test_service_account_token"


@dataclass
class Stored:
    dashboard: dict
    folder_uid: str
    version: int
    id: int
    versions: list[dict] = field(default_factory=list)


class FakeGrafana(LocalServer):
    def __init__(self):
        self.dashboards: dict[str, Stored] = {}
        self.folders: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: list[int] = []
        self._ids = 0
        self._lock = threading.Lock()
        self._start(_handler(self))

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def ui_edit(self, uid: str, **changes) -> None:
        """Someone saves the dashboard in Grafana's UI: a new version, no message."""
        stored = self.dashboards[uid]
        stored.dashboard.update(changes)
        stored.version += 1
        stored.dashboard["version"] = stored.version
        stored.versions.append({"version": stored.version, "message": "", "createdBy": "admin"})

    # --- the API ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body, authorization: str):
        with self._lock:
            self.requests.append((method, path))
            if self.fail_next:
                return self.fail_next.pop(0), {"message": "injected failure"}
            if authorization != f"Bearer {TOKEN}":
                return 401, {"message": "Unauthorized"}
            if method == "POST" and path == "/api/dashboards/db":
                return self._save(body or {})
            if path.startswith("/api/dashboards/uid/"):
                rest = unquote(path[len("/api/dashboards/uid/") :])
                if rest.endswith("/versions") and method == "GET":
                    stored = self.dashboards.get(rest[: -len("/versions")])
                    if stored is None:
                        return 404, {"message": "Dashboard not found"}
                    return 200, {"continueToken": "", "versions": list(reversed(stored.versions))}
                stored = self.dashboards.get(rest)
                if stored is None:
                    return 404, {"message": "Dashboard not found"}
                if method == "GET":
                    return 200, {
                        "dashboard": copy.deepcopy(stored.dashboard),
                        "meta": {
                            "folderUid": stored.folder_uid,
                            "version": stored.version,
                            "url": f"/d/{rest}",
                            "slug": rest,
                        },
                    }
                if method == "DELETE":
                    del self.dashboards[rest]
                    return 200, {"title": stored.dashboard.get("title"), "message": "deleted"}
            if method == "GET" and path == "/api/search":
                return 200, self._search(query)
            if path == "/api/folders" and method == "POST":
                uid = (body or {}).get("uid", "")
                if uid in self.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                self.folders[uid] = (body or {}).get("title", uid)
                return 200, {"uid": uid, "title": self.folders[uid]}
            if path.startswith("/api/folders/") and method == "GET":
                uid = unquote(path[len("/api/folders/") :])
                if uid not in self.folders:
                    return 404, {"message": "folder not found"}
                return 200, {"uid": uid, "title": self.folders[uid]}
            return 404, {"message": "not found"}

    def _save(self, body: dict):
        dashboard = copy.deepcopy(body.get("dashboard") or {})
        uid, title = dashboard.get("uid", ""), dashboard.get("title", "")
        folder = body.get("folderUid", "")
        if not uid or len(uid) > 40 or not title:
            return 400, {"message": "Dashboard uid and title are required (uid ≤ 40)"}
        if folder and folder not in self.folders:
            return 400, {"message": "folder not found"}
        overwrite = bool(body.get("overwrite"))
        for other_uid, other in self.dashboards.items():
            same_place = other.folder_uid == folder and other.dashboard.get("title") == title
            if other_uid != uid and same_place and not overwrite:
                return 412, {
                    "status": "name-exists",
                    "message": "A dashboard with the same name in the folder already exists",
                }
        stored = self.dashboards.get(uid)
        if stored is not None and not overwrite and dashboard.get("version") != stored.version:
            return 412, {
                "status": "version-mismatch",
                "message": "The dashboard has been changed by someone else",
            }
        if stored is None:
            self._ids += 1
            stored = Stored(dashboard, folder, 0, self._ids)
            self.dashboards[uid] = stored
        stored.version += 1
        dashboard.update({"id": stored.id, "version": stored.version})
        stored.dashboard, stored.folder_uid = dashboard, folder
        stored.versions.append(
            {"version": stored.version, "message": body.get("message", ""), "createdBy": "bw"}
        )
        return 200, {
            "id": stored.id,
            "uid": uid,
            "url": f"/d/{uid}",
            "status": "success",
            "version": stored.version,
            "slug": uid,
        }

    def _search(self, query: dict) -> list[dict]:
        tags = query.get("tag", [])
        hits = [
            {
                "uid": uid,
                "title": s.dashboard.get("title"),
                "tags": s.dashboard.get("tags", []),
                "folderUid": s.folder_uid,
                "type": "dash-db",
            }
            for uid, s in sorted(self.dashboards.items())
            if all(t in s.dashboard.get("tags", []) for t in tags)
        ]
        limit = int((query.get("limit") or ["1000"])[0])
        page = int((query.get("page") or ["1"])[0])
        return hits[(page - 1) * limit : page * limit]


def _handler(fake: FakeGrafana):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = fake.handle(
                self.command,
                parsed.path,
                parse_qs(parsed.query),
                body,
                self.headers.get("Authorization", ""),
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, *args):
            pass

    return Handler
