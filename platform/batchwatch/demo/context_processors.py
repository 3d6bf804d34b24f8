from django.http import HttpRequest

from batchwatch.demo import inbox


def demo(request: HttpRequest) -> dict[str, bool]:
    """``demo_inbox``: show the inbox in the navigation (a process serving the demo; no query,
    the navigation is on every page)."""
    return {"demo_inbox": inbox.is_active()}
