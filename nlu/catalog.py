"""Product catalog and place gazetteer (SPEC §5), with extras from config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# key: (English names, Chinese names). The first name of each language is the display name.
# Latin-script lists also hold Swahili and informal names that Kenyan farmers text.
DEFAULT_PRODUCTS: dict[str, tuple[list[str], list[str]]] = {
    "apple": (["apple"], ["苹果"]),
    "pear": (["pear"], ["梨", "梨子"]),
    "peach": (["peach"], ["桃", "桃子"]),
    "kiwi": (["kiwi", "kiwifruit"], ["猕猴桃", "奇异果"]),
    "orange": (["orange", "citrus", "mandarin"], ["橙子", "橘子", "柑橘"]),
    "grape": (["grape"], ["葡萄"]),
    "jujube": (["jujube", "red dates"], ["红枣", "大枣", "枣"]),
    "walnut": (["walnut"], ["核桃"]),
    "peanut": (["peanut", "groundnut"], ["花生"]),
    "chestnut": (["chestnut"], ["板栗", "栗子"]),
    "potato": (["potato", "irish potato", "viazi", "spud"], ["土豆", "马铃薯", "洋芋"]),
    "sweet_potato": (["sweet potato", "viazi vitamu"], ["红薯", "地瓜", "番薯", "红苕", "山芋"]),
    "tomato": (["tomato", "nyanya"], ["西红柿", "番茄"]),
    "cabbage": (["cabbage", "kabichi"], ["白菜", "卷心菜", "包菜"]),
    "chili": (["chili", "chilli", "hot pepper", "pilipili"], ["辣椒", "尖椒", "辣子"]),
    "garlic": (["garlic"], ["大蒜", "蒜"]),
    "onion": (["onion", "vitunguu"], ["洋葱"]),
    "cucumber": (["cucumber"], ["黄瓜"]),
    "rice": (["rice"], ["大米", "稻谷"]),
    "wheat": (["wheat"], ["小麦"]),
    "corn": (["corn", "maize", "mahindi"], ["玉米", "苞谷", "苞米"]),
    "soybean": (["soybean", "soya", "soya bean", "soy bean", "soy", "soyabean"], ["大豆", "黄豆"]),
    "beans": (["beans", "bean", "maharagwe"], ["芸豆"]),
    "tea": (["tea"], ["茶叶"]),
    "honey": (["honey"], ["蜂蜜"]),
    "egg": (["egg"], ["鸡蛋", "土鸡蛋"]),
    "sichuan_pepper": (["sichuan pepper"], ["花椒"]),
    "goji": (["goji", "wolfberry"], ["枸杞"]),
    "olive_oil": (["olive oil"], ["橄榄油"]),
    "mushroom": (["mushroom", "shiitake"], ["香菇", "蘑菇"]),
    "chicken": (["chicken", "kuku"], ["鸡", "土鸡"]),
    "pork": (["pork"], ["猪肉"]),
    "beef": (["beef"], ["牛肉"]),
    "lamb": (["lamb", "mutton"], ["羊肉"]),
    "avocado": (["avocado", "parachichi"], ["牛油果"]),
    "mango": (["mango", "embe"], ["芒果"]),
    "banana": (["banana", "ndizi"], ["香蕉"]),
    "kale": (["kale", "sukuma", "sukuma wiki"], ["羽衣甘蓝"]),
    "cassava": (["cassava", "muhogo"], ["木薯"]),
    "milk": (["milk", "maziwa"], ["牛奶"]),
}

# key: (names, (latitude, longitude) or None). First Latin name is the English display name,
# first Chinese name the Chinese one. Coordinates are approximate town centres.
DEFAULT_PLACES: dict[str, tuple[list[str], tuple[float, float] | None]] = {
    "longnan": (["Longnan", "陇南"], (33.40, 104.92)),
    "wudu": (["Wudu", "武都"], (33.39, 104.93)),
    "chengxian": (["Chengxian", "Cheng County", "成县"], (33.75, 105.74)),
    "wenxian": (["Wenxian", "Wen County", "文县"], (32.94, 104.68)),
    "tanchang": (["Tanchang", "宕昌"], (34.05, 104.39)),
    "kangxian": (["Kangxian", "Kang County", "康县"], (33.33, 105.61)),
    "xihe": (["Xihe", "西和"], (34.01, 105.30)),
    "lixian": (["Lixian", "Li County", "礼县"], (34.19, 105.18)),
    "huixian": (["Huixian", "Hui County", "徽县"], (33.77, 106.09)),
    "liangdang": (["Liangdang", "两当"], (33.91, 106.30)),
    "tianshui": (["Tianshui", "天水"], (34.58, 105.72)),
    "lanzhou": (["Lanzhou", "兰州"], (36.06, 103.83)),
    "caoxian": (["Caoxian", "Cao County", "曹县"], (34.83, 115.54)),
    "heze": (["Heze", "菏泽"], (35.23, 115.48)),
    "nairobi": (["Nairobi"], (-1.29, 36.82)),
    "nakuru": (["Nakuru"], (-0.30, 36.07)),
    "eldoret": (["Eldoret"], (0.51, 35.27)),
    "kisumu": (["Kisumu"], (-0.09, 34.77)),
    "meru": (["Meru"], (0.05, 37.65)),
    "mombasa": (["Mombasa"], (-4.04, 39.67)),
}


def _is_cjk(name: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in name)


@dataclass(frozen=True)
class Product:
    key: str
    en: list[str]
    zh: list[str]

    def display(self, lang: str) -> str:
        names = self.zh if lang == "zh" and self.zh else self.en or self.zh
        return names[0] if names else self.key


@dataclass(frozen=True)
class Place:
    key: str
    names: list[str]
    coords: tuple[float, float] | None = None

    def display(self, lang: str) -> str:
        zh = [n for n in self.names if _is_cjk(n)]
        en = [n for n in self.names if not _is_cjk(n)]
        pick = (zh or en) if lang == "zh" else (en or zh)
        return pick[0] if pick else self.key


@dataclass
class Catalog:
    """Products and places known to this deployment."""

    products: dict[str, Product] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        extra_products: Mapping[str, Sequence[str]] | None = None,
        # config's places as plain dicts: "names", optional "coords", keys the catalog ignores
        extra_places: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Catalog:
        """Defaults of SPEC §5 plus config extras (names are added to existing keys)."""
        products = {k: Product(k, list(en), list(zh)) for k, (en, zh) in DEFAULT_PRODUCTS.items()}
        for key, names in (extra_products or {}).items():
            old = products.get(key, Product(key, [], []))
            en = old.en + [n for n in names if not _is_cjk(n) and n not in old.en]
            zh = old.zh + [n for n in names if _is_cjk(n) and n not in old.zh]
            products[key] = Product(key, en, zh)
        places = {k: Place(k, list(n), c) for k, (n, c) in DEFAULT_PLACES.items()}
        for key, spec in (extra_places or {}).items():
            names, coords = spec.get("names", []), spec.get("coords")
            old_place = places.get(key, Place(key, [], None))
            merged = old_place.names + [n for n in names if n not in old_place.names]
            places[key] = Place(key, merged, tuple(coords) if coords else old_place.coords)
        return cls(products, places)

    def product_name(self, key: str, lang: str) -> str:
        product = self.products.get(key)
        return product.display(lang) if product else key

    def place_name(self, key: str | None, lang: str) -> str:
        if not key:
            return ""
        place = self.places.get(key)
        return place.display(lang) if place else key
