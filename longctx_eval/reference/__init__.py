"""The reference model: a small Llama trained by the project, so a CPU quickstart measures something real."""
