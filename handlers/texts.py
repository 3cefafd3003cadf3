"""Every sentence the bot says, in English and Chinese. Short: an SMS reply fits 2 segments.

No text ever asks a user to send STOP, CANCEL, UNSUBSCRIBE, END or QUIT alone: SMS carriers
and Twilio treat those words as an opt-out, and answer HELP and INFO themselves (CHANNELS.md B5).
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "en": "Send: sell 50kg apples at 3/kg; buy 20kg apples; apple price?; my listings; "
              "my orders; my name is Ann; I am in Wudu",
        "zh": "发送：卖50斤苹果3块一斤；买20斤苹果；苹果多少钱；我的货；我的订单；我叫王芳；我在武都",
    },
    "greet": {
        "en": "Hello{name}! I help you sell and buy farm produce. Send 'menu' to see what I can do.",
        "zh": "您好{name}！我帮您买卖农产品。发送“帮助”查看菜单。",
    },
    "out_of_scope": {
        "en": "Sorry, I only help with buying and selling farm produce. Send 'menu' to see what I can do.",
        "zh": "抱歉，我只能帮您买卖农产品。发送“帮助”查看菜单。",
    },
    "not_understood": {
        "en": "Sorry, I didn't get that. ",
        "zh": "抱歉，没看懂。",
    },
    "clarify": {
        "en": "Do you want to {a} or to {b}? Reply '{a}' or '{b}'.",
        "zh": "您是要{a}还是要{b}？请回复“{a}”或“{b}”。",
    },
    "error": {
        "en": "Sorry, something went wrong, please try again.",
        "zh": "抱歉，出错了，请再试一次。",
    },
    "cancelled": {"en": "OK, cancelled.", "zh": "好的，已取消。"},
    "ok": {"en": "OK.", "zh": "好的。"},
    "nothing_to_cancel": {
        "en": "Nothing to cancel. To cancel an order or listing, send e.g. 'cancel 1023'.",
        "zh": "没有可取消的。取消订单或货品请发送如“取消1023”。",
    },
    "unknown_ref": {"en": "I can't find number {ref}.", "zh": "找不到编号{ref}。"},
    "unknown_product": {
        "en": "Sorry, I don't know that product. Try e.g. apples, potatoes, maize, beans.",
        "zh": "抱歉，不认识这个产品。例如：苹果、土豆、玉米、花椒。",
    },
    # selling
    "ask_sell_product": {"en": "What are you selling? e.g. 'apples'", "zh": "您要卖什么？例如：苹果"},
    "ask_sell_quantity": {
        "en": "How much {product} do you have? e.g. '50 kg'",
        "zh": "您有多少{product}？例如：50斤",
    },
    "ask_sell_price": {
        "en": "What price per {unit}? e.g. '3.5'",
        "zh": "每{unit}多少钱？例如：3块5",
    },
    "listing_created": {
        "en": "Listing {ref}: {qty} {product} at {price}{place}. I'll tell you when someone orders.",
        "zh": "已发布{ref}号：{product}{qty}，{price}{place}。有人下单会通知您。",
    },
    "listing_updated": {
        "en": "Listing {ref} updated: {qty} {product} at {price}.",
        "zh": "{ref}号已更新：{product}{qty}，{price}。",
    },
    "ask_update": {
        "en": "What changed? e.g. 'apples 20 kg left' or 'apples now 3.5/kg'",
        "zh": "要改什么？例如：苹果还剩20斤，或：苹果改成3块5一斤",
    },
    "which_listing": {
        "en": "Which listing? {items}. Send e.g. '{example}'.",
        "zh": "改哪一个？{items}。例如发送：{example}",
    },
    "no_listings": {
        "en": "You have no active listings. To sell, send e.g. 'sell 50kg apples at 3/kg'.",
        "zh": "您没有在售的货。要卖货请发送如：卖50斤苹果3块一斤",
    },
    "my_listings": {
        "en": "Your listings:\n{items}\nTo remove one, send e.g. 'cancel {ref}'.",
        "zh": "您在售的货：\n{items}\n下架请发送如“取消{ref}”。",
    },
    "listing_line": {"en": "{ref}: {qty} {product} at {price}", "zh": "{ref}号：{product}{qty}，{price}"},
    "listing_cancelled": {"en": "Listing {ref} removed.", "zh": "{ref}号已下架。"},
    "not_your_listing": {"en": "Listing {ref} is not yours.", "zh": "{ref}号不是您的货。"},
    # buying
    "ask_buy_product": {"en": "What do you want to buy?", "zh": "您想买什么？"},
    "ask_buy_quantity": {
        "en": "How much {product} do you need? e.g. '20 kg'",
        "zh": "您要多少{product}？例如：20斤",
    },
    "offers": {
        "en": "{Product} for you:\n{items}\nReply with the number to order.",
        "zh": "{product}货源：\n{items}\n回复序号下单。",
    },
    "offer_line": {"en": "{n}) {qty} at {price}{where}", "zh": "{n}) {qty}，{price}{where}"},
    "ask_count_quantity": {
        "en": "That offer is sold by the {unit}. How many {unit} do you want? ({qty} available)",
        "zh": "这批货按{unit}卖。您要几{unit}？（有{qty}）",
    },
    "pick_number": {
        "en": "Please reply with a number from 1 to {n}, or 'never mind'.",
        "zh": "请回复1到{n}的序号，或回复“取消”。",
    },
    "no_offers": {
        "en": "No {product} on offer now. Reply YES to be told when some is listed.",
        "zh": "现在没有{product}。回复“是”，有货时通知您。",
    },
    "request_saved": {
        "en": "OK, I'll tell you when {product} is listed.",
        "zh": "好的，有{product}上架时通知您。",
    },
    "request_matched_farmer": {
        "en": "A buyer is looking for {product}{want}: {buyer}. They have been told of listing {ref}.",
        "zh": "有买家在找{product}{want}：{buyer}。已把{ref}号告诉他。",
    },
    "sold_out": {
        "en": "Sorry, that offer no longer has {qty}.",
        "zh": "抱歉，这批货已不够{qty}。",
    },
    "order_created": {
        "en": "Order {ref}: {qty} {product} from {farmer}, total {total}. Waiting for the farmer to accept.",
        "zh": "订单{ref}：向{farmer}买{product}{qty}，共{total}。等待农户确认。",
    },
    "order_request": {
        "en": "New order {ref}: {qty} {product} for {total} from {buyer}. "
              "Reply YES {ref} to accept or NO {ref} to decline.",
        "zh": "新订单{ref}：{buyer}要{product}{qty}，共{total}。回复“是{ref}”接受，“不{ref}”拒绝。",
    },
    # answering and following orders
    "order_accepted_buyer": {
        "en": "Order {ref} accepted! Farmer: {name}, {contact}. {qty} {product}, total {total}.",
        "zh": "订单{ref}已接受！农户：{name}，{contact}。{product}{qty}，共{total}。",
    },
    "order_accepted_farmer": {
        "en": "You accepted order {ref}. Buyer: {name}, {contact}. {qty} {product}, total {total}.",
        "zh": "已接受订单{ref}。买家：{name}，{contact}。{product}{qty}，共{total}。",
    },
    "order_declined_buyer": {
        "en": "Order {ref} was declined by the farmer.",
        "zh": "订单{ref}被农户拒绝了。",
    },
    "order_declined_farmer": {
        "en": "You declined order {ref}; {qty} is back in listing {listing}.",
        "zh": "已拒绝订单{ref}，{qty}已退回{listing}号。",
    },
    "order_expired_buyer": {
        "en": "Order {ref} expired: the farmer did not answer in time.",
        "zh": "订单{ref}已过期：农户没有及时确认。",
    },
    "order_expired_farmer": {
        "en": "Order {ref} expired without your answer; {qty} is back in listing {listing}.",
        "zh": "订单{ref}您未确认，已过期，{qty}已退回{listing}号。",
    },
    "order_cancelled": {"en": "Order {ref} cancelled.", "zh": "订单{ref}已取消。"},
    "order_cancelled_other": {
        "en": "Order {ref} ({qty} {product}) was cancelled by the {who}.",
        "zh": "订单{ref}（{product}{qty}）已被{who}取消。",
    },
    "no_more_offers": {
        "en": "No other {product} on offer right now.",
        "zh": "暂时没有别的{product}货源。",
    },
    "which_order": {
        "en": "Which order? {items}. Reply e.g. 'YES {ref}' or 'NO {ref}'.",
        "zh": "哪一个订单？{items}。请回复如“是{ref}”或“不{ref}”。",
    },
    "no_pending": {"en": "You have no order waiting for your answer.", "zh": "您没有待确认的订单。"},
    "not_your_order": {"en": "Order {ref} is not yours to answer.", "zh": "订单{ref}不归您确认。"},
    "order_not_pending": {"en": "Order {ref} is already {status}.", "zh": "订单{ref}已经{status}了。"},
    "no_orders": {"en": "You have no orders yet.", "zh": "您还没有订单。"},
    "my_orders": {"en": "Your orders:\n{items}", "zh": "您的订单：\n{items}"},
    "order_line": {
        "en": "{ref}: {role} {qty} {product}, {total}, {status}",
        "zh": "{ref}：{role}{product}{qty}，{total}，{status}",
    },
    # prices
    "price_header": {"en": "{Product} prices:", "zh": "{product}价格："},
    "price_market": {"en": "{place} market {price} ({date})", "zh": "{place}收购价{price}（{date}）"},
    "price_asking": {
        "en": "Asking {low}-{high}, median {median} ({n} listings, 7 days){change}",
        "zh": "挂牌{low}-{high}，中位{median}（近7天{n}条）{change}",
    },
    "price_asking_one": {
        "en": "Asking {price} (1 listing, 7 days){change}",
        "zh": "挂牌{price}（近7天1条）{change}",
    },
    "price_change": {"en": ", {pct} on last week", "zh": "，比上周{pct}"},
    "no_prices": {"en": "No {product} prices yet.", "zh": "暂时没有{product}的价格。"},
    "ask_price_product": {"en": "Price of what? e.g. 'apple price'", "zh": "问哪种产品的价格？例如：苹果多少钱"},
    # profile
    "profile_saved": {"en": "Saved: {what}.", "zh": "已保存：{what}。"},
    "profile_name": {"en": "name {name}", "zh": "姓名{name}"},
    "profile_place": {"en": "place {place}", "zh": "地点{place}"},
    "ask_profile": {
        "en": "Tell me your name or place, e.g. 'my name is Ann' or 'I am in Wudu'.",
        "zh": "请告诉我您的名字或地点，例如：我叫王芳，或：我在武都",
    },
    # alerts and coordinator prices
    "subscribed": {
        "en": "Subscribed to {product} prices{place}{threshold}. To stop, send 'unsubscribe {product}'.",
        "zh": "已订阅{product}价格{place}{threshold}。退订请发送“退订{product}”。",
    },
    "threshold": {"en": " ({direction} {price})", "zh": "（{direction}{price}）"},
    "unsubscribed": {"en": "Unsubscribed from {what}.", "zh": "已退订{what}。"},
    "all_alerts": {"en": "all price alerts", "zh": "全部价格提醒"},
    "not_subscribed": {"en": "You have no price alerts.", "zh": "您没有订阅价格提醒。"},
    "ask_subscribe_product": {
        "en": "Alerts for which product? e.g. 'subscribe apple prices'",
        "zh": "订阅哪种产品？例如：订阅苹果价格",
    },
    "coordinators_only": {"en": "Only coordinators can broadcast.", "zh": "只有协调员可以群发。"},
    "price_published": {
        "en": "Price published: {product} {price}{place}. Price answers use it from now on.",
        "zh": "已发布价格：{product}{price}{place}。之后查询价格会显示。",
    },
    "broadcast_needs_price": {
        "en": "To publish a price send e.g. 'broadcast apple 4.2 yuan/kg Wudu'.",
        "zh": "发布价格请发送如：群发 苹果今日收购价4.2元/斤",
    },
    # broadcasts, alerts and digests (handlers/broadcast.py, bot/broadcast.py)
    "broadcast_preview": {
        "en": "Send to {n} subscribers ({segments} SMS each, about {cost})? Reply 'yes' to send or 'no' to keep it unsent.",
        "zh": "发给{n}位订阅者（每条{segments}段短信，约{cost}）？回复“是”发送，“不”不发。",
    },
    "broadcast_announcement": {"en": "Announcement: {text}", "zh": "通知：{text}"},
    "broadcast_no_audience": {"en": "No subscriber would get it; nothing sent.", "zh": "没有订阅者，未发送。"},
    "broadcast_queued": {
        "en": "Broadcast {ref} is being sent to {n} subscribers; I'll report when it is done.",
        "zh": "群发{ref}正在发给{n}位订阅者，发完告诉您。",
    },
    "broadcast_dropped": {"en": "OK, not sent.", "zh": "好的，不发送。"},
    "broadcast_ask_text": {
        "en": "What should the announcement say? e.g. 'broadcast: market closed tomorrow'",
        "zh": "要通知什么？例如：群发 明天市场休市",
    },
    "broadcast_confirm_again": {
        "en": "Reply 'yes' to send broadcast {ref} or 'no' to keep it unsent.",
        "zh": "回复“是”发送群发{ref}，“不”不发。",
    },
    "broadcast_done": {
        "en": "Broadcast {ref} done: {sent} sent, {failed} failed, {skipped} skipped.",
        "zh": "群发{ref}完成：成功{sent}，失败{failed}，跳过{skipped}。",
    },
    "alert_price": {
        "en": "{Product} price{place}: {price} ({date}). To stop, send 'unsubscribe {product}'.",
        "zh": "{product}收购价{place}：{price}（{date}）。退订请发“退订{product}”",
    },
    "alert_price_short": {"en": "{Product} price{place}: {price} ({date})", "zh": "{product}收购价{place}：{price}（{date}）"},
    "digest_header": {"en": "{Product} today:", "zh": "今日{product}："},
    "daily_at": {"en": " (daily at {time})", "zh": "（每天{time}）"},
    "my_alerts": {
        "en": "Your alerts: {items}. To stop one, send e.g. 'unsubscribe {product}'.",
        "zh": "您的订阅：{items}。退订请发送如“退订{product}”。",
    },
    "opted_out": {
        "en": "You will get no more alerts or broadcasts. To resume, send 'subscribe'.",
        "zh": "已退订全部提醒和群发。恢复请发送“订阅”。",
    },
    "resumed": {"en": "Welcome back: your alerts are on again.", "zh": "已恢复您的订阅。"},
}

WORDS: dict[str, dict[str, str]] = {
    "pending": {"en": "pending", "zh": "待确认"},
    "accepted": {"en": "accepted", "zh": "已接受"},
    "declined": {"en": "declined", "zh": "已拒绝"},
    "expired": {"en": "expired", "zh": "已过期"},
    "cancelled": {"en": "cancelled", "zh": "已取消"},
    "completed": {"en": "completed", "zh": "已完成"},
    "buying": {"en": "buying", "zh": "买"},
    "selling": {"en": "selling", "zh": "卖"},
    "buyer": {"en": "buyer", "zh": "买家"},
    "farmer": {"en": "farmer", "zh": "农户"},
    "above": {"en": "above", "zh": "高于"},
    "below": {"en": "below", "zh": "低于"},
    "sell": {"en": "sell", "zh": "卖"},
    "buy": {"en": "buy", "zh": "买"},
    "unnamed": {"en": "a buyer", "zh": "一位买家"},
    "unnamed_farmer": {"en": "a farmer", "zh": "一位农户"},
}


def t(key: str, lang: str, **values) -> str:
    """The text for key in lang (English when missing), with values filled in."""
    entry = TEXTS[key]
    return entry.get(lang, entry["en"]).format(**values)


def word(key: str, lang: str) -> str:
    entry = WORDS[key]
    return entry.get(lang, entry["en"])
