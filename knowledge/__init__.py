"""The bilingual shoe-mold knowledge base: curated YAML entries, a Chroma index, and search."""
