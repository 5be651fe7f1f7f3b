"""Who is calling, and what of the organisation tree they may see.

A :class:`Principal` is built per request from the user row (:func:`api.auth.principal_for`),
so a transfer, a new role or a deactivation takes effect on the next request, not at token
expiry. Scopes are materialised paths (``/1/5/23/``): "inside" is a prefix test.

=================  ===============================  =========================================
role               personal data (positions…)       organisations, sites, meetings
=================  ===============================  =========================================
member             their own member only            their own organisation (read only)
branch_admin       members of their subtree          their subtree (read and write)
committee_admin    members of their subtree,         their subtree, or the whole tree when the
                   or of the whole tree              user has no organisation
=================  ===============================  =========================================

>>> admin = Principal(1, "li", Role.BRANCH_ADMIN, org_id=5, org_path="/1/5/", member_id=None)
>>> admin.can_see_org("/1/5/23/"), admin.can_see_org("/1/6/")
(True, False)
>>> member = Principal(2, "wang", Role.MEMBER, org_id=23, org_path="/1/5/23/", member_id=7)
>>> member.can_see_member(7, "/1/5/23/"), member.can_see_member(8, "/1/5/23/")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from store.models import Role

ADMIN_ROLES = (Role.BRANCH_ADMIN, Role.COMMITTEE_ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user with their scope.

    ``org_id``/``org_path``: for admins the root of their subtree (both None for a committee
    admin over the whole tree); for a member their own organisation.
    """

    user_id: int
    username: str
    role: Role
    org_id: int | None
    org_path: str | None
    member_id: int | None

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def whole_tree(self) -> bool:
        """An admin with no scope root sees every organisation, roots included."""
        return self.is_admin and self.org_path is None

    @property
    def scope_org_id(self) -> int | None:
        """The organisation to filter lists by (None: no filter, the whole tree)."""
        return self.org_id

    def can_see_org(self, org_path: str) -> bool:
        """May read an organisation's own data (its record, sites, meetings)."""
        if self.role is Role.MEMBER:
            return org_path == self.org_path
        return self.can_admin_org(org_path)

    def can_admin_org(self, org_path: str) -> bool:
        """May change an organisation and see its members' personal data."""
        if not self.is_admin:
            return False
        return self.org_path is None or org_path.startswith(self.org_path)

    def can_see_member(self, member_id: int, org_path: str) -> bool:
        """May read a member's personal data: where they are, were, and attended."""
        if self.role is Role.MEMBER:
            return member_id == self.member_id
        return self.can_admin_org(org_path)
