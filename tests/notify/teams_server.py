"""A local stand-in for a Microsoft Teams Workflows webhook (a real HTTP server; not
Microsoft's).

The workflow "When a Teams webhook request is received" → "Post card in a chat or channel"
takes ``POST`` of ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", ...}}]}`` and
answers 202 Accepted. As documented: Adaptive Cards only (another attachment type is
refused with 400), no ``Action.Submit`` (400), about 28 KB per message (413 above), and a
workflow URL that does not exist (deleted, turned off) answers 404. Posted cards are kept
in ``cards``.
"""

from __future__ import annotations

import json

from tests.notify.stand_in import Answer, Request, StandIn

CARD = "application/vnd.microsoft.card.adaptive"
MAX_BYTES = 28 * 1024


class FakeTeams(StandIn):
    def __init__(self):
        self.flows = {"/workflows/ledger-oncall"}
        self.cards: list[dict] = []
        super().__init__()

    def flow_url(self, name: str = "ledger-oncall") -> str:
        return f"{self.url}/workflows/{name}"

    def answer(self, request: Request) -> Answer:
        if request.method != "POST" or request.path not in self.flows:
            return Answer(404, {"error": {"code": "WorkflowNotFound"}})
        if len(request.body) > MAX_BYTES:
            return Answer(413, {"error": {"code": "MessageTooLarge"}})
        try:
            message = json.loads(request.body)
            attachments = message["attachments"]
        except (ValueError, KeyError, TypeError):
            return Answer(400, {"error": {"code": "InvalidRequestContent"}})
        cards = [a.get("content") or {} for a in attachments if a.get("contentType") == CARD]
        if message.get("type") != "message" or not cards or len(cards) != len(attachments):
            return Answer(400, {"error": {"code": "InvalidRequestContent"}})
        for card in cards:
            actions = card.get("actions") or []
            if card.get("type") != "AdaptiveCard" or not card.get("version"):
                return Answer(400, {"error": {"code": "InvalidAdaptiveCard"}})
            if any(a.get("type") == "Action.Submit" for a in actions):
                return Answer(400, {"error": {"code": "ActionNotSupported"}})
        self.cards.extend(cards)
        return Answer(202)
