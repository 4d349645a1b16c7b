"""Adapters to the world outside the database: chat models over the OpenAI protocol, the embedded
llama.cpp model, embedding endpoints and the embedded embedder, and document text extraction."""
