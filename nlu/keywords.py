"""The words that stop (or restart) messages when sent alone: one list for every reader.

Three readers take their own set, each built from the groups below:

- Twilio on SMS (bot/channels/twilio/webhook.py): the carrier keywords. Twilio answers
  them itself, so farmchat records the user's choice and stays silent.
- the NLU (nlu/model.py): a lone word that decides the intent, whatever the classifier says.
- the alerts handler (handlers/alerts.py): a lone word that, read as unsubscribe, ends every
  alert and broadcast rather than the subscriptions alone.

Words are lower case; a reader folds the text before it looks.
"""

from __future__ import annotations

# Known to carriers, the NLU and the alerts handler alike.
STOP = frozenset({"stop", "stopall", "unsubscribe"})
# China's short-message opt-out: 退订, and TD, its pinyin initials.
STOP_ZH = frozenset({"退订", "td"})
# Carrier keywords that also end alerts; the NLU does not force them, as "quit" and "end"
# usually leave the open question (handlers/table.py routes cancel first).
STOP_LEAVE = frozenset({"end", "quit"})
# Carrier keywords only: in a chat "cancel" drops the open question, and "revoke" and
# "optout" are left to the classifier.
STOP_CARRIER = frozenset({"cancel", "revoke", "optout"})
# Ends the subscriptions, not the broadcasts: the NLU reads it as unsubscribe.
UNSUB = frozenset({"unsub"})
# Chinese for "cancel my subscription" and "unsubscribe from everything".
STOP_ALL_ZH = frozenset({"取消订阅", "退订全部"})
# Messages resume after these (carriers, and the NLU's subscribe).
START = frozenset({"start", "unstop"})

# Twilio's opt-out and opt-in keywords (https://help.twilio.com/articles/223134027).
CARRIER_OPT_OUT = STOP | STOP_LEAVE | STOP_CARRIER
CARRIER_OPT_IN = START
# Sent alone, these end every alert and broadcast (SMS carriers' STOP; 退订/TD in China).
OPT_OUT_ALL = STOP | STOP_ZH | STOP_LEAVE | STOP_ALL_ZH
# Sent alone, the NLU gives these their intent without asking the classifier.
INTENT_OF_LONE_WORD: dict[str, str] = {
    **dict.fromkeys(sorted(STOP | STOP_ZH | UNSUB), "unsubscribe"),
    **dict.fromkeys(sorted(START), "subscribe"),
}
