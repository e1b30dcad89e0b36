"""Labelled corpora: the manifest schema, loading and validation, the demo-corpus recipe."""

from .load import MANIFEST, Corpus, check, load, load_corpus
from .schema import Call, Label, Problem

__all__ = ["MANIFEST", "Corpus", "Call", "Label", "Problem", "check", "load_corpus", "load"]
