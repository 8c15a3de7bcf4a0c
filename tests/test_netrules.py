"""Allow and deny lists: parsed once with errors that name the entry, deny over allow, IPv4-mapped IPv6 as IPv4."""
import pytest

from aichat.netrules import NetRule, NetRuleError, parse_address, storable_address, validate


@pytest.mark.parametrize("allow, deny, address, admitted", [
    ([], [], "203.0.113.7", True),  # an empty rule admits everyone
    ([], [], None, True),
    (["10.0.0.0/8"], [], "10.1.2.3", True),
    (["10.0.0.0/8"], [], "11.1.2.3", False),
    (["10.0.0.0/8"], ["10.6.0.0/16"], "10.6.0.1", False),  # deny wins
    (["10.6.0.1"], ["10.6.0.0/16"], "10.6.0.1", False),  # even over a more precise allow
    ([], ["203.0.113.0/24"], "203.0.113.7", False),  # deny alone: everyone else
    ([], ["203.0.113.0/24"], "198.51.100.1", True),
    (["2001:db8::/32"], [], "2001:db8:ffff::1", True),
    (["2001:db8::/32"], [], "2001:db9::1", False),
    (["2001:db8::/32"], ["2001:db8:bad::/48"], "2001:db8:bad::1", False),
    (["10.0.0.0/8"], [], "::ffff:10.0.0.9", True),  # a dual-stack socket's IPv4 client
    (["::ffff:10.0.0.0/104"], [], "10.0.0.9", True),  # a mapped network is its IPv4 network
    ([], ["::ffff:10.0.0.0/104"], "::ffff:10.0.0.9", False),
    (["10.0.0.0/8"], [], "2001:db8::1", False),  # other family: not in the list
    (["10.0.0.0/8"], [], None, False),  # no address (a unix socket) passes only an open rule
    ([], ["10.0.0.0/8"], "", False),
    (["10.0.0.0/8"], [], "not-an-ip", False),
    (["0.0.0.0/0", "::/0"], [], "2001:db8::1", True),
])
def test_who_is_admitted(allow, deny, address, admitted):
    assert NetRule.parse(allow, deny).admits(address) is admitted


@pytest.mark.parametrize("entry", ["10.0.0.300", "localhost", "10.0.0.0/33", "", " ", "fd00::/200", "10.0.0.0/8/8",
                                   "2001:db8::g", None, 42])
def test_a_bad_entry_is_an_error_naming_the_list_and_the_entry(entry):
    with pytest.raises(NetRuleError) as exc:
        NetRule.parse(["127.0.0.1"], [entry], names=("--allow-ip", "--deny-ip"))
    assert str(exc.value).startswith(f"--deny-ip: {entry!r} is not an IP address or network")


def test_validate_gives_the_canonical_form_a_command_stores():
    """What `flask sites`/`flask keys` will store: one spelling per network, duplicates gone, host bits cleared."""
    assert validate([" 10.1.2.3/8", "10.0.0.0/8", "203.0.113.7", "2001:DB8::1/32", "::ffff:192.0.2.0/120"]) == [
        "10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "192.0.2.0/24"]
    with pytest.raises(NetRuleError, match=r"--allow-ip: 'example\.com'"):
        validate(["example.com"], "--allow-ip")
    assert isinstance(NetRuleError("x"), ValueError), "a command can catch it as a plain ValueError"


def test_addresses():
    assert str(parse_address("::ffff:203.0.113.7")) == "203.0.113.7"
    assert str(parse_address(" 2001:db8::1 ")) == "2001:db8::1"
    assert parse_address("") is None and parse_address(None) is None and parse_address("unix:x") is None


@pytest.mark.parametrize("mode, address, stored", [
    ("full", "203.0.113.77", "203.0.113.77"),
    ("full", "2001:db8:1:2::5", "2001:db8:1:2::5"),
    ("truncated", "203.0.113.77", "203.0.113.0/24"),
    ("truncated", "::ffff:203.0.113.77", "203.0.113.0/24"),
    ("truncated", "2001:db8:1:2::5", "2001:db8:1::/48"),
    ("truncated", "not-an-ip", None),
    ("none", "203.0.113.77", None),
    ("full", None, None),
])
def test_how_an_address_is_stored(mode, address, stored):
    assert storable_address(address, mode) == stored
