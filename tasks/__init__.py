"""Built-in task plugins (installed as `longctx_eval_tasks`), loaded like any user's plugin."""
