"""Sites and client keys as specs, the Directory's lookups, and a change seen by a running app."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aichat.extensions import db
from aichat.models import ClientKey, Site
from aichat.runtime import runtime_of
from aichat.tenancy import Directory, LOCAL_DOMAIN
from aichat.tenancy.specs import (ClientKeySpec, SiteSpec, SpecError, check_domain, check_limits, check_origin,
                                  check_preset)
from aichat.tenancy.store import bump, dumps, new_client_key, new_publishable_key

NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, clean", [
    ("https://Shop.Example.com/", "https://shop.example.com"),
    ("http://localhost:5000", "http://localhost:5000"),
    ("https://example.com:443", "https://example.com"),
    ("http://[::1]:8080", "http://[::1]:8080"),
])
def test_origins_are_stored_as_browsers_send_them(raw, clean):
    assert check_origin(raw) == clean


@pytest.mark.parametrize("raw", ["example.com", "ftp://example.com", "https://example.com/path", "https://",
                                 "https://user:pw@example.com", "https://example.com?x=1", "https://[::1"])
def test_what_is_not_an_origin_is_refused_naming_it(raw):
    with pytest.raises(SpecError, match="is not an origin"):
        check_origin(raw)


@pytest.mark.parametrize("raw", ["", "-bad.com", "exa mple.com", "例子.com", "a" * 64 + ".com", "example..com"])
def test_a_domain_is_a_host_name(raw):
    with pytest.raises(SpecError, match="not a host name"):
        check_domain(raw)


def test_limits_and_preset_check_every_value():
    assert check_limits({"rpm": "60", "cost_day": "2.50"}).cost_day == Decimal("2.50")
    for bad, message in [({"rpm": 0}, "at least 1"), ({"tpm": "many"}, "whole number"),
                         ({"cost_month": "-1"}, "positive amount"), ({"rps": 3}, "unknown limit"),
                         ({"currency": "dollars"}, "three-letter")]:
        with pytest.raises(SpecError, match=message):
            check_limits(bad)
    preset = check_preset({"allowed_models": ["gpt-4o*"], "default_model": "gpt-4o-mini", "max_tokens": 512})
    assert preset.allows_model("gpt-4o") and not preset.allows_model("gemini-2.5-pro")
    for bad, message in [({"temperature_min": 1.5, "temperature_max": 0.5}, "above temperature_max"),
                         ({"client_system": "sometimes"}, "one of refuse"),
                         ({"allowed_models": ["gpt-*"], "default_model": "gemini-2.5-flash"}, "not among"),
                         ({"temperature_max": 3}, "between 0 and 2"), ({"colour": "red"}, "unknown preset field")]:
        with pytest.raises(SpecError, match=message):
            check_preset(bad)


def test_the_directory_finds_sites_by_origin_and_keys_by_the_key_itself():
    key, prefix, digest = new_client_key()
    shop = SiteSpec(id=2, domain="shop.example", name="Shop", publishable_key=new_publishable_key(),
                    origins=frozenset({"https://shop.example"}))
    spec = ClientKeySpec(id=1, site_id=2, name="backend", prefix=prefix, digest=bytes.fromhex(digest),
                         expires_at=NOW + timedelta(days=1))
    directory = Directory([shop], [spec])
    assert directory.site_for_origin("https://shop.example/") is shop
    assert directory.site_for_origin("https://evil.example") is None
    assert directory.key_for(key) is spec and directory.key_for(key + "x") is None
    assert key.startswith("aic_live_") and prefix == key[:17] and digest != key
    assert spec.usable_at(NOW) and not spec.usable_at(NOW + timedelta(days=2))


def test_the_migration_makes_the_local_site_and_the_environment_adds_to_it(make_app):
    app = make_app(AICHAT_ALLOWED_ORIGINS=["https://www.example.org"], AICHAT_CONFIG_POLL_INTERVAL=0)
    directory = runtime_of(app).directory
    local = directory.local_site
    assert local.domain == LOCAL_DOMAIN and local.id is not None and local.publishable_key.startswith("pk_")
    assert directory.site_for_origin("https://www.example.org") is local
    legacy = [key for key in directory.keys.values() if key.id is None]
    assert [key.name for key in legacy] == ["AICHAT_API_KEYS"] and legacy[0].site_id == local.id


def test_a_stored_change_is_in_force_after_the_next_poll(make_app):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)
    live = runtime_of(app).tenancy
    assert live.poll() is False
    key, prefix, digest = new_client_key()
    with app.app_context():
        site = Site(domain="shop.example", name="Shop", publishable_key=new_publishable_key(),
                    origins=dumps(["https://shop.example"]), limits=dumps({"rpm": 10}))
        site.keys.append(ClientKey(name="backend", prefix=prefix, key_hash=digest))
        db.session.add(site)
        bump(db.session)
        db.session.commit()
    assert runtime_of(app).directory.site_for_origin("https://shop.example") is None  # not yet polled
    assert live.poll() is True
    directory = runtime_of(app).directory
    assert directory.site_for_origin("https://shop.example").limits.rpm == 10
    assert directory.site_of(directory.key_for(key)).domain == "shop.example"


def test_a_row_changed_by_hand_into_nonsense_is_left_out_and_the_rest_serve(make_app, caplog):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)
    with app.app_context():
        db.session.add(Site(domain="broken.example", name="Broken", publishable_key=new_publishable_key(),
                            limits=dumps({"rpm": -5})))
        db.session.add(Site(domain="fine.example", name="Fine", publishable_key=new_publishable_key()))
        bump(db.session)
        db.session.commit()
    assert runtime_of(app).tenancy.poll() is True
    domains = set(runtime_of(app).directory.by_domain)
    assert "fine.example" in domains and "broken.example" not in domains
    assert "site broken.example is left out" in caplog.text
