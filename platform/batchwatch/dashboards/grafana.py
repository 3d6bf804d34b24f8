"""A small Grafana HTTP API client (service-account token), with retries and backoff.

Documented behaviour we rely on: ``POST /api/dashboards/db`` answers 412 with
``status: version-mismatch`` when the dashboard changed since the version we send (with
``overwrite: false``); updates must send ``folderUid`` or the dashboard moves to the root;
``POST /api/folders`` answers 409 when the folder exists.

Requests go through ``core.outbound`` like every request Batchwatch makes: a Grafana on a
private, loopback or link-local address is refused (when the client is made, and again at
connect time after DNS resolution) unless ``BATCHWATCH_OUTBOUND_ALLOW`` lists it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass

import urllib3

from batchwatch.core import outbound


class GrafanaError(Exception):
    def __init__(self, status: int, message: str, body: dict | None = None):
        super().__init__(f"Grafana {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body or {}


@dataclass
class Response:
    status: int
    body: dict | list


RETRYABLE = {429, 502, 503, 504}


class Grafana:
    def __init__(self, url: str, token: str, *, retries: int = 4, backoff: float = 0.5, timeout=10):
        if not url.startswith(("http://", "https://")):
            raise GrafanaError(0, f"the Grafana URL {url!r} is not http(s)")
        try:
            outbound.check_url(url)
        except outbound.OutboundRefused as exc:
            raise GrafanaError(0, f"the Grafana URL is refused: {exc.message}") from None
        self.url = url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.writes = 0
        self.reads = 0

    def _request(self, method: str, path: str, body=None, *, ok=(200,)) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "Batchwatch"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        if method == "GET":
            self.reads += 1
        else:
            self.writes += 1
        attempt = 0
        while True:
            try:
                answer = outbound.request(
                    method, self.url + path, body=data, headers=headers, timeout=self.timeout
                )
            except outbound.OutboundRefused as exc:  # retrying cannot help
                raise GrafanaError(0, f"the Grafana URL is refused: {exc.message}") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise GrafanaError(0, f"cannot reach Grafana at {self.url}: {exc}") from None
            payload = _json(answer.data)
            if 200 <= answer.status < 300 or answer.status in ok:
                return Response(answer.status, payload)
            if answer.status in RETRYABLE and attempt < self.retries:
                attempt += 1
                time.sleep(_wait(answer.headers.get("Retry-After"), self.backoff, attempt))
                continue
            message = payload.get("message", "") if isinstance(payload, dict) else ""
            raise GrafanaError(
                answer.status,
                message or answer.reason or "",
                payload if isinstance(payload, dict) else {},
            )

    # --- dashboards ----------------------------------------------------------------------
    def dashboard(self, uid: str) -> dict | None:
        """``{dashboard, meta}``, or None when there is no such dashboard."""
        answer = self._request(
            "GET", f"/api/dashboards/uid/{urllib.parse.quote(uid)}", ok=(200, 404)
        )
        return answer.body if answer.status == 200 else None

    def save(self, dashboard: dict, *, folder_uid: str, message: str, overwrite: bool) -> dict:
        body = {
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "message": message,
            "overwrite": overwrite,
        }
        return self._request("POST", "/api/dashboards/db", body).body

    def delete(self, uid: str) -> None:
        self._request("DELETE", f"/api/dashboards/uid/{urllib.parse.quote(uid)}", ok=(200, 404))

    def versions(self, uid: str) -> list[dict]:
        body = self._request("GET", f"/api/dashboards/uid/{urllib.parse.quote(uid)}/versions").body
        return body.get("versions", []) if isinstance(body, dict) else body

    def search(self, *, tag: str, limit: int = 1000) -> list[dict]:
        found, page = [], 1
        while True:
            query = urllib.parse.urlencode(
                {"type": "dash-db", "tag": tag, "limit": limit, "page": page}
            )
            batch = self._request("GET", f"/api/search?{query}").body
            found += batch
            if len(batch) < limit:
                return found
            page += 1

    # --- folders -------------------------------------------------------------------------
    def folder_exists(self, uid: str) -> bool:
        answer = self._request("GET", f"/api/folders/{urllib.parse.quote(uid)}", ok=(200, 404))
        return answer.status == 200

    def folder_create(self, uid: str, title: str) -> None:
        self._request("POST", "/api/folders", {"uid": uid, "title": title}, ok=(200, 409))


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}


def _wait(retry_after: str | None, backoff: float, attempt: int) -> float:
    try:
        return min(float(retry_after), 30.0) if retry_after else backoff * 2 ** (attempt - 1)
    except ValueError:
        return backoff * 2 ** (attempt - 1)
