"""Field types every resource uses, and the page envelope of every list.

Bounds are part of the contract: ids fit the databases' 32-bit keys, text has no control
characters and fits its column, numbers are finite. A request outside them is a 422 that
says which field, before any query runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_ID = 2_147_483_647  # INTEGER keys on both databases
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE),
]
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_PRINTABLE),
]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9+() -]+$")]
TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$"),
    Field(examples=["Asia/Shanghai"]),
]
# Numbers and flags in request bodies are strict, as the document says: false is not 0, "3" is
# not 3 (an integer where a number is asked for is fine). Query and path parameters arrive as
# text and are parsed as the document says instead.
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]


def path_id(what: str) -> object:
    """A numeric id in the URL path."""
    return Path(ge=1, le=MAX_ID, description=f"The {what}'s id.")


def query_id(what: str) -> object:
    return Query(ge=1, le=MAX_ID, description=f"Only this {what}.")


OrgFilter = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Only this organisation's subtree (or its members)."),
]
MemberFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this member.")]
SiteFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this site.")]

OrgId = Annotated[int, path_id("organisation")]
MemberId = Annotated[int, path_id("member")]
DeviceId = Annotated[int, path_id("device")]
SiteId = Annotated[int, path_id("site")]
MeetingId = Annotated[int, path_id("meeting")]
UserId = Annotated[int, path_id("user")]


class Out(BaseModel):
    """A response body read from store rows or values."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """A request body: unknown fields are refused, so a typo is a 422 and not ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list; ask again with ``offset=next_offset`` while it is not null."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


def page_of(rows: list[T], *, limit: int, offset: int) -> tuple[list[T], int | None]:
    """Trim rows fetched with ``limit + 1`` to a page, and the next page's offset if any.

    >>> page_of([1, 2, 3], limit=2, offset=10)
    ([1, 2], 12)
    >>> page_of([1, 2], limit=2, offset=10)
    ([1, 2], None)
    """
    if len(rows) > limit:
        return rows[:limit], offset + limit
    return rows, None


@dataclass(frozen=True, slots=True)
class PageParams:
    """``limit``/``offset`` of a list request."""

    limit: int
    offset: int

    def window(self, rows: Sequence[T]) -> list[T]:
        """This page of an in-memory list, and one row more if any follows."""
        return list(rows[self.offset : self.offset + self.limit + 1])


def paged(
    model: type[M],
    rows: Sequence[Any],
    params: PageParams,
    convert: Callable[[Any], M] | None = None,
) -> Page[M]:
    """The page of ``rows`` fetched with ``limit + 1`` (the extra row says another follows),
    each made a ``model`` (by ``convert``, or read from its attributes)."""
    items, next_offset = page_of(list(rows), limit=params.limit, offset=params.offset)
    make = convert or model.model_validate
    return Page[model](  # type: ignore[valid-type]
        items=[make(row) for row in items],
        limit=params.limit,
        offset=params.offset,
        next_offset=next_offset,
    )


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _not_a_number(value: Any) -> Any:
    # pydantic would read "110574.0" as seconds since 1970: a time here is ISO 8601 text.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("a time is ISO 8601 with an offset, not a number")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
"""A time given as ISO 8601 text with an offset (a bare number is refused, not read as Unix
seconds)."""
