"""Reading /metrics the way Prometheus does: the text format, parsed by prometheus_client's parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples; `value(name, **labels)` is 0 for a series not exposed (yet)."""

    def __init__(self, text: str):
        self.text = text
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name: str) -> dict[frozenset, float]:
        return {labels: value for (sample, labels), value in self.samples.items() if sample == name}


def scrape(client, **headers) -> Scrape:
    """GET /metrics through a Flask test client, or a base URL with requests."""
    if isinstance(client, str):
        import requests

        resp = requests.get(client + "/metrics", headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return Scrape(resp.text)
    with client.get("/metrics", headers=headers) as resp:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return Scrape(resp.get_data(as_text=True))


class Delta:
    """What changed between two scrapes of the same app."""

    def __init__(self, before: Scrape, after: Scrape):
        self.before, self.after = before, after

    def __call__(self, name: str, **labels) -> float:
        return self.after.value(name, **labels) - self.before.value(name, **labels)
