"""Offset pagination for flask-smorest's ``@blp.paginate()``.

The page and page size come from the query (``page``, ``page_size``); the total
goes into the ``X-Pagination`` header that flask-smorest writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def paginate(session: Session, stmt: Select[Any], pagination_parameters: Any) -> list[Any]:
    """One page of ``stmt``'s rows; records the total for the header."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = total or 0
    page = stmt.offset(pagination_parameters.first_item).limit(pagination_parameters.page_size)
    return list(session.scalars(page))
