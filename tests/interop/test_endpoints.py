"""The auxiliary endpoints MSAL (and operators) call: instance discovery,
user realm, health, metrics."""
import re
import urllib.parse

from _support import GRAPH_DEFAULT, HTTP_TIMEOUT, assert_token

_METRIC = re.compile(
    r'^tessera_token_requests_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)\s*$')


def _token_counters(http, base_url):
    r = http.get(base_url + "/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    out = {}
    for line in r.text.splitlines():
        m = _METRIC.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group("labels")))
            out[(labels.get("grant"), labels.get("outcome"))] = float(m.group("value"))
    return out


def _sum(counters, grant, outcome=None):
    return sum(v for (g, o), v in counters.items()
               if g == grant and (outcome is None or o == outcome))


def test_health(http, base_url):
    r = http.get(base_url + "/health", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text[:300])


def test_instance_discovery(http, base_url, authority):
    """The call MSAL makes when instance discovery is on (api-version 1.1)."""
    auth_ep = authority + "/oauth2/v2.0/authorize"
    r = http.get(base_url + "/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": auth_ep},
        timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    assert body["tenant_discovery_endpoint"] == (
        authority + "/v2.0/.well-known/openid-configuration"), body
    assert isinstance(body.get("metadata"), list) and body["metadata"], body


def test_user_realm_managed(http, base_url, user):
    r = http.get("%s/common/userrealm/%s" % (base_url, urllib.parse.quote(user["username"])),
                 params={"api-version": "1.0"}, headers={"Accept": "application/json"},
                 timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    assert body["account_type"] == "Managed", body
    if "domain_name" in body:
        assert body["domain_name"].lower() == user["username"].split("@")[-1].lower(), body


def test_metrics_count_token_requests(http, base_url, confidential_app):
    before = _token_counters(http, base_url)
    result = confidential_app().acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert_token(result)
    bad = confidential_app("wrong-secret-for-metrics").acquire_token_for_client(
        scopes=[GRAPH_DEFAULT])
    assert bad.get("error") == "invalid_client", bad
    after = _token_counters(http, base_url)
    assert _sum(after, "client_credentials") - _sum(before, "client_credentials") == 2, (
        before, after)
    # Exactly one success and one failure were counted, under different outcomes.
    grew = {o for (g, o), v in after.items()
            if g == "client_credentials" and v > before.get((g, o), 0)}
    assert len(grew) == 2, (before, after)
