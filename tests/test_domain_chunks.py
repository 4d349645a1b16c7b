from domain.chunks import chunk


def words(text: str) -> int:
    return len(text.split())


def test_short_texts_stay_whole() -> None:
    assert chunk("One small fact.", 10, words) == ["One small fact."]
    assert chunk("   \n\n  ", 10, words) == []


def test_paragraphs_then_sentences_then_words_are_packed_under_the_limit() -> None:
    text = "Alpha beta gamma.\n\nDelta epsilon. Zeta eta theta iota kappa lambda.\n\n" + "mu " * 25
    passages = chunk(text, 6, words)
    assert all(words(p) <= 6 for p in passages)
    assert passages[0] == "Alpha beta gamma.\n\nDelta epsilon."
    assert passages[1] == "Zeta eta theta iota kappa lambda."
    assert " ".join(" ".join(p.split()) for p in passages) == " ".join(text.split())


def test_sentences_of_one_paragraph_rejoin_with_spaces() -> None:
    text = " ".join(f"Sentence {i} is here." for i in range(12))
    passages = chunk(text, 10, words)
    assert len(passages) > 1 and " ".join(passages) == text


def test_an_overlong_word_is_kept_whole() -> None:
    assert chunk("x" * 500, 3, lambda t: len(t) // 100) == ["x" * 500]


def test_the_embedded_tokenizer_counts_long_texts_whole() -> None:
    from runtime.adapters.embeddings import LocalEmbedder

    text = " ".join(f"Rule {i} says the harbour closes at {i} pm." for i in range(80))
    embedder = LocalEmbedder()
    assert embedder.count_tokens(text) > 600  # not cut at the model's 256-token input limit
    passages = chunk(text, 300, embedder.count_tokens)
    assert len(passages) >= 3 and all(embedder.count_tokens(p) <= 300 for p in passages)
