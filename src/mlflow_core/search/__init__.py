"""Search grammars (filter strings, order_by, page tokens), parsed into plain values.

Parsing lives in the core so every adapter answers the same question; compiling the parsed
clauses into a query is the adapter's job.
"""
