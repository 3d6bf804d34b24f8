"""``{% grid_others grid.others team_query %}``: the health grid's list of the other teams,
built in ``web/grid_html.py`` (a catalog of a hundred teams lists most of them)."""

from collections.abc import Sequence

from django import template
from django.utils.safestring import SafeString

from batchwatch.web.grid import GridTeam
from batchwatch.web.grid_html import others_html

register = template.Library()


@register.simple_tag
def grid_others(groups: Sequence[GridTeam], team_query: str) -> SafeString:
    return others_html(groups, team_query)
