"""The floor aichat is compared with: a bare Flask relay to the same upstream, nothing else.

gunicorn -k gevent (streams) or -k gthread (JSON) --chdir bench relay:app, RELAY_UPSTREAM=http://host:port.
No key check, limits, accounting or logging: what any Python relay on Flask and gunicorn costs.
"""
import os

import requests
from flask import Flask, Response, request

app = Flask(__name__)
UPSTREAM = os.environ["RELAY_UPSTREAM"]
HEADERS = {"Authorization": "Bearer sk-relay", "Content-Type": "application/json"}
session = requests.Session()
# A pooled connection per request in flight, so no request waits on the pool or reconnects.
session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=5000))


@app.route("/v1/<path:path>", methods=["GET", "POST"])
def relay(path):
    stream = request.method == "POST" and bool((request.get_json(silent=True) or {}).get("stream"))
    up = session.request(request.method, f"{UPSTREAM}/v1/{path}", data=request.get_data(), headers=HEADERS,
                         stream=stream, timeout=120)
    if not stream:
        return Response(up.content, up.status_code, content_type=up.headers.get("content-type"))

    def events():
        # One SSE event per upstream line, sent as it arrives.
        try:
            for line in up.iter_lines():
                if line:
                    yield line + b"\n\n"
        finally:
            up.close()

    return Response(events(), up.status_code, content_type="text/event-stream", headers={"Cache-Control": "no-cache"})
