"""Intent cue words: domain synonyms that let the classifier generalize past its examples.

Each cue adds a feature token such as CUE_ALERT to the text the classifier sees, so a word
never seen in training ("notify", "推送") still votes like its known synonyms.
"""

from __future__ import annotations

import re

CUES: dict[str, list[str]] = {
    "YES": """yes yeah yep yup ya yah yas ok okay okey k sure fine correct right agree agreed
        accept accepted confirm confirmed approve approved go-ahead deal done perfect absolutely
        definitely alright good great exactly ndio sawa poa 好 好的 可以 行 中 成 对 是的 嗯 确认
        接受 同意 答应 没问题 就这个 定了 接单 准了 愿意 没毛病 ok了""",
    "NO": """no nope nah not don't dont decline declined reject refuse disagree wrong incorrect
        hapana 不 不要 不行 拒绝 不同意 没有 错 别 不接 拒单 不愿意 不对 算了吧""",
    "CANCEL": """cancel abort quit exit stop never-mind nevermind nvm forget undo scrap drop withdraw
        delete remove take-down call-off start-over back leave-it ignore changed-my-mind
        取消 算了 不用了 删除 删掉 撤 撤掉 撤销 下架 退出 结束 重新 改主意 不卖了 不买了 不弄了""",
    "GREET": """hi hello hey hallo helo yo sup howdy good-morning good-afternoon good-evening
        good-day morning evening habari jambo sasa mambo niaje hujambo 你好 您好 早上好 晚上好
        下午好 嗨 哈喽 哈罗 在吗 吃了吗 好久不见 早 喂""",
    "HELP": """help how menu options commands usage guide info instructions faq support explain
        manual tutorial halp msaada 帮助 帮忙 怎么 如何 怎样 菜单 说明 教程 不会 看不懂 人工
        客服 干嘛 功能 怎么用 指令 ?""",
    "SELL": """sell selling sale sel offer offering have hav got available supply nauza 卖 出售
        出 有货 供应 上架 发布 卖家 处理""",
    "BUY": """buy buying want need looking seeking find purchase request wanted nunua natafuta
        买 收 收购 求购 要 需要 求 订 采购 找 进货""",
    "PRICE": """price prices cost costs how-much rate rates going paying worth bei 价 价格 多少钱
        行情 什么价 几块 价钱 报价 市价""",
    "ALERT": """alert alerts notify notification notifications subscribe subscription sub follow
        updates tell-me text-me send-me let-me-know remind reminder daily every weekly digest sms
        messages 订阅 提醒 通知 推送 告诉我 发给我 发我 关注 每天 每日 定期 短信 消息""",
    "STOPMSG": """stop unsubscribe unsub unfollow no-longer anymore any-more opt-out mute end
        退订 取消订阅 取关 别发 不要发 不想收 不再 关闭 解除 停止 取消关注 别推 别再""",
    "LISTING": """listing listings listed posted post produce stock items goods ads 货 商品 挂单
        在售 上架 发布的""",
    "ORDER": """order orders purchase purchases bought buys deals transactions delivery
        订单 单子 买的 买过 订的 购买""",
    "STATUS": """status happening progress accepted yet 怎么样 了吗 了没 没有 呢 进度 到哪""",
    "UPDATE": """change update only left remaining remain sold-out reduce increase lower raise
        now 改 改成 改为 降 涨 还剩 剩 卖完 更新 调 只剩""",
    "PROFILE": """name called i'm i-am live located based from 叫 名字 我在 住 来自 我是""",
    "BROADCAST": """broadcast announce announcement notice publish all-farmers everyone
        all-users 群发 公告 广播 通告 全体""",
}


def _pattern(words: list[str]) -> re.Pattern:
    """Alternation of words, Latin ones bounded by non-letters, '-' matching any spacing."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        body = r"\s*".join(map(re.escape, word.split("-")))
        parts.append(rf"(?<![a-z']){body}(?![a-z'])" if word.isascii() and word[0].isalpha() else body)
    return re.compile("|".join(parts))


_PATTERNS = {name: _pattern(text.split()) for name, text in CUES.items()}


def cue_tokens(folded: str) -> list[str]:
    """Feature tokens (CUEYES, CUEALERT, ...) for the cues present in folded text."""
    return [f"CUE{name}" for name, pattern in _PATTERNS.items() if pattern.search(folded)]
