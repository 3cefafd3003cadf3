"""Every sentence the bot says, in English and Chinese. Short: an SMS reply fits 2 segments.

No text ever asks a user to send STOP, CANCEL, UNSUBSCRIBE, END or QUIT alone: SMS carriers
and Twilio treat those words as an opt-out, and answer HELP and INFO themselves (CHANNELS.md B5).
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # the open question: new requests, answers, corrections (handlers/dialog.py)
    "still_open": {"en": "(Still open: {question})", "zh": "（还在等您回答：{question}）"},
    "dropped_sell": {
        "en": "(Unfinished {product} listing dropped.)",
        "zh": "（没填完的{product}挂单已放弃。）",
    },
    "dropped_buy": {
        "en": "(Unfinished {product} request dropped.)",
        "zh": "（没填完的{product}求购已放弃。）",
    },
    "dropped_sell_any": {"en": "(Unfinished listing dropped.)", "zh": "（没填完的挂单已放弃。）"},
    "dropped_buy_any": {"en": "(Unfinished request dropped.)", "zh": "（没填完的求购已放弃。）"},
    "profile": {
        "en": "Your profile: name {name}; place {place}; language {language}; alerts: {alerts}. "
        "To change: 'my name is Ann', 'I am in Wudu'.",
        "zh": "您的资料：姓名{name}；地点{place}；语言{language}；订阅：{alerts}。修改请发："
        "我叫王芳，或：我在武都",
    },
    "not_set": {"en": "not set", "zh": "未设置"},
    "none": {"en": "none", "zh": "无"},
    "unknown_place": {
        "en": 'Sorry, I don\'t know the place "{word}" yet. Places I know: {places}.',
        "zh": "抱歉，还不认识“{word}”这个地方。认识的地方：{places}。",
    },
    "alerts_paused": {
        "en": "You stopped all alerts. Send 'subscribe' to turn them back on.",
        "zh": "您已退订全部提醒。发送“订阅”可恢复。",
    },
    "slot_changed": {"en": "Got it: {what}.", "zh": "好的：{what}。"},
    "bad_negative": {"en": "A {what} can't be negative.", "zh": "{what}不能是负数。"},
    "bad_exponent": {
        "en": "Please write the {what} in plain digits, e.g. 100000.",
        "zh": "{what}请直接写数字，例如100000。",
    },
    "bad_size": {"en": "That {what} is too small or too large.", "zh": "这个{what}太小或太大了。"},
    "unknown_product_named": {
        "en": 'Sorry, I don\'t know "{word}" yet (I know e.g. apples, potatoes, maize, beans; '
        "a coordinator can add more).",
        "zh": "抱歉，还不认识“{word}”（认识如苹果、土豆、玉米、花椒；协调员可以添加）。",
    },
    "ask_correction": {
        "en": "What should change in listing {ref}? e.g. 'no, 3.5' (price) or 'no, 40kg'. "
        "To remove it: 'cancel {ref}'.",
        "zh": "{ref}号要改什么？例如：不对，3块5（价格）或：不对，40斤。下架请发“取消{ref}”。",
    },
    "nothing_changed": {"en": "Listing {ref} already says that.", "zh": "{ref}号已经是这样了。"},
    "listing_corrected": {
        "en": "Listing {ref} changed: {changes}. Now {qty} {product} at {price}.",
        "zh": "{ref}号已改：{changes}。现在：{product}{qty}，{price}。",
    },
    "wrong_unit": {
        "en": "Listing {ref} is counted in {unit}; please say it in {unit} (or 'cancel {ref}' "
        "and list it again).",
        "zh": "{ref}号按{unit}计，请按{unit}说（或发“取消{ref}”后重新发布）。",
    },
    "not_that_much": {"en": "Listing {ref} has only {qty} left.", "zh": "{ref}号只剩{qty}。"},
    "one_at_a_time": {
        "en": "One product at a time: {product} first; then send the same for {rest}.",
        "zh": "一次买一种：先买{product}，之后再发{rest}。",
    },
    "offer_line_short": {
        "en": "{n}) only {qty} at {price}{where}",
        "zh": "{n}) 仅{qty}，{price}{where}",
    },
    "only_offer": {
        "en": "There is only 1 offer: reply 1 to order it, or 'never mind'.",
        "zh": "只有1个货源：回复1下单，或回复“算了”。",
    },
    "only_offers": {
        "en": "There are only {n} offers: reply 1 to {n}, or 'never mind'.",
        "zh": "只有{n}个货源：请回复1到{n}，或回复“算了”。",
    },
    "confirm_smaller": {
        "en": "Offer {n} has only {qty} (you asked for {want}). Order {qty} for {total}? "
        "Reply yes, no, or another number.",
        "zh": "{n}号只有{qty}（您要{want}）。买{qty}，共{total}？回复“是”、“不”或别的序号。",
    },
    "pick_another": {
        "en": "OK. Reply with another number (1 to {n}) or 'never mind'.",
        "zh": "好的。请回复别的序号（1到{n}），或回复“算了”。",
    },
    "welcome": {"en": "You're welcome!", "zh": "不客气！"},
    "which_listing_ref": {
        "en": "Which listing? {items}. Send e.g. 'listing {ref} now 2.5'.",
        "zh": "改哪一个？{items}。例如发送：{ref}号改成2块5",
    },
    "which_listing_cancel": {
        "en": "Which one? {items}. Send e.g. 'cancel {ref}'.",
        "zh": "取消哪一个？{items}。例如发送：取消{ref}",
    },
    "to_remove": {
        "en": "To remove listing {ref}, send 'cancel {ref}'.",
        "zh": "要下架{ref}号，请发“取消{ref}”。",
    },
    "still_waiting": {
        "en": "Still waiting for your answer: {items}. Reply e.g. 'YES {ref}' or 'NO {ref}'.",
        "zh": "还在等您确认：{items}。请回复如“是{ref}”或“不{ref}”。",
    },
    "broadcast_one_place": {
        "en": "One market at a time, please: send one broadcast per place.",
        "zh": "一次只能发一个地方的价格，请每个地方分开发。",
    },
    "ask_threshold": {
        "en": "Alert at what price? e.g. 'alert me when {product} goes above 40 per kg'",
        "zh": "到什么价格提醒您？例如：{product}高于4块一斤提醒我",
    },
    "no_alert_for": {"en": "You have no {product} alert.", "zh": "您没有订阅{product}。"},
    "more_listings": {"en": "(and {n} older)", "zh": "（还有{n}条较早的）"},
    "ask_name_again": {
        "en": "What name shall I give them? e.g. 'Ann', or 'skip'.",
        "zh": "请回复您的名字（如：王芳），或回复“跳过”。",
    },
    "which_order_item": {"en": "{ref}: {qty} {product}", "zh": "{ref}号：{product}{qty}"},
    "stopped_all": {"en": "stopped (send 'subscribe' to resume)", "zh": "已退订（发“订阅”恢复）"},
    "help": {
        "en": "Send: sell 50kg apples at 3/kg; buy 20kg apples; apple price?; my listings; "
        "my orders; my name is Ann; I am in Wudu",
        "zh": "发送：卖50斤苹果3块一斤；买20斤苹果；苹果多少钱；我的货；我的订单；我叫王芳；"
        "我在武都",
    },
    "greet": {
        "en": "Hello{name}! I help you sell and buy farm produce. "
        "Send 'menu' to see what I can do.",
        "zh": "您好{name}！我帮您买卖农产品。发送“帮助”查看菜单。",
    },
    "out_of_scope": {
        "en": "Sorry, I only help with buying and selling farm produce. "
        "Send 'menu' to see what I can do.",
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
    # human hand-off (handlers/handoff.py)
    "handoff_started": {
        "en": "A person from the co-op is answering you now.",
        "zh": "合作社的工作人员正在为您解答。",
    },
    "handoff_ended": {
        "en": "The assistant answers again, e.g. 'price of apples' or 'sell 50kg apples'.",
        "zh": "已转回自动助手，例如发送“苹果多少钱”或“卖50斤苹果”。",
    },
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
    "ask_sell_product": {
        "en": "What are you selling? e.g. 'apples'",
        "zh": "您要卖什么？例如：苹果",
    },
    "ask_sell_quantity": {
        "en": "How much {product} do you have? e.g. '50 kg'",
        "zh": "您有多少{product}？例如：50斤",
    },
    "ask_sell_price": {
        "en": "What price per {unit} for the {product}? e.g. '3.5'",
        "zh": "{product}每{unit}多少钱？例如：3块5",
    },
    "listing_created": {
        "en": "Listing {ref}: {qty} {product} at {price}{place}. "
        "I'll tell you when someone orders.",
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
    "listing_line": {
        "en": "{ref}: {qty} {product} at {price}",
        "zh": "{ref}号：{product}{qty}，{price}",
    },
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
        "en": "A buyer{buyer} is looking for {product}{want} and has been told of listing {ref}.",
        "zh": "有买家{buyer}在找{product}{want}，已把{ref}号告诉对方。",
    },
    "sold_out": {
        "en": "Sorry, that offer no longer has {qty}.",
        "zh": "抱歉，这批货已不够{qty}。",
    },
    "order_created": {
        "en": "Order {ref}: {qty} {product} from {farmer}, total {total}. "
        "Waiting for the farmer to accept.",
        "zh": "订单{ref}：向{farmer}买{product}{qty}，共{total}。等待农户确认。",
    },
    "farmer_unreachable": {
        "en": "Sorry, the farmer of offer {n}{name} can't be reached right now, so no order "
        "was placed.",
        "zh": "抱歉，暂时联系不上{n}号货源的农户{name}，未下单。",
    },
    "order_request": {
        "en": "New order {ref}: {qty} {product} for {total} from {buyer}. "
        "Reply YES {ref} to accept or NO {ref} to decline.",
        "zh": "新订单{ref}：{buyer}要{product}{qty}，共{total}。回复“是{ref}”接受，"
        "“不{ref}”拒绝。",
    },
    # answering and following orders
    "order_accepted_buyer": {
        "en": "Order {ref} accepted! {qty} {product}, total {total}. Farmer: {name}, {contact}.",
        "zh": "订单{ref}已接受！{product}{qty}，共{total}。农户：{name}，{contact}。",
    },
    "order_accepted_farmer": {
        "en": "You accepted order {ref}: {qty} {product}, total {total}. "
        "Buyer: {name}, {contact}.",
        "zh": "已接受订单{ref}：{product}{qty}，共{total}。买家：{name}，{contact}。",
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
    "order_unreachable_buyer": {
        "en": "Order {ref} is cancelled: the farmer can't be reached right now.",
        "zh": "订单{ref}已取消：暂时联系不上农户。",
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
    "which_order": {
        "en": "Which order? {items}. Reply e.g. 'YES {ref}' or 'NO {ref}'.",
        "zh": "哪一个订单？{items}。请回复如“是{ref}”或“不{ref}”。",
    },
    "no_pending": {
        "en": "You have no order waiting for your answer.",
        "zh": "您没有待确认的订单。",
    },
    "not_your_order": {"en": "Order {ref} is not yours to answer.", "zh": "订单{ref}不归您确认。"},
    "order_not_pending": {
        "en": "Order {ref} is already {status}.",
        "zh": "订单{ref}的状态：{status}。",
    },
    "no_orders": {"en": "You have no orders yet.", "zh": "您还没有订单。"},
    "my_orders": {"en": "Your orders:\n{items}", "zh": "您的订单：\n{items}"},
    "order_line": {
        "en": "{ref}: {role} {qty} {product}, {total}, {status}",
        "zh": "{ref}：{role}{product}{qty}，{total}，{status}",
    },
    # reaching each other (handlers/contact.py)
    "ask_name": {
        "en": "What's your name, so the people you trade with know who you are? Reply e.g. "
        "'Ann', or 'skip'.",
        "zh": "请问怎么称呼您？回复名字（如：王芳）让对方知道您是谁，或回复“跳过”。",
    },
    "name_skipped": {
        "en": "OK, no name. You can send 'my name is Ann' any time.",
        "zh": "好的，不留名字。以后可随时发“我叫王芳”。",
    },
    "phone_saved": {
        "en": "Saved: phone {phone}. Whoever you trade with gets it when an order is accepted.",
        "zh": "已保存电话{phone}，订单接受后会告诉交易对方。",
    },
    "phone_invalid": {
        "en": "{number} is not a phone number I can use. Send e.g. 'my phone is {example}'.",
        "zh": "{number}不是有效的电话号码。请发送如：我的电话{example}",
    },
    "contact_via_bot": {
        "en": "on WeChat: send 'msg {ref} your text' and I pass it on",
        "zh": "微信用户：发“回复{ref} 内容”由我转告",
    },
    "relay_who": {"en": "{name} ({role})", "zh": "{name}（{role}）"},
    "relay_role": {"en": "the {role}", "zh": "{role}"},
    "relay_message": {
        "en": "Order {ref}, {who}: {text}\n(To answer: msg {ref} your text)",
        "zh": "订单{ref}，{who}：{text}\n（回复请发：回复{ref} 内容）",
    },
    "relay_sent": {"en": "Passed on to {who}, order {ref}.", "zh": "已转告{who}，订单{ref}。"},
    "relay_ask_text": {
        "en": "What should I tell {who}? Send e.g. 'msg {ref} I come at 3pm'.",
        "zh": "要告诉{who}什么？请发如：回复{ref} 我下午3点到",
    },
    "relay_wait_buyer": {
        "en": "Order {ref} is not accepted yet; you can write to the farmer once it is.",
        "zh": "订单{ref}农户还没接受，接受后才能留言。",
    },
    "relay_wait_farmer": {
        "en": "Order {ref} waits for your answer first: reply YES {ref} or NO {ref}.",
        "zh": "订单{ref}还在等您确认：请先回复“是{ref}”或“不{ref}”。",
    },
    "relay_stopped": {
        "en": "Order {ref} is {status}: messages are no longer passed on.",
        "zh": "订单{ref}{status}，不再转达留言。",
    },
    "relay_too_long": {
        "en": "Too long for an SMS: please keep it to {n} characters after 'msg {ref}'.",
        "zh": "太长了，一条短信放不下：“回复{ref}”后请不超过{n}个字。",
    },
    "relay_hint": {
        "en": "To write to the {role} of order {ref}, send 'msg {ref} your text'.",
        "zh": "要给订单{ref}的{role}留言，请发“回复{ref} 内容”。",
    },
    # prices
    # a broadcast preview's estimated cost (bot/broadcast.Preview.cost_text)
    "broadcast_cost": {"en": "about {cost}", "zh": "约{cost}"},
    "broadcast_free": {"en": "no SMS cost", "zh": "无短信费用"},
    "price_header": {"en": "{Product} prices:", "zh": "{product}价格："},
    "price_market": {
        "en": "{place} market {price} ({date})",
        "zh": "{place}收购价{price}（{date}）",
    },
    "price_all_markets": {
        "en": "All markets {price} ({date})",
        "zh": "各地收购价{price}（{date}）",
    },
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
    "ask_price_product": {
        "en": "Price of what? e.g. 'apple price'",
        "zh": "问哪种产品的价格？例如：苹果多少钱",
    },
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
        "en": "Subscribed to {product} prices{place}{threshold}. "
        "To stop, send 'unsubscribe {product}'.",
        "zh": "已订阅{product}价格{place}{threshold}。退订请发送“退订{product}”。",
    },
    "threshold": {"en": " ({direction} {price})", "zh": "（{direction}{price}）"},
    "unsubscribed": {"en": "Unsubscribed from {what}.", "zh": "已退订{what}。"},
    "all_alerts": {"en": "all price alerts", "zh": "全部价格提醒"},
    "not_subscribed": {
        "en": "You have no price alerts. To get some, send e.g. 'subscribe apple prices'.",
        "zh": "您没有订阅价格提醒。订阅请发送如：订阅苹果价格",
    },
    "ask_subscribe_product": {
        "en": "Alerts for which product? e.g. 'subscribe apple prices'",
        "zh": "订阅哪种产品？例如：订阅苹果价格",
    },
    "coordinators_only": {"en": "Only coordinators can broadcast.", "zh": "只有协调员可以群发。"},
    "price_published": {
        "en": "Price published: {product} {price}{place}. Price answers use it from now on.",
        "zh": "已发布价格：{product}{price}{place}。之后查询价格会显示。",
    },
    "price_to_publish": {
        "en": "Price to publish: {product} {price}{place}.",
        "zh": "待发布价格：{product}{price}{place}。",
    },
    "publish_no_audience": {
        "en": "No subscriber would get it. Reply 'yes' to publish the price anyway or 'no' to "
        "drop it.",
        "zh": "没有订阅者会收到。回复“是”照样发布价格，“不”不发布。",
    },
    "all_markets": {"en": "all markets", "zh": "各地"},
    "subscriber_one": {"en": "subscriber", "zh": ""},
    "subscriber_many": {"en": "subscribers", "zh": ""},
    "broadcast_needs_price": {
        "en": "To publish a price send e.g. 'broadcast apple 4.2 yuan/kg Wudu'.",
        "zh": "发布价格请发送如：群发 苹果今日收购价4.2元/斤",
    },
    # broadcasts, alerts and digests (handlers/broadcast.py, handlers/broadcasts.py)
    "broadcast_preview": {
        "en": "Send to {n} {subscribers} ({segments} SMS each, {cost})? "
        "Reply 'yes' to send or 'no' to keep it unsent.",
        "zh": "发给{n}位订阅者（每条{segments}段短信，{cost.zh}）？回复“是”发送，“不”不发。",
    },
    "broadcast_announcement": {"en": "Announcement: {text}", "zh": "通知：{text}"},
    "broadcast_no_audience": {
        "en": "No subscriber would get it; nothing sent.",
        "zh": "没有订阅者，未发送。",
    },
    "broadcast_queued": {
        "en": "Broadcast {ref} is being sent to {n} {subscribers}; I'll report when it is done.",
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
    "alert_price_short": {
        "en": "{Product} price{place}: {price} ({date})",
        "zh": "{product}收购价{place}：{price}（{date}）",
    },
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
    "quantity": {"en": "quantity", "zh": "数量"},
    "price": {"en": "price", "zh": "价格"},
    "en": {"en": "English", "zh": "英文"},
    "zh": {"en": "Chinese", "zh": "中文"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The text for key in lang (English when missing), with values filled in."""
    entry = TEXTS[key]
    return entry.get(lang, entry["en"]).format(**values)


def word(key: str, lang: str) -> str:
    entry = WORDS[key]
    return entry.get(lang, entry["en"])
