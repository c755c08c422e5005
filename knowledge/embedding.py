"""Embedding functions for the Chroma index: an offline hashed n-gram embedding, and optional Ollama.

The default, :class:`HashedNgramEmbedding`, needs no model and no network: it hashes the weighted
features of :mod:`shoeagent.knowledge.features` (English stems and character n-grams, Chinese
character uni/bigrams, bilingual synonym groups) into a fixed-size, L2-normalised, non-negative
vector, so cosine similarity lies in [0, 1]. It implements Chroma's whole ``EmbeddingFunction``
interface and is registered, so a collection re-opened from its stored config rebuilds it.

``SHOEAGENT_EMBEDDINGS=ollama`` switches to an Ollama embedding model (``SHOEAGENT_EMBED_MODEL``,
default ``bge-m3``, at ``OLLAMA_HOST``), through Chroma's own Ollama embedding function.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from shoeagent.knowledge.features import FEATURES_VERSION, weighted

DEFAULT_DIM = 4096
DEFAULT_OLLAMA_MODEL = "bge-m3"


@register_embedding_function
class HashedNgramEmbedding(EmbeddingFunction[Documents]):
    """Offline bilingual embedding: hashed, weighted character/word n-gram features."""

    def __init__(self, dim: int = DEFAULT_DIM, features_version: int = FEATURES_VERSION) -> None:
        if dim < 64:
            raise ValueError(f"embedding dim must be at least 64, got {dim}")
        if features_version != FEATURES_VERSION:
            # An index built with other features would silently mismatch the queries.
            raise ValueError(
                f"index was built with features v{features_version}, this code has v{FEATURES_VERSION}; "
                "rebuild it with `shoeagent kb rebuild`"
            )
        self.dim = dim
        self.features_version = features_version

    def __call__(self, input: Documents) -> Embeddings:
        return [self.embed_one(text) for text in input]

    def embed_one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for feature, weight in weighted(text).items():
            vector[zlib.crc32(feature.encode("utf-8")) % self.dim] += weight
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            # Chroma rejects all-zero vectors under cosine; a tiny constant keeps "no features" harmless.
            vector[0] = 1e-6
            return vector
        return vector / norm

    @staticmethod
    def name() -> str:
        return "shoeagent-hashed-ngram"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "features_version": self.features_version}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "HashedNgramEmbedding":
        return HashedNgramEmbedding(
            dim=int(config.get("dim", DEFAULT_DIM)),
            features_version=int(config.get("features_version", FEATURES_VERSION)),
        )

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if int(config.get("dim", DEFAULT_DIM)) < 64:
            raise ValueError("embedding dim must be at least 64")

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        if old_config.get("dim") != new_config.get("dim"):
            raise ValueError("the embedding dim of an existing collection cannot change; rebuild the index")


def embedding_choice() -> str:
    """``SHOEAGENT_EMBEDDINGS``: "hashed" (the default; "offline" says the same) or "ollama";
    a ValueError naming the variable otherwise."""
    choice = os.environ.get("SHOEAGENT_EMBEDDINGS", "hashed").strip().lower()
    if choice in ("", "hashed", "offline"):
        return "hashed"
    if choice == "ollama":
        return choice
    raise ValueError(f"SHOEAGENT_EMBEDDINGS={choice!r} is not supported; use 'hashed' (default) or 'ollama', or unset it.")


def default_embedding() -> EmbeddingFunction[Documents]:
    """The embedding function the configuration asks for (offline hashed n-grams unless told otherwise)."""
    if embedding_choice() == "hashed":
        return HashedNgramEmbedding()
    from chromadb.utils.embedding_functions.ollama_embedding_function import OllamaEmbeddingFunction

    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    if not host.startswith("http"):
        host = "http://" + host
    model = os.environ.get("SHOEAGENT_EMBED_MODEL", DEFAULT_OLLAMA_MODEL)
    return OllamaEmbeddingFunction(url=host, model_name=model)


def config_key(ef: EmbeddingFunction[Documents]) -> str:
    """A short string naming the embedding and its config, part of the collection's name."""
    config = ef.get_config()
    parts = [ef.name()] + [f"{k}={config[k]}" for k in sorted(config) if k in ("dim", "features_version", "model_name")]
    return ",".join(str(p) for p in parts)
