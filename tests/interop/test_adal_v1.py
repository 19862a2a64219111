"""The v1.0 endpoint through the real ADAL for Python (adal 1.2.7, the library the
classic recipes used): client credentials with `resource`, the device code request, and
the v1 response fields ADAL reads (`expiresOn`, `resource`, string numbers)."""
import adal
import pytest

from _support import GRAPH, unverified


@pytest.fixture(scope="module")
def context(authority):
    # ADAL checks an authority against login.microsoftonline.com unless told not to; any
    # custom authority (ADFS, sovereign test hosts) is used this way.
    return adal.AuthenticationContext(authority, validate_authority=False)


def test_client_credentials_with_resource(context, daemon, tenant_id):
    token = context.acquire_token_with_client_credentials(
        GRAPH, daemon["client_id"], daemon["client_secret"])
    assert token["resource"] == GRAPH, token
    assert token["tokenType"] == "Bearer", token
    # ADAL turns the string expires_in/expires_on into its own fields.
    assert 3000 <= int(token["expiresIn"]) <= 5400, token
    assert token["expiresOn"], token
    _, claims = unverified(token["accessToken"])
    assert claims["aud"] == GRAPH
    assert claims["appid"] == daemon["client_id"]
    assert claims["tid"] == tenant_id
    assert claims["iss"] == f"https://sts.windows.net/{tenant_id}/"


def test_wrong_secret_is_refused_with_the_aadsts_code(authority, daemon):
    # A context of its own: ADAL answers from its in-memory cache by resource and client id
    # alone, so a context that already holds a token would not even ask.
    fresh = adal.AuthenticationContext(authority, validate_authority=False)
    with pytest.raises(adal.AdalError) as failed:
        fresh.acquire_token_with_client_credentials(GRAPH, daemon["client_id"], "not-it")
    assert "AADSTS7000215" in str(failed.value.error_response), failed.value.error_response


def test_device_code_request_and_pending_poll(context, public_client):
    code = context.acquire_user_code(GRAPH, public_client["client_id"])
    assert code["user_code"] and code["device_code"], code
    assert code["verification_url"].endswith("/devicelogin"), code
    # Entra sends these as strings on v1; ADAL converts them to numbers as it reads them.
    assert int(code["expires_in"]) == 900 and int(code["interval"]) == 5, code
    # A short wait: every poll is answered authorization_pending (the user never signs in),
    # which ADAL keeps polling on until the code's time is up; any other answer (a refused
    # grant, a malformed body) would end the wait at once with that error instead.
    code["expires_in"] = 6
    with pytest.raises(adal.AdalError) as failed:
        context.acquire_token_with_device_code(GRAPH, code, public_client["client_id"])
    assert "Timeout" in str(failed.value), (failed.value, failed.value.error_response)
