"""The demo organisation: a party committee of a (fictional) railway builder, its general
branches, branches and party groups, their offices and worksites in China and two overseas
projects, members with BeiDou devices, and a branch general meeting.

Most devices are NMEA receivers; the shield worksite's members wear JT/T 808 helmets
(:data:`HELMETS`): devices with protocol ``jt808``, their phone numbers as uids and their
authentication codes issued at seeding, which ``partymap demo`` plays over the daemon's
JT/T 808 port (:mod:`partymap.demo.terminals`).

``partymap demo`` seeds it into a fresh database; the recorded logs in ``fixtures/demo`` were
made from the same members walking between these sites (``fixtures/demo/generate.py``), one
log per device named by the device's uid. Geometry is WGS 84, built in metres around a centre.

>>> [o.name for o in ORGS][:2]
['华建一公司党委', '机关党总支']
>>> len({m.device for m in MEMBERS}) == len(MEMBERS)
True
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.coords import LocalFrame
from geo.model import MeetingKind, SiteKind, SiteParams
from store import devices, meetings, members, orgs, sites, users
from store.models import OrgKind, Role

COMMITTEE_CODE = "demo-committee"


@dataclass(frozen=True, slots=True)
class DemoOrg:
    key: str
    name: str
    kind: OrgKind
    parent: str | None


@dataclass(frozen=True, slots=True)
class DemoSite:
    key: str
    org: str
    name: str
    kind: SiteKind
    tz: str
    centre: tuple[float, float]  # lon, lat
    # (width, height) metres of a rectangle, a list of (east, north) metre corners, or a radius.
    size: tuple[float, float] | list[tuple[float, float]] | float
    params: SiteParams = field(default_factory=SiteParams)

    def geometry(self) -> tuple[BaseGeometry, float | None]:
        """The site's shape and, for a circle, its radius in metres."""
        lon, lat = self.centre
        if isinstance(self.size, float):
            return Point(lon, lat), self.size
        frame = LocalFrame.at(lon=lon, lat=lat)
        if isinstance(self.size, tuple):
            w, h = self.size
            corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
        else:
            corners = self.size
        return Polygon([frame.to_lonlat(x, y) for x, y in corners]), None


@dataclass(frozen=True, slots=True)
class DemoMember:
    name: str
    org: str
    device: str  # the uid the device registers with; also its log's file name
    receiver: str  # a devkit.simulate family, or HELMET: a JT/T 808 terminal

    @property
    def helmet(self) -> bool:
        return self.receiver == HELMET


C, G, B, P = OrgKind.PARTY_COMMITTEE, OrgKind.GENERAL_BRANCH, OrgKind.BRANCH, OrgKind.PARTY_GROUP
ORGS = (
    DemoOrg("committee", "华建一公司党委", C, None),
    DemoOrg("hq", "机关党总支", G, "committee"),
    DemoOrg("hq1", "机关第一党支部", B, "hq"),
    DemoOrg("hq2", "机关第二党支部", B, "hq"),
    DemoOrg("metro", "武汉地铁12号线项目党总支", G, "committee"),
    DemoOrg("shield", "盾构工区党支部", B, "metro"),
    DemoOrg("shift1", "盾构一班党小组", P, "shield"),
    DemoOrg("shift2", "盾构二班党小组", P, "shield"),
    DemoOrg("rebar", "钢筋加工场党支部", B, "metro"),
    DemoOrg("yunnan", "玉磨铁路项目部党支部", B, "committee"),
    DemoOrg("beijing", "北京分公司党支部", B, "committee"),
    DemoOrg("kenya", "肯尼亚内罗毕项目部党支部", B, "committee"),
    DemoOrg("indonesia", "印尼雅加达高铁项目部党支部", B, "committee"),
)

SH = "Asia/Shanghai"
L_SHAPE: list[tuple[float, float]] = [
    (-150, -100), (150, -100), (150, -20), (-40, -20), (-40, 100), (-150, 100)
]  # fmt: skip
SITES = (
    DemoSite("office", "hq", "公司机关办公楼", SiteKind.OFFICE, SH, (114.2655, 30.6190),
             (120.0, 80.0)),
    # Meetings are short: members in the room count as there after one minute.
    DemoSite("room", "hq1", "机关党员活动室", SiteKind.MEETING_ROOM, SH, (114.2670, 30.6196),
             20.0, SiteParams(dwell_s=60.0)),
    DemoSite("shield", "shield", "汉阳盾构始发井", SiteKind.PROJECT_WORKSITE, SH,
             (114.2410, 30.5540), (300.0, 200.0)),
    DemoSite("rebar", "rebar", "钢筋加工场", SiteKind.PROJECT_WORKSITE, SH, (114.2520, 30.5605),
             L_SHAPE),
    DemoSite("tunnel", "yunnan", "玉溪隧道进口工区", SiteKind.PROJECT_WORKSITE, SH,
             (102.5435, 24.3520), (300.0, 200.0), SiteParams(max_gap_s=900.0)),
    DemoSite("beijing", "beijing", "北京分公司党群活动中心", SiteKind.OFFICE, SH,
             (116.2870, 39.8585), 40.0),
    DemoSite("nairobi", "kenya", "内罗毕项目营地", SiteKind.CAMP, "Africa/Nairobi",
             (36.8250, -1.3200), L_SHAPE),
    DemoSite("jakarta", "indonesia", "雅加达高铁项目部", SiteKind.PROJECT_WORKSITE,
             "Asia/Jakarta", (106.8650, -6.2297), (160.0, 110.0)),
)  # fmt: skip


