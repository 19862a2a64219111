"""SAML 2.0 sign-in through pysaml2 (IdentityPython's service-provider library, which checks
signatures with xmlsec1), unchanged, against `tessera serve`.

The SAML app is registered the way an admin script does it: Graph's POST /applications with
identifierUris and web.redirectUris, POST /servicePrincipals, PATCH
preferredSingleSignOnMode=saml. pysaml2 reads tessera's federation metadata, makes the
AuthnRequest (HTTP-Redirect binding) and validates the Response itself: signature, issuer,
audience, destination, InResponseTo and conditions. The sign-in pages are answered as a
browser would post them (the Chromium run is tests/browser/saml.test.mjs)."""
import base64
import json
import shutil
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import Config as Saml2Config
from saml2.saml import NAMEID_FORMAT_PERSISTENT

from _support import GRAPH_DEFAULT, HTTP_TIMEOUT

XMLSEC = shutil.which("xmlsec1")
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def _form(html):
    """The action and hidden fields of the first form on a page."""
    import html as h
    action = h.unescape(html.split('action="', 1)[1].split('"', 1)[0])
    fields = {}
    for chunk in html.split('<input type="hidden" name="')[1:]:
        name, rest = chunk.split('"', 1)
        value = rest.split('value="', 1)[1].split('"', 1)[0]
        fields[h.unescape(name)] = h.unescape(value)
    return action, fields


def _sign_in(browser, url, user):
    """Follows the sign-in pages from `url` to the page that posts to the app."""
    page = browser.get(url, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    for _ in range(4):
        if 'name="password"' in page.text:
            action, fields = _form(page.text)
            fields.update(username=user["username"], password=user["password"])
        elif 'name="username"' in page.text:
            action, fields = _form(page.text)
            fields["username"] = user["username"]
        else:
            return page
        page = browser.post(action, data=fields, timeout=HTTP_TIMEOUT)
    return page


@pytest.fixture(scope="module")
def graph(demo, http):
    token = http.post(demo["authority"] + "/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": demo["daemon"]["client_id"],
        "client_secret": demo["daemon"]["client_secret"], "scope": GRAPH_DEFAULT,
    }, timeout=HTTP_TIMEOUT).json()["access_token"]

    def call(method, path, body=None):
        r = http.request(method, demo["graph_url"] + path, json=body, timeout=HTTP_TIMEOUT,
                         headers={"Authorization": "Bearer " + token})
        return r.status_code, (r.json() if r.content else None)
    return call


@pytest.fixture(scope="module")
def saml_app(graph):
    """A SAML app registered through Graph; deleted afterwards."""
    entity = "https://pysaml2.example/" + uuid.uuid4().hex[:8]
    acs = entity + "/acs"
    status, app = graph("POST", "/applications", {
        "displayName": "pysaml2 SP", "identifierUris": [entity],
        "web": {"redirectUris": [acs], "logoutUrl": entity + "/slo"}})
    assert status == 201, app
    status, sp = graph("POST", "/servicePrincipals", {"appId": app["appId"]})
    assert status == 201, sp
    status, _ = graph("PATCH", "/servicePrincipals/" + sp["id"],
                      {"preferredSingleSignOnMode": "saml"})
    assert status == 204
    yield {"entity": entity, "acs": acs, "app": app, "sp": sp}
    graph("DELETE", "/applications/" + app["id"])


@pytest.fixture(scope="module")
def sp_client(saml_app, authority, http, tmp_path_factory):
    if XMLSEC is None:
        pytest.fail("pysaml2 needs xmlsec1: apt-get install xmlsec1 (scripts/test does as root)",
                    pytrace=False)
    tenant = urllib.parse.urlsplit(authority).path.strip("/")
    base = authority.rsplit("/", 1)[0]
    md = http.get(f"{base}/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
                  timeout=HTTP_TIMEOUT)
    assert md.status_code == 200
    path = tmp_path_factory.mktemp("saml") / "idp.xml"
    path.write_bytes(md.content)
    conf = Saml2Config()
    conf.load({
        "entityid": saml_app["entity"],
        "metadata": {"local": [str(path)]},
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(saml_app["acs"], BINDING_HTTP_POST)]},
            "allow_unsolicited": True,
            "authn_requests_signed": False,
            "want_assertions_signed": True,
            "want_response_signed": False,
        }},
        "xmlsec_binary": XMLSEC,
        "allow_unknown_attributes": True,
    })
    return Saml2Client(config=conf)


def _request(sp_client, **kwargs):
    reqid, info = sp_client.prepare_for_authenticate(binding=BINDING_HTTP_REDIRECT, **kwargs)
    return reqid, dict(info["headers"])["Location"]


