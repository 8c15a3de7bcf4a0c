"""Upstreams as data: the database store of upstreams and their keys, and `flask upstreams …`."""
