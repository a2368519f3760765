"""LongRoPE factor search: the evolutionary algorithm and its perplexity objective."""
