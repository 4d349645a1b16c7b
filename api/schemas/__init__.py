"""The wire shapes: MemGPT's own routes (`memgpt`) and the OpenAI Assistants routes (`assistants`)."""
