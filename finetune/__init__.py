"""Fine-tuning: knowledge base -> dataset -> LoRA training -> evaluation -> GGUF export -> Modelfile."""
