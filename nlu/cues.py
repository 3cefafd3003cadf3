"""Intent cue words: domain synonyms that let the classifier generalize past its examples.

Each cue adds a feature token such as CUE_ALERT to the text the classifier sees, so a word
never seen in training ("notify", "推送") still votes like its known synonyms.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from nlu.gazetteer import _trie_regex

CUES: dict[str, str] = {
    "YES": """yes yess yeah yep yup ya yah yas ok okay okey k sure fine correct right agree agreed
        accept accepted confirm confirmed approve approved go-ahead proceed deal done perfect
        absolutely definitely of-course alright good great exactly affirmative take-it ndio sawa
        poa 好 好的 可以 行 中 成 对 是的 嗯 确认 确定 接受 同意 答应 没问题 就这个 定了 接单
        准了 愿意 没毛病 ok了 要了 ndiyo nimekubali nakubali kubali haya""",
    "NO": """no nope nah negative decline declined reject rejected refuse refused disagree wrong
        incorrect hapana la sitaki siwezi kataa nakataa 不 否 不要 不行 拒绝 回绝 婉拒 不同意 错
        不接 拒单 不愿意 不对 没法""",
    "NEG": """not don't dont do-not never no-more no-longer can't cant cannot won't 不 别 没 不要
        不想 不用 不再 甭""",
    "CANCEL": """cancel cancle cansel abort quit exit stop never-mind nevermind nvm forget undo
        scrap drop withdraw delete remove take-down call-off start-over back leave-it ignore
        changed-my-mind 取消 取肖 算了 算啦 作罢 不用了 删除 删掉 撤 撤掉 撤销 下架 退出 结束 重新
        改主意 不卖了 不买了 不弄了 不算 别管 acha wacha achana ghairi sitisha scratch-that""",
    "GREET": """hi hii hai hello helo hallo hola hey heya yo sup wassup whatsup howdy greetings gm
        good-morning good-afternoon good-evening good-day morning evening habari jambo sasa mambo
        niaje hujambo salaam 你好 您好 早上好 中午好 晚上好 下午好 大家好 嗨 嘿 哈喽 哈罗 在吗
        在不在 在? 有人吗 吃了吗 好久不见 早 喂 thanks thank thx asante shukran cheers namaste 谢谢
        多谢 谢了 辛苦了""",
    "HELP": """help how menu options commands usage guide info instructions faq support explain
        manual tutorial halp msaada what-is-this what-can services 帮助 帮忙 帮我 求助 怎么 如何
        怎样 菜单 说明 教程 指南 不会 看不懂 不懂 人工 客服 干嘛 干什么 功能 怎么用 指令 格式 ?
        saidia nisaidie nini inafanyaje 干啥 做啥 啥用 咋用 有啥用""",
    "SELL": """sell selling sale sel offer offering have hav got available supply nauza 卖 出售
        出 有货 供应 上架 发布 卖家 处理 有要的 有需要 wts fs for-sale kuuza nina niko-na""",
    "BUY": """buy buying want need ned looking seeking find purchase request wanted take nunua
        natafuta urgently urgent 买 收 收购 求购 要 需要 求 订 采购 找 进货 急需 急要 急收 缺 订购
        wtb iso sourcing nataka nahitaji kununua anauza 有没有 谁家有 哪里有 哪有 来""",
    "PRICE": """price prices cost costs how-much rate rates going paying worth bei 价 价格 多少钱
        行情 什么价 几块 价钱 报价 市价 fetch fetches ngapi 几个钱 多钱 啥价""",
    "ALERT": """alert alerts notify notification notifications subscribe subscription sub follow
        updates tell-me text-me send-me let-me-know remind reminder daily every weekly digest sms
        messages watch 订阅 提醒 通知 推送 告诉我 叫我 发给我 发我 关注 每天 每日 每周 定期 短信
        消息 盯着 收到 nitumie kila-siku 推给我 喊我 说一声""",
    "ON": """on resume restart start opt-in turn-on enable again 开启 打开 恢复 接收 重新 继续""",
    "OFF": """off pause halt mute opt-out turn-off disable stop end td 停 停发 关 关掉 关闭 屏蔽
        暂停""",
    "STOPMSG": """stop unsubscribe unsub unfollow no-longer anymore any-more opt-out mute end leave
        remove-me 退订 取消订阅 取关 别发 不要发 不用发 不想收 不再 关闭 解除 停止 取消关注 别推
        别再 usinitumie acha-kunitumia 别推""",
    "LISTING": """listing listings listed posted post produce stock items goods ads store shop
        sale 货 商品 挂单 在售 上架 发布的 库存 bidhaa mzigo""",
    "ORDER": """order orders ordrs purchase purchases bought buys deals transactions delivery
        pending buyers buyer 订单 单子 下的单 买的 买过 订的 购买 交易 买家 对方 接单 oda""",
    "STATUS": """status happening progress accepted confirmed yet 怎么样 了吗 了没 没有 呢 进度
        到哪 吗""",
    "UPDATE": """change update edit only left remaining remain sold-out finished reduce increase
        lower raise now gone all-gone no-more out-of-stock finished 改 改成 改为 改到 降 涨 还剩 剩
        卖完 卖光 没了 售完 更新 调 只剩 加上 便宜 没货 断货 只有 就剩 剩下 换成 restock restocked
        another top-up imeisha 又 再补 补货 加到 卖掉 卖没 又来了 又到 到货 来货 新到""",
    "PROFILE": """name called i'm i-am live located based from register sign-me-up enroll jina
        naitwa mimi-ni 叫 名字 姓名 我在 住 来自 我是 称呼 登记 注册""",
    "BROADCAST": """broadcast announce announcement notice publish all everyone all-farmers
        all-users subscribers send-all send-to-all inform-all tell-all schedule blast circulate
        attention members push-an-alert 群发 公告 广播 通告 全体 所有 大家 全县 定时 通知大家
        全部农户 告诉所有人""",
    "OFFTOPIC": """weather rain loan bank movie school fees phone phones airtime bitcoin football
        government fertilizer sick love joke 天气 下雨 贷款 银行 电影 股票 比特币 化肥 农药 病 麻将
        火车 医保 低保 转账 笨 airtime credit bundles data-bundle bus matatu taxi doctor hospital
        repair broken 话费 充值 流量 快递 手机 班车 车票 机票 几点 医生 医院 修 坏了 pest pests
        pesticide insecticide fungicide spray spraying disease diseases blight rot thrips aphids
        worms armyworm manure seeds seedlings irrigation plant planting variety yield cure medicine
        vet coughing leaves mature 虫 药 打药 施肥 肥 剪枝 嫁接 霜 旱 叶子 发黄 苗 种子 浇水 治
        咋治 防治 高考 分数""",
}


def _pattern(words: list[str]) -> re.Pattern[str]:
    """Alternation of words, Latin ones bounded by non-letters, '-' matching any spacing."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        body = r"\s*".join(map(re.escape, word.split("-")))
        parts.append(
            rf"(?<![a-z']){body}(?![a-z'])" if word.isascii() and word[0].isalpha() else body
        )
    return re.compile("|".join(parts))


