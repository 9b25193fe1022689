"""Text data: corpora, vocabularies, the embedded default corpus and truncated-BPTT batching."""

from . import dates, parallel
from .default_corpus import default_corpus_text
from .streams import Batch, TBPTTStreams, eval_chunks
from .text import DataError, Vocabulary, read_text, split_train_val, tokenize

__all__ = [
    "Batch",
    "DataError",
    "TBPTTStreams",
    "Vocabulary",
    "dates",
    "default_corpus_text",
    "parallel",
    "eval_chunks",
    "read_text",
    "split_train_val",
    "tokenize",
]
