"""The operator API's pure core: bearer-token auth, request routing and body validation, and
the shaping of status, trades, equity, health and Prometheus metrics. No Ray, no sockets:
`actors/operator.py` serves it over HTTP with a backend that asks the actors."""
