"""The dashboard's words in English and Chinese. A page is in its account's language, else
Chinese where the market trades in yuan, else English (handlers.settings.default_lang)."""

from __future__ import annotations

from bot.web.words import listings, users

LANGS = ("en", "zh")

CORE: dict[str, tuple[str, str]] = {
    # frame
    "farmchat": ("farmchat", "farmchat 农产品集市"),
    "overview": ("Overview", "概览"),
    "prices": ("Prices", "价格"),
    "listings": ("Listings", "供货"),
    "orders": ("Orders", "订单"),
    "broadcasts": ("Broadcasts", "群发"),
    "users": ("Users", "用户"),
    "conversations": ("Conversations", "对话"),
    "simulator": ("Simulator", "模拟器"),
    "audit": ("Audit log", "操作记录"),
    "accounts": ("Accounts", "账号"),
    "logout": ("Log out", "退出"),
    "language": ("Language", "语言"),
    "signed_in_as": ("Signed in as {name} ({role})", "当前账号：{name}（{role}）"),
    "role_admin": ("admin", "管理员"),
    "role_coordinator": ("coordinator", "协调员"),
    "next_page": ("Older →", "更早 →"),
    "first_page": ("← Newest", "← 最新"),
    "none_yet": ("Nothing yet.", "暂无记录。"),
    "search": ("Search", "搜索"),
    "filter": ("Filter", "筛选"),
    "all": ("all", "全部"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "when": ("When", "时间"),
    "forbidden": ("Only an admin may do that.", "只有管理员可以这样做。"),
    "bad_form": ("The form had a mistake: {what}", "表单有误：{what}"),
    "not_found": ("Not found.", "没有找到。"),
    # login
    "login_title": ("Sign in", "登录"),
    "name": ("Name", "账号"),
    "password": ("Password", "密码"),
    "sign_in": ("Sign in", "登录"),
    "login_wrong": ("Wrong name or password.", "账号或密码不对。"),
    "login_throttled": (
        "Too many wrong passwords. Try again in {minutes} minutes.",
        "密码错误次数太多，请{minutes}分钟后再试。",
    ),
    "logged_out": ("You are logged out.", "已退出。"),
    "session_ended": ("Your session ended; please sign in again.", "登录已过期，请重新登录。"),
    # overview
    "today": ("Today", "今天"),
    "messages_in": ("Messages in", "收到消息"),
    "messages_out": ("Messages out", "发出消息"),
    "channel": ("Channel", "渠道"),
    "new_listings": ("New listings", "新供货"),
    "orders_today": ("Orders today", "今日订单"),
    "running_broadcasts": ("Broadcasts running", "正在群发"),
    "top_products": ("Top products (7 days)", "热门产品（7天）"),
    "activity_30": ("Activity, last 30 days", "近30天活动"),
    "in": ("in", "收"),
    "out": ("out", "发"),
    # prices
    "price_board": ("Price board", "价格表"),
    "product": ("Product", "产品"),
    "market": ("Market", "市场"),
    "all_markets": ("all markets", "所有市场"),
    "coordinator_price": ("Coordinator price", "发布价"),
    "asking_7d": ("Asking, 7 days", "7天报价"),
    "median": ("median", "中位数"),
    "change_week": ("Change on the week before", "比上周"),
    "listings_n": ("{n} listings", "{n}条供货"),
    "history_90": ("{product}: 90 days", "{product}：近90天"),
    "asking_median": ("asking median", "报价中位数"),
    "asking_range": ("asking range", "报价区间"),
    "no_history": ("No prices in the last 90 days.", "近90天没有价格。"),
    "publish_price": ("Publish a price", "发布价格"),
    "price": ("Price", "价格"),
    "currency": ("Currency", "货币"),
    "unit": ("Unit", "单位"),
    "place": ("Place", "地点"),
    "preview": ("Preview", "预览"),
    "published_on": ("published", "发布于"),
    "history": ("History", "历史"),
    # broadcasts
    "compose": ("Compose a broadcast", "写群发消息"),
    "kind": ("Kind", "类型"),
    "kind_price": ("price", "价格"),
    "kind_announcement": ("announcement", "通知"),
    "kind_digest": ("daily digest", "每日汇总"),
    "text_all": ("Text for everyone", "通用文字"),
    "text_en": ("Text for English readers (optional)", "英文读者的文字（可不填）"),
    "text_zh": ("Text for Chinese readers (optional)", "中文读者的文字（可不填）"),
    "audience": ("Audience", "发送对象"),
    "audience_subscribers": ("subscribers only", "只发订阅者"),
    "audience_everyone": ("everyone not opted out", "所有未退订的用户"),
    "any": ("any", "不限"),
    "send_at": ("Send at (local time, empty: now)", "发送时间（当地时间，空=立即）"),
    "send_now": ("Send now", "立即发送"),
    "schedule": ("Schedule", "定时发送"),
    "confirm_send": ("Confirm and send", "确认发送"),
    "confirm_schedule": ("Confirm: send at {when}", "确认：{when}发送"),
    "discard": ("Discard", "放弃"),
    "discarded": ("Draft discarded; nothing was sent.", "草稿已放弃，没有发送。"),
    "preview_title": ("Check before sending", "发送前请确认"),
    "audience_size": ("Recipients", "收件人数"),
    "by_channel": ("By channel", "按渠道"),
    "segments": ("SMS segments per message", "每条短信段数"),
    "cost": ("Estimated cost", "预计费用"),
    "will_publish": (
        "On confirmation the price is published: price answers show it at once.",
        "确认后价格立即发布，价格查询马上能看到。",
    ),
    "nobody": (
        "Nobody would receive this. A price is still published.",
        "没有人会收到这条消息。价格仍会发布。",
    ),
    "nobody_text": ("Nobody would receive this.", "没有人会收到这条消息。"),
    "broadcast_n": ("Broadcast {id}", "群发 {id}"),
    "status": ("Status", "状态"),
    "recipients": ("Recipients", "收件人"),
    "progress": ("Progress", "进度"),
    "cancel_broadcast": ("Cancel broadcast", "取消群发"),
    "cancelled_ok": ("Broadcast {id} cancelled.", "群发 {id} 已取消。"),
    "cannot_cancel": (
        "Broadcast {id} has begun sending and runs to its end.",
        "群发 {id} 已开始发送，无法取消。",
    ),
    "queued_ok": ("Broadcast {id} is queued.", "群发 {id} 已排队发送。"),
    "scheduled_ok": ("Broadcast {id} is scheduled for {when}.", "群发 {id} 定于{when}发送。"),
    "published_ok": ("Price published.", "价格已发布。"),
    "st_draft": ("draft", "草稿"),
    "st_scheduled": ("scheduled", "定时"),
    "st_queued": ("queued", "排队"),
    "st_sending": ("sending", "发送中"),
    "st_done": ("done", "完成"),
    "st_cancelled": ("cancelled", "已取消"),
    "st_pending": ("pending", "待发"),
    "st_sent": ("sent", "已发"),
    "st_failed": ("failed", "失败"),
    "st_skipped": ("skipped", "跳过"),
    "summary": ("Summary", "结果"),
    "created": ("Created", "创建"),
    "texts": ("Texts", "文字"),
    # conversations and hand-off
    "conv_search": ("Number, OpenID or name", "号码、OpenID或姓名"),
    "conv_user": ("User", "用户"),
    "conv_last": ("Last message", "最后一条消息"),
    "conv_handed": ("{name} is answering", "{name}正在人工回复"),
    "conv_until": ("until {when} unless handed back", "到{when}为止，除非提前交回"),
    "conv_bot_answers": ("The assistant answers this user.", "自动助手正在回复此用户。"),
    "conv_take": ("Take over", "转人工"),
    "conv_hand_back": ("Hand back to the assistant", "交回自动助手"),
    "conv_answer_label": ("Answer as a person", "人工回复"),
    "conv_send": ("Send", "发送"),
    "conv_text": ("the answer", "回复内容"),
    "conv_answer_note": (
        "Sending takes the conversation over: the assistant stays quiet for this user and "
        "they are told a person is answering.",
        "发送后即转为人工：自动助手不再回复此用户，并告知用户由工作人员解答。",
    ),
    "conv_outside_window": (
        "This WeChat user last wrote more than 48 hours ago and no template message is set "
        "up: WeChat will refuse an answer until they write again.",
        "该微信用户超过48小时未发消息，且未配置模板消息：在其再次发消息前，微信会拒绝回复。",
    ),
    "conv_bot": ("assistant", "自动助手"),
    "conv_kind_notification": ("notice", "通知"),
    "conv_kind_relay": ("relayed", "转发"),
    "conv_kind_broadcast": ("broadcast", "群发"),
    "conv_kind_handoff": ("a person", "人工"),
    "conv_kind_reply": ("late reply", "延迟回复"),
    # simulator
    "sim_apart": (
        "A world of its own: a separate database with sample farmers and listings. Nothing "
        "here reaches a real user, and real users never appear here.",
        "独立的模拟环境：单独的数据库，内有示例农户和供货。这里的操作不会发给真实用户，也看不到真实用户。",
    ),
    "sim_as": ("Write as (number or OpenID)", "模拟用户（号码或OpenID）"),
    "sim_switch": ("Switch", "切换"),
    "sim_message": ("Message", "消息"),
    "sim_text": ("the message", "消息内容"),
    "sim_reset": ("Reset the simulator", "重置模拟环境"),
    "sim_start": (
        "Write something, e.g. 'buy 20 kg apples' or '苹果多少钱'.",
        "写点什么，例如“买20斤苹果”或“苹果多少钱”。",
    ),
    "sim_pushes": ("Pushed to users (not sent)", "推送给用户的消息（未实际发送）"),
    # audit
    "actor": ("Who", "操作人"),
    "action": ("What", "操作"),
    "subject": ("On", "对象"),
    "detail": ("Detail", "详情"),
}


STRINGS = {**CORE, **listings.WORDS, **users.WORDS}


def t(key: str, lang: str, **values: object) -> str:
    """The words for key in lang, with values filled in; the key itself when unknown."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "zh" else pair[0]
    return text.format(**values) if values else text
