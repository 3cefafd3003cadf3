"""Word lists the entity extractor uses to read roles around numbers and names."""

from __future__ import annotations

# Markers that make the following unit the unit a price is per ("per kg", "/斤", "每斤").
PER_WORDS = frozenset({"per", "/", "每", "every", "kwa", "each"})
# Articles that mean "per" only right after a price ("40 bob a kg", pinyin "3 kuai yi jin").
ARTICLES = frozenset({"a", "an", "yi"})
# Words after which a bare number is a price ("at 3", "@40", "价格3.5", "改成3").
PRICE_CUES = frozenset({
    "at", "@", "for", "price", "prices", "priced", "cost", "costs", "costing", "rate", "down",
    "reduce", "reduced", "drop", "dropped", "lower", "lowered", "raise", "raised",
    "价", "价格", "价钱", "收购价", "单价", "售价", "报价", "市价", "改成", "改为", "改到",
    "降到", "涨到", "调到", "调成", "调为", "降为", "涨为", "降价到", "涨价到", "卖到", "改", "现在",
    # a bare number after "to" or a threshold word is a price: "change 88 to 6", "below 2",
    # "低于3" (a unit after it makes it an amount first: "above 10 tons")
    "to", "below", "above", "under", "over", "beyond", "exceeds", "exceed", "hits", "reaches",
    "bei",  # Swahili: "bei 3000", "bei mpya ni 90"
    "paying", "pays", "paid", "fetch", "fetches", "fetching",
    "低于", "高于", "超过", "跌破", "跌到", "不到", "突破", "达到", "少于", "多于",
})
# Words that may stand between a price cue and its number ("price of apples to 3").
PRICE_FILLERS = frozenset({
    "to", "is", "of", "now", "my", "the", "only", "just", "from", "=", ":", "-", "是", "为",
    "到", "成", "today", "今天", "今日", "现在", "each", "per", "new", "will", "be",
    "mpya", "ya", "ni", "iwe",  # Swahili: "bei mpya ya nyanya ni 90", "bei iwe 3500"
})
# After "for"/"at", these words mean the number is not money ("for 3 days", "at 8pm").
TIME_WORDS = frozenset({
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours",
    "hrs", "min", "mins", "minutes", "am", "pm", "o'clock", "people", "times", "天", "点",
    "号", "月", "年", "周", "个月", "小时", "分钟",
})
# Words a reference number follows ("yes 1023", "cancel order 57", "取消订单1023").
REF_WORDS = frozenset({
    "yes", "y", "yeah", "yep", "ok", "okay", "accept", "accepted", "confirm", "confirmed",
    "no", "nope", "decline", "declined", "reject", "rejected", "cancel", "cancelled",
    "canceled", "order", "orders", "listing", "listings", "ref", "#", "接受", "拒绝", "取消",
    "订单", "确认", "好", "可以", "同意", "不要", "单号", "编号", "deliver", "delivered",
    "complete", "completed", "done", "approve", "approved", "n", "status", "edit", "挂单",
    "下架", "删掉", "删除", "交易", "接单", "拒单", "接", "拒", "不", "好的", "修改", "撤销", "是",
    "change", "update", "改", "track", "tracking",
    # Swahili and pinyin replies: ndio / nimekubali (accepted), hapana / sitaki (no), 接受 jieshou
    "ndio", "ndiyo", "nimekubali", "nakubali", "kubali", "hapana", "sitaki", "nakataa", "kataa",
    "ghairi", "futa", "jieshou", "queren", "jujue", "quxiao", "haode", "keyi", "不接",
    "不接受", "退单", "行", "就", "deal", "nimeaccept", "accepting", "do", "oda", "dingdan",
    "mark", "set", "siwezi", "refuse", "refused", "jie",
})
# Words before a number that add stock to a listing: "add 20 bags to 57" (57 is the listing).
ADD_WORDS = frozenset({"add", "added", "adding", "ongeza", "加", "添"})
# Words after which an SMS "4" means "for" ("how much 4 oranges", "lookin 4 wheat").
FOR_BEFORE = frozenset({"much", "mch", "price", "rate", "looking", "lookin", "look", "search",
                        "searching", "need", "ready"})
