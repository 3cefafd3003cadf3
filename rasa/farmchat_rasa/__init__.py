"""Rasa custom components for farmchat's Rasa backend (imported by rasa/config.yml)."""