def _assertion_times(xml_text):
    root = ET.fromstring(xml_text)
    a = root.find(f"{{{SAML}}}Assertion")
    parse = lambda t: time.mktime(time.strptime(t.split(".")[0], "%Y-%m-%dT%H:%M:%S"))
    issued = parse(a.get("IssueInstant"))
    cond = a.find(f"{{{SAML}}}Conditions")
    data = a.find(f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation/{{{SAML}}}SubjectConfirmationData")
    return (parse(cond.get("NotBefore")) - issued, parse(cond.get("NotOnOrAfter")) - issued,
            parse(data.get("NotOnOrAfter")) - issued)


def test_sp_initiated_sign_in_is_validated_by_pysaml2(sp_client, saml_app, ca_path, user, tenant_id):
    browser = requests.Session()
    browser.verify = ca_path
    reqid, url = _request(sp_client, relay_state="/after")
    page = _sign_in(browser, url, user)
    action, fields = _form(page.text)
    assert action == saml_app["acs"]
    assert fields["RelayState"] == "/after"
    response = sp_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/after"})
    assert response is not None and response.in_response_to == reqid
    assert response.name_id.text == user["username"]
    # pysaml2 maps the claims it knows (its ADFS attribute map) to friendly names.
    identity = response.get_identity()
    assert identity["http://schemas.microsoft.com/identity/claims/tenantid"] == [tenant_id]
    assert identity["name"] == [user["username"]], sorted(identity)
    assert identity["emailAddress"] == [user["username"]]
    assert identity["givenName"] == ["Adele"] and identity["surname"] == ["Vance"]
    assert "http://schemas.microsoft.com/identity/claims/objectidentifier" in identity
    assert response.assertion.authn_statement[0].session_index == response.assertion.id

    # The session signs the user in again without pages, with a persistent NameID this time.
    reqid2, url = _request(sp_client, nameid_format=NAMEID_FORMAT_PERSISTENT)
    page = browser.get(url, timeout=HTTP_TIMEOUT)
    _, fields = _form(page.text)
    second = sp_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid2: "/"})
    assert second.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert len(second.name_id.text) == 43 and "@" not in second.name_id.text


def test_a_tampered_assertion_is_rejected_by_pysaml2(sp_client, ca_path, user):
    browser = requests.Session()
    browser.verify = ca_path
    reqid, url = _request(sp_client)
    page = _sign_in(browser, url, user)
    _, fields = _form(page.text)
    xml_text = base64.b64decode(fields["SAMLResponse"]).decode()
    name = user["username"]
    assert xml_text.count(name) >= 2
    tampered = xml_text.replace(f"<AttributeValue>{name}</AttributeValue>",
                                "<AttributeValue>admin@evil.example</AttributeValue>")
    assert tampered != xml_text
    with pytest.raises(Exception) as refused:
        sp_client.parse_authn_request_response(
            base64.b64encode(tampered.encode()).decode(), BINDING_HTTP_POST,
            outstanding={reqid: "/"})
    assert "ignature" in type(refused.value).__name__ + str(refused.value)
    # The untouched response still validates: the refusal was the change, not the setup.
    assert sp_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/"}) is not None


def test_a_lifetime_policy_reaches_not_on_or_after(sp_client, saml_app, graph, ca_path, user):
    browser = requests.Session()
    browser.verify = ca_path

    def times():
        reqid, url = _request(sp_client)
        page = _sign_in(browser, url, user)
        _, fields = _form(page.text)
        assert sp_client.parse_authn_request_response(
            fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={reqid: "/"})
        return _assertion_times(base64.b64decode(fields["SAMLResponse"]).decode())

    assert times() == (-300, 3600, 3600)
    definition = json.dumps({"TokenLifetimePolicy": {"Version": 1, "AccessTokenLifetime": "02:00:00"}})
    status, policy = graph("POST", "/policies/tokenLifetimePolicies", {
        "definition": [definition], "displayName": "pysaml2 two hours",
        "isOrganizationDefault": False})
    assert status == 201, policy
    ref = {"@odata.id": "https://graph.microsoft.com/v1.0/policies/tokenLifetimePolicies/" + policy["id"]}
    status, body = graph("POST", f"/servicePrincipals/{saml_app['sp']['id']}/tokenLifetimePolicies/$ref", ref)
    assert status == 204, body
    try:
        assert times() == (-300, 2 * 3600 + 300, 3600)
    finally:
        graph("DELETE", f"/servicePrincipals/{saml_app['sp']['id']}/tokenLifetimePolicies/{policy['id']}/$ref")
        graph("DELETE", "/policies/tokenLifetimePolicies/" + policy["id"])
    assert times() == (-300, 3600, 3600)


def test_idp_initiated_sign_in_is_accepted_unsolicited(sp_client, saml_app, authority, ca_path, user, tenant_id):
    browser = requests.Session()
    browser.verify = ca_path
    base = authority.rsplit("/", 1)[0]
    page = _sign_in(browser, f"{base}/api/signin/{saml_app['app']['appId']}?tenantId={tenant_id}", user)
    action, fields = _form(page.text)
    assert action == saml_app["acs"]
    response = sp_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={})
    assert response.in_response_to is None
    assert response.name_id.text == user["username"]