# Words right after a bare number that make it a reference ("1023行", "88接了", "356拒了",
# "2046退了", "57 add 20 bags", "4410, decline").
REF_AFTER = frozenset({
    "号", "行", "中", "接", "拒", "退", "撤", "删", "不", "不接", "这", "那", "不要", "可以", "好", "同意", "确认", "接受", "拒绝",
    "取消", "那单", "这单", "单", "订单", "ok", "yes", "no", "accept", "accepted", "decline",
    "declined", "reject", "cancel", "add", "sold", "status",
})
# Reference words naming what the number is ("listing 57", "order #88"): the number is the ref
# even when an amount word follows ("listing 57 only 8 boxes left").
REF_NOUNS = frozenset({"listing", "order", "#", "订单", "单号", "编号", "ref"})
# Words that may stand between a reference word and the number ("order no. 57").
REF_FILLERS = frozenset({
    "my", "the", "order", "listing", "no", "number", "num", "#", ":", "订单", "号", "第", "单",
    "ref", "-", ".", "id", "for", "of", ",", "编号", "单号", "了", "吧", "啊", "ya",
})
# Words between a number and its unit that keep it an amount ("100 more kg", "20 extra bags").
# Also Chinese approximations: "八十来斤", "五十多斤", "百余斤".
MORE_WORDS = frozenset({"more", "extra", "additional", "zaidi", "another", "来", "多", "余"})
# Words after a bare number that make it a quantity ("20 left", "剩20").
QUANTITY_AFTER = frozenset({"left", "remaining", "remain", "more", "only"})
QUANTITY_BEFORE = frozenset({"剩", "还剩", "剩下", "只剩", "还有", "剩余", "quantity", "qty",
                             "数量", "stock"})
# Words after a bare number that make it a (new) price ("tomatoes 50 now").
PRICE_AFTER = frozenset({"now"})
# Words that make "a bag"/"一斤" without a number the unit of a price being asked about.
PRICE_QUESTION = frozenset({"much", "cost", "costs", "price", "prices", "多少", "价", "价格", "钱"})
# The same question in words that are not tokens of their own ("几个钱", "fetch", "bei gani").
PRICE_QUESTION_RE = (r"多少|几块|几个钱|多钱|啥价|什么价|价位|价钱|咋卖|怎么卖|能卖|行情|(?<![a-z])(?:how much|hw mch|hw much|much|"
                     r"cost|costs|price|prices|rate|rates|fetch|fetches|fetching|going for|paying|pay|worth|"
                     r"bei|jiage|jiaqian|hangqing|how many kuai)(?![a-z])|(?<![a-z])duo\s*shao")
# Chinese lexicon tokens recognised as one unit when scanning (longest first).
CJK_WORDS = sorted(
    {"公斤", "千克", "公升", "块钱", "人民币", "多少", "剩下", "还剩", "只剩", "还有", "剩余",
     "订单", "接受", "拒绝", "取消", "确认", "可以", "同意", "不要", "单号", "编号", "今天",
     "今日", "现在", "个月", "小时", "分钟", "数量", "挂单", "下架", "删掉", "删除", "交易",
     "接单", "拒单", "好的", "修改", "撤销", "一共", "一起", "统一", "那单", "这单", "不接受", "不接",
     "退单"} | {w for w in PRICE_CUES if not w.isascii()},
    key=len, reverse=True,
)
# Characters after 一 + unit that show the unit is what a price is per ("一斤多少钱").
PRICE_HINTS = frozenset({"多少", "几", "钱", "价", "元", "块", "毛", "卖", "¥"})

# Real words one typo away from a product name ("peas" is not "pears").
TYPO_DECOYS = frozenset("""peas bears beach pearl pears coin rich prize pepper grace tee peace
    jujue grade yangu zangu wangu yako yetu chahe""".split())
# Common English words that are never a product typo or a person's name ("I'm selling").
COMMON_WORDS = frozenset("""
a about above after again against all also am an and any anyone anything are area around as
ask asking at available away back bad be because been before being below best better between
big bit both bring but buy buyer buyers buying by call can cancel cannot cheap check come
coming contact cost could daily day deal deliver delivery did do does doing done down each
early either else end enough every everyone fair farm farmer farmers fast few fine for fresh
from get getting give glad go going good got great had happy harvest has have having he hello
help her here hey hi him his how i if in interested into is it its just kind know last later
left less let like list listing listings little looking lot lots made make many market may me
mine more morning most much must my name near need needs new next nice no none not nothing now
of off offer ok okay old on once one only or order orders other our out over own pay peace
per pick place please price prices quality quick ready really right sale same see seller sell
selling send sent she should so sold some someone something soon sorry still stock stop such
sure team thank thanks that the their them then there these they thing this those through
to today tomorrow too town trying under until up us very village want wanted wants was we week
well were what when where which who why will wish with without would yes yet you your apply
pair paper pot plate team mine
farming growing grower here's available also selling buying based located living staying
from new farmer trader broker agent member coordinator just still back busy fine well tired
interested happy glad sorry ready free online sure not no here there also currently
weather rain joke hungry lost confused stuck bored sick whats what's rises rise rised
called calling
""".split())