_LATIN_RUN = re.compile(r"[a-z']+")


_SPACE = re.compile(r"\s+")


class _CueIndex:
    """All cues' words in three lookups, so a text is scanned once, not once per cue.

    Plain Latin words are looked up by the text's [a-z']+ runs. Other words (Chinese, "?")
    are one trie, and multi-word Latin phrases ("how much", "do not") one alternation; each
    is searched again one character after every match, so overlapping words are all seen. A
    match is the longest word at its position: its prefix words are present too (checked
    against their own pattern for phrases, whose ends must fall between words). Equal to
    searching each cue's words with _pattern (checked in tests).
    """

    def __init__(self, cues: dict[str, list[str]]):
        self.runs: dict[str, set[str]] = defaultdict(set)
        plain: dict[str, set[str]] = defaultdict(set)
        phrases: dict[str, set[str]] = defaultdict(set)
        for name, words in cues.items():
            for word in words:
                if not (word.isascii() and word[0].isalpha()):
                    plain[word].add(name)
                elif _LATIN_RUN.fullmatch(word):
                    self.runs[word].add(name)
                else:
                    phrases[word].add(name)
        self.plain_re = re.compile(_trie_regex(list(plain), ""))
        self.plain = {
            w: frozenset().union(*(c for p, c in plain.items() if w.startswith(p))) for w in plain
        }
        self.phrase_re = _pattern(list(phrases))
        keys = {w: w.replace("-", "") for w in phrases}
        self.phrases = {
            keys[w]: (
                frozenset(c),
                [
                    (_pattern([p]), frozenset(phrases[p]))
                    for p in phrases
                    if p != w and keys[w].startswith(keys[p])
                ],
            )
            for w, c in phrases.items()
        }

    def names(self, folded: str) -> set[str]:
        """Names of the cues whose words occur in the folded text."""
        found: set[str] = set()
        for run in _LATIN_RUN.findall(folded):
            found.update(self.runs.get(run, ()))
        match = self.plain_re.search(folded)
        while match:
            found |= self.plain[match.group()]
            match = self.plain_re.search(folded, match.start() + 1)
        match = self.phrase_re.search(folded)
        while match:
            cues, prefixes = self.phrases[_SPACE.sub("", match.group())]
            found |= cues
            for pattern, more in prefixes:
                if pattern.match(folded, match.start()):
                    found |= more
            match = self.phrase_re.search(folded, match.start() + 1)
        return found


_INDEX = _CueIndex({name: text.split() for name, text in CUES.items()})


_LONG_WORDS = {
    w: name
    for name, text in CUES.items()
    for w in text.split()
    if w.isalpha() and w.isascii() and len(w) >= 5
}
_WORD = re.compile(r"[a-z]{5,}")


def cue_tokens(folded: str) -> list[str]:
    """Feature tokens (CUEYES, CUEALERT, ...) for the cues present in folded text."""
    found = _INDEX.names(folded)
    found.update(hit for word in _WORD.findall(folded) if (hit := _misspelt_cue(word)))
    return [f"CUE{name}" for name in sorted(found)]


@lru_cache(maxsize=8192)
def _misspelt_cue(word: str) -> str | None:
    """The cue of a word one edit away from a long cue word ("sbscribe", "cansel")."""
    if word in _LONG_WORDS:
        return _LONG_WORDS[word]
    choices = [w for w in _LONG_WORDS if w[0] == word[0] and abs(len(w) - len(word)) <= 1]
    best = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=1)
    return _LONG_WORDS[best[0]] if best else None
