"""Corpus ingestion: read files in several formats into validated papers."""

from agent.ingest.formats import Problem
from agent.ingest.loader import BUNDLED_SOURCE, LoadResult, load_corpus
from agent.ingest.normalize import clean_display, paper_id, title_key

__all__ = ["BUNDLED_SOURCE", "LoadResult", "Problem", "clean_display", "load_corpus", "paper_id", "title_key"]
