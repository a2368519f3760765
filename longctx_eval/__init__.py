"""longctx-eval: how far does a model's context really reach, and which RoPE method gets it furthest?"""

__version__ = "0.1.0"
