"""StarCoder Chat: a conversation about the user's code, the server's second pipeline.

    messages + context -> chat prompt (the family's multi-turn form, budgeted)
    -> stream -> Markdown

params (what a client sends), context (attached files and selections, from the open
documents only), budget (what fits the window), service (the pipeline as plain functions).
"""