HELMET = "jt808-helmet"
# The shield worksite's members wear BeiDou helmets (JT/T 808, 2019 headers): the day shift
# on site, the second shift arriving during the live part.
HELMETS = ("胡军", "高峰", "林涛")


def _members() -> tuple[DemoMember, ...]:
    by_org = {
        # A meeting's roll is its organisation's own members: the branch that meets keeps
        # its members itself rather than in party groups.
        "hq1": "张伟 王芳 李娜 刘洋 陈静 杨帆 赵磊 黄敏 周杰 吴婷",
        "hq2": "徐明 孙丽 马超 朱琳",
        "shield": "胡军",
        "shift1": "郭强 何平",
        "shift2": "高峰 林涛",
        "rebar": "罗斌 梁勇 宋佳 郑华",
        "yunnan": "谢刚 韩冰 唐亮 冯雪",
        "beijing": "董洁 萧然 程浩",
        "kenya": "曹阳 袁野 邓辉 许波",
        "indonesia": "傅磊 沈雁 曾凯 彭博",
    }
    receivers = ("bd-only", "casic", "bd-only", "quectel-lc79d", "bd-only", "casic", "ublox-f9p")
    found: list[DemoMember] = []
    for org, names in by_org.items():
        for name in names.split():
            n = len(found)
            if name in HELMETS:  # a terminal's phone number, 20 BCD digits in 2019 headers
                found.append(DemoMember(name, org, f"0000000001390000{n + 1:04d}", HELMET))
            else:
                receiver = receivers[n % len(receivers)]
                found.append(DemoMember(name, org, f"86{n + 1:013d}", receiver))
    return tuple(found)


MEMBERS = _members()


@dataclass(frozen=True, slots=True)
class DemoMeeting:
    org: str
    site: str
    kind: MeetingKind
    title: str
    starts_after: timedelta  # from the start of the live part of the logs
    duration: timedelta
    late_grace: timedelta


MEETING = DemoMeeting(
    org="hq1",
    site="room",
    kind=MeetingKind.BRANCH_GENERAL_MEETING,
    title="支部党员大会：学习党章，交流项目党建",
    starts_after=timedelta(minutes=4),
    duration=timedelta(minutes=60),
    late_grace=timedelta(minutes=1),
)


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str
    role: Role
    org: str | None


@dataclass(frozen=True, slots=True)
class SeededDemo:
    """Ids of everything seeded, by the keys used above (members by name, devices by uid);
    the helmets' authentication codes by uid."""

    orgs: dict[str, int]
    sites: dict[str, int]
    members: dict[str, int]
    devices: dict[str, int]
    meeting_id: int
    logins: tuple[Login, ...]
    codes: dict[str, str] = field(default_factory=dict)


def seed_demo(session: Session, *, live_start: datetime) -> SeededDemo:
    """Create the demo organisation; the meeting starts ``MEETING.starts_after`` after
    ``live_start``. Two logins with fresh random passwords: a committee admin over the whole
    tree (``admin``) and the secretary of the meeting's branch (``branch``). The caller commits.
    """
    org_ids: dict[str, int] = {}
    for o in ORGS:
        org = orgs.create_organisation(
            session,
            name=o.name,
            kind=o.kind,
            parent_id=org_ids[o.parent] if o.parent else None,
            code=COMMITTEE_CODE if o.parent is None else f"demo-{o.key}",
        )
        org_ids[o.key] = org.id
    site_ids = {}
    for s in SITES:
        shape, radius = s.geometry()
        site = sites.create_site(
            session,
            org_id=org_ids[s.org],
            name=s.name,
            geometry=shape,
            radius_m=radius,
            kind=s.kind,
            tz=s.tz,
            params=s.params,
        )
        site_ids[s.key] = site.id
    member_ids, device_ids, codes = {}, {}, {}
    for m in MEMBERS:
        member = members.create_member(
            session, org_id=org_ids[m.org], name=m.name, code=f"demo-{m.device}"
        )
        device = devices.create_device(
            session,
            uid=m.device,
            member_id=member.id,
            name=f"{m.receiver} · {m.name}",
            protocol=devices.JT808 if m.helmet else devices.NMEA,
        )
        member_ids[m.name], device_ids[m.device] = member.id, device.id
        if m.helmet:  # issued out of band, as `partymap import devices --issue-tokens` does
            codes[m.device] = devices.issue_device_token(session, device_id=device.id)
    start = live_start + MEETING.starts_after
    meeting = meetings.create_meeting(
        session,
        org_id=org_ids[MEETING.org],
        site_id=site_ids[MEETING.site],
        kind=MEETING.kind,
        title=MEETING.title,
        start=start,
        end=start + MEETING.duration,
        late_grace=MEETING.late_grace,
    )
    logins = (
        Login("admin", secrets.token_urlsafe(9), Role.COMMITTEE_ADMIN, None),
        Login("branch", secrets.token_urlsafe(9), Role.BRANCH_ADMIN, MEETING.org),
    )
    for login in logins:
        users.create_user(
            session,
            username=login.username,
            password=login.password,
            role=login.role,
            org_id=org_ids[login.org] if login.org else None,
        )
    return SeededDemo(org_ids, site_ids, member_ids, device_ids, meeting.id, logins, codes)
