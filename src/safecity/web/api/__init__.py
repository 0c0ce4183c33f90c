"""HTTP API routers, one module per domain: thin (parse, call one service function, shape the answer)."""
