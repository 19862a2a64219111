#!/usr/bin/env python3
"""Signs the bench user in once through tessera's pages (IdP-initiated, like a browser) and
prints the Cookie header of the resulting SSO session and the SP-initiated Redirect-binding
URL the load generator repeats (each request then gets a freshly signed SAML Response).

  signin.py BASE TENANT APP_ID ENTITY USER PASSWORD CA"""
import base64
import html
import ssl
import sys
import urllib.parse
import urllib.request
import zlib

base, tenant, app_id, entity, user, password, ca = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
cookies = {}


def fetch(url, data=None):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode() if data else None)
    req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    with urllib.request.urlopen(req, context=ctx) as r:
        for h in r.headers.get_all("Set-Cookie") or []:
            k, rest = h.split("=", 1)
            cookies[k] = rest.split(";", 1)[0]
        return r.read().decode()


def form(page):
    action = html.unescape(page.split('action="', 1)[1].split('"', 1)[0])
    fields = {}
    for chunk in page.split('<input type="hidden" name="')[1:]:
        name, rest = chunk.split('"', 1)
        fields[html.unescape(name)] = html.unescape(rest.split('value="', 1)[1].split('"', 1)[0])
    return action, fields


page = fetch(f"{base}/api/signin/{app_id}?tenantId={tenant}")
for step in ("username", "password"):
    action, fields = form(page)
    fields["username"] = user
    if step == "password":
        fields["password"] = password
    page = fetch(action, fields)
assert "SAMLResponse" in page, page[:300]
request = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_bench" '
           f'Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{entity}</saml:Issuer></samlp:AuthnRequest>')
deflated = zlib.compress(request.encode())[2:-4]  # raw DEFLATE, as the Redirect binding has it
query = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(deflated).decode()})
print("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
print(f"{base}/{tenant}/saml2?{query}")
