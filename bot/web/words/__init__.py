"""The dashboard's words by area, (English, Chinese) per key; bot/web/i18n.py joins them."""
