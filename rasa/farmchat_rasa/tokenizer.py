"""Jieba without HMM word discovery, so numerals and units stay tokens of their own."""

from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class FarmchatJiebaTokenizer(JiebaTokenizer):
    """JiebaTokenizer with HMM off: "五一斤" stays 五 一 斤, matching the annotated spans."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokens of one attribute, dictionary words only."""
        import jieba

        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(message.get(attribute), HMM=False)]
        return self._apply_token_pattern(tokens)
