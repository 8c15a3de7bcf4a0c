"""Reading /metrics the way Prometheus does: the text format, parsed by prometheus_client's parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples. Reading a series that is not exposed fails: an absent series is not a zero."""

    def __init__(self, text: str):
        self.text = text
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def has(self, name: str, **labels) -> bool:
        """Is this series exposed?"""
        return (name, frozenset(labels.items())) in self.samples

    def value(self, name: str, **labels) -> float:
        """The series' value; AssertionError, naming the series there are, when it is not exposed."""
        if not self.has(name, **labels):
            there = sorted(str(dict(found)) for found in self.series(name))
            raise AssertionError(f"{name}{labels} is not exposed; {name} series: {there or 'none'}")
        return self.samples[(name, frozenset(labels.items()))]

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
    """What changed between two scrapes of the same app.

    The series must be exposed in the later scrape. Absent from the earlier one, it appeared in
    between, and labelled counters and histograms appear at 0 on first use: the change is its value."""

    def __init__(self, before: Scrape, after: Scrape):
        self.before, self.after = before, after

    def __call__(self, name: str, **labels) -> float:
        before = self.before.value(name, **labels) if self.before.has(name, **labels) else 0.0
        return self.after.value(name, **labels) - before

    def unchanged(self, name: str, **labels) -> bool:
        """The series is in neither scrape, or has the same value in both."""
        if not self.after.has(name, **labels):
            return not self.before.has(name, **labels)
        return self(name, **labels) == 0
