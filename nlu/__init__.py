"""farmchat's built-in NLU: Rasa-format training data, rule-based entities, intent model."""

from nlu.catalog import Catalog
from nlu.entities import EntityExtractor
from nlu.model import NLU
from nlu.rasa_yaml import Example, load_examples

__all__ = ["NLU", "Catalog", "EntityExtractor", "Example", "load_examples"]
