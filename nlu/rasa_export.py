"""Files the Rasa backend's project needs that derive from farmchat: the jieba user dictionary.

Jieba joins numerals and units into words ("一斤", "三块", "五一") that cut across entity
spans; very frequent single-character numerals and units make it split them, and catalog
and gazetteer names become words, so Rasa's tokens line up with the annotations.
Run `python -m nlu.rasa_export > rasa/jieba/farmchat.txt` after changing the catalog.
"""

from __future__ import annotations

import re

from nlu.catalog import Catalog

NUMERALS = "零〇一二两三四五六七八九十百千万亿半点"
UNIT_AND_MONEY = [
    "斤",
    "公斤",
    "千克",
    "吨",
    "克",
    "升",
    "袋",
    "包",
    "箱",
    "筐",
    "个",
    "只",
    "头",
    "颗",
    "块",
    "块钱",
    "毛",
    "元",
    "钱",
]
_SPLIT_FREQ = 10_000_000
_NAME_FREQ = 1_000_000
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")


def jieba_userdict(catalog: Catalog) -> str:
    """Jieba user-dictionary lines ("word freq"), numerals and units first, then names."""
    words = [(ch, _SPLIT_FREQ) for ch in NUMERALS] + [(w, _SPLIT_FREQ) for w in UNIT_AND_MONEY]
    names = {n for p in catalog.products.values() for n in p.zh}
    names |= {n for place in catalog.places.values() for n in place.names}
    words += [(n, _NAME_FREQ) for n in sorted(names) if _CJK.match(n)]
    return "".join(f"{word} {freq}\n" for word, freq in words)


if __name__ == "__main__":
    print(jieba_userdict(Catalog.build()), end="")
