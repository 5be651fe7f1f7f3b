"""The member's page (``/m/``): a phone-first web app for party members themselves.

After logging in a member sees their meetings to come with a 请假 (leave) button, the meeting
going on with a 签到 (check-in) button that sends the phone's position while it checks in, what
their check-ins and attendance were, and whether this phone is bound to them. Opening a
meeting's QR code with the phone's camera lands here and checks the member in (after a login
if needed). The page installs as an app (manifest, icons, a service worker keeping its shell
offline) and queues a check-in made without a connection, sending it later with its own time.

Its words come in Chinese and English like the dashboard's; the script reads them from the
page.

>>> html = member_html("en")
>>> "<html lang=\\"en\\">" in html and "manifest.webmanifest" in html
True
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static" / "member"
FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "member.css": "text/css; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
}

WORDS = {
    "zh-CN": {
        "title": "党员签到",
        "login": "登录",
        "username": "用户名",
        "password": "密码",
        "logout": "退出",
        "members_only": "此页面供党员使用：请用党员账号登录。",
        "phone_bound": "本机已绑定",
        "phone_pending": "新手机待书记审批：审批前不能签到",
        "phone_retired": "本机已被新手机取代",
        "now": "正在进行",
        "no_meeting_now": "现在没有进行中的会议",
        "checkin": "签到",
        "checking_in": "正在获取位置…",
        "checked_in": "已签到",
        "privacy": "只在签到时读取位置，不在后台跟踪。",
        "scan_hint": "会议室签到：用相机扫描会场屏幕上的二维码。",
        "coming": "即将召开",
        "none": "暂无",
        "leave": "请假",
        "leave_reason": "请假事由",
        "leave_sent": "请假申请已提交，等待书记审批",
        "checkins": "我的签到",
        "history": "出勤记录",
        "queued": "无网络：签到已保存，联网后自动发送（保留原签到时间）",
        "sent_queued": "离线签到已发送",
        "qr_done": "扫码签到成功",
        "failed": "签到未成功",
        "no_geolocation": "此浏览器不能提供位置",
        "geo_denied": "未获得位置权限",
        "offline": "离线",
        "evidence_phone": "手机定位",
        "evidence_qr": "扫码",
        "evidence_beidou": "北斗核验",
        "evidence_gnss": "卫星定位",
        "evidence_terminal": "北斗终端",
        "evidence_manual": "人工补签",
        "status_present": "按时出席",
        "status_late": "迟到",
        "status_left_early": "早退",
        "status_absent": "缺席",
        "status_excused": "请假",
        "status_pending": "未到",
        "leave_requested": "请假待审批",
        "leave_approved": "请假已批准",
        "leave_refused": "请假未批准",
        "leave_withdrawn": "请假已撤回",
        "kind_BRANCH_GENERAL_MEETING": "支部党员大会",
        "kind_BRANCH_COMMITTEE_MEETING": "支委会",
        "kind_GROUP_MEETING": "党小组会",
        "kind_PARTY_LECTURE": "党课",
        "kind_THEMED_PARTY_DAY": "主题党日",
        "install": "添加到主屏幕",
    },
    "en": {
        "title": "Member check-in",
        "login": "Log in",
        "username": "Username",
        "password": "Password",
        "logout": "Log out",
        "members_only": "This page is for party members: log in with a member's account.",
        "phone_bound": "This phone is bound to you",
        "phone_pending": "New phone awaiting your secretary's approval: no check-in until then",
        "phone_retired": "This phone was replaced by a newer one",
        "now": "In progress",
        "no_meeting_now": "No meeting is in progress",
        "checkin": "Check in",
        "checking_in": "Getting the position…",
        "checked_in": "Checked in",
        "privacy": "The position is read only while checking in; no background tracking.",
        "scan_hint": "In a meeting room: scan the QR code on the meeting's screen.",
        "coming": "Coming meetings",
        "none": "None",
        "leave": "Ask for leave",
        "leave_reason": "Reason for leave",
        "leave_sent": "Leave requested: awaiting the secretary",
        "checkins": "My check-ins",
        "history": "Attendance",
        "queued": "Offline: check-in saved, sent with its own time once online",
        "sent_queued": "Offline check-in sent",
        "qr_done": "Checked in with the meeting's code",
        "failed": "Check-in failed",
        "no_geolocation": "This browser gives no position",
        "geo_denied": "No permission to read the position",
        "offline": "Offline",
        "evidence_phone": "Phone location",
        "evidence_qr": "QR code",
        "evidence_beidou": "BeiDou-verified",
        "evidence_gnss": "GNSS",
        "evidence_terminal": "BeiDou terminal",
        "evidence_manual": "Manual correction",
        "status_present": "Present",
        "status_late": "Late",
        "status_left_early": "Left early",
        "status_absent": "Absent",
        "status_excused": "Excused",
        "status_pending": "Not yet arrived",
        "leave_requested": "Leave awaiting approval",
        "leave_approved": "Leave approved",
        "leave_refused": "Leave refused",
        "leave_withdrawn": "Leave withdrawn",
        "kind_BRANCH_GENERAL_MEETING": "Branch general meeting",
        "kind_BRANCH_COMMITTEE_MEETING": "Branch committee meeting",
        "kind_GROUP_MEETING": "Party group meeting",
        "kind_PARTY_LECTURE": "Party lecture",
        "kind_THEMED_PARTY_DAY": "Themed party day",
        "install": "Add to home screen",
    },
}


@cache
def _version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def member_file(name: str) -> tuple[Path, str] | None:
    """One of the page's files and its media type, or None."""
    if name not in FILES:
        return None
    return STATIC / name, FILES[name]


def manifest(language: str) -> dict[str, object]:
    """The web app manifest: the page installs as an app of its own."""
    words = WORDS.get(language, WORDS["zh-CN"])
    return {
        "name": f"partymap {words['title']}",
        "short_name": words["title"],
        "lang": language,
        "start_url": "/m/",
        "scope": "/m/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#c8102e",
        "icons": [
            {"src": "/m/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/m/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/m/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }


def member_html(language: str, api: str = "/api/v1") -> str:
    """The page's one HTML document (its script draws the rest)."""
    lang = language if language in WORDS else "zh-CN"
    words = WORDS[lang]
    config = json.dumps({"api": api, "lang": lang, "words": words}, ensure_ascii=False)
    config = config.replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#c8102e">
<title>{words["title"]} · partymap</title>
<link rel="manifest" href="/m/manifest.webmanifest?lang={lang}">
<link rel="icon" href="/m/icon-192.png">
<link rel="apple-touch-icon" href="/m/icon-192.png">
<link rel="stylesheet" href="/m/member.css?v={_version("member.css")}">
</head>
<body>
<header class="pm-top"><h1>{words["title"]}</h1><span id="pm-net"></span>
<button id="pm-logout" type="button" hidden>{words["logout"]}</button></header>
<main id="pm-main" aria-live="polite"></main>
<div id="pm-toast" role="status" hidden></div>
<script>window.PARTYMAP_MEMBER = {config};</script>
<script src="/m/app.js?v={_version("app.js")}"></script>
</body>
</html>
"""
