"""The admin bootstrap of issue 11 through msgraph-sdk for Python over azure-identity,
unchanged: the demo daemon (an admin app) creates an app, gives it a secret, a service
principal and Graph's User.Read.All; the new app's token carries exactly that role and
pages through the users with msgraph_core's PageIterator; once the grant is removed the
next token has no role and Graph answers 403. Group writes and $ref go the same way.

Only the authority host and the Graph base URL differ from a script written for Entra:
the SDK's default provider derives its scope from the request host, so the scope and
the allowed host are given, as bench/graph-walk does."""
import asyncio
import time
import urllib.parse
import uuid

import pytest
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

from _support import GRAPH_DEFAULT, unverified

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@pytest.fixture(scope="module")
def graph_url(demo):
    return demo["graph_url"].rstrip("/")


def _credential(authority, client_id, secret):
    parts = urllib.parse.urlsplit(authority)
    return ClientSecretCredential(
        parts.path.strip("/"), client_id, secret,
        authority=f"{parts.scheme}://{parts.netloc}",
        disable_instance_discovery=True)  # not a Microsoft cloud host


def _client(credential, graph_url):
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_DEFAULT],
        allowed_hosts=[urllib.parse.urlsplit(graph_url).hostname])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = graph_url
    client = GraphServiceClient(request_adapter=adapter)
    client.adapter = adapter  # for PageIterator
    return client


async def _roles(credential):
    token = await credential.get_token(GRAPH_DEFAULT)
    return unverified(token.token)[1].get("roles")


async def _all_user_ids(client):
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=2)
    first = await client.users.get(
        request_configuration=RequestConfiguration(query_parameters=query))
    ids = []
    pages = [len(first.value)]

    def collect(user):
        ids.append(user.id)
        return True

    await PageIterator(first, client.adapter).iterate(collect)
    return ids, pages


def test_bootstrap_an_app_grant_and_revoke(demo, authority, graph_url):
    async def run():
        admin_cred = _credential(authority, demo["daemon"]["client_id"],
                                 demo["daemon"]["client_secret"])
        admin = _client(admin_cred, graph_url)
        tag = uuid.uuid4().hex[:8]
        # Enough users for several pages of two.
        made = []
        for i in range(3):
            made.append(await admin.users.post(User(
                account_enabled=True, display_name=f"Paged {tag} {i}",
                mail_nickname=f"paged{tag}{i}",
                user_principal_name=f"paged{tag}{i}@{demo['tenant_domain']}",
                password_profile=PasswordProfile(
                    force_change_password_next_sign_in=False,
                    password=f"Paged-{uuid.uuid4().hex}"))))
        name = f"nightly report {tag}"
        app = await admin.applications.post(Application(display_name=name))
        assert app.id and app.app_id and app.display_name == name
        try:
            body = AddPasswordPostRequestBody(
                password_credential=PasswordCredential(display_name="ci"))
            secret = await admin.applications.by_application_id(app.id).add_password.post(body)
            assert secret.secret_text and secret.key_id and secret.end_date_time

            sp = await admin.service_principals.post(ServicePrincipal(app_id=app.app_id))
            assert sp.id and sp.app_id == app.app_id
            graph = await admin.service_principals_with_app_id(GRAPH_APP_ID).get()
            role = next(r for r in graph.app_roles if r.value == "User.Read.All")
            granted = await admin.service_principals.by_service_principal_id(
                sp.id).app_role_assignments.post(AppRoleAssignment(
                    principal_id=uuid.UUID(sp.id), resource_id=uuid.UUID(graph.id),
                    app_role_id=role.id))
            assert granted.id and str(granted.app_role_id) == str(role.id)
            assert granted.resource_display_name == "Microsoft Graph"

            # The new app, with the secret it was just given: exactly the granted role.
            cred = _credential(authority, app.app_id, secret.secret_text)
            assert await _roles(cred) == ["User.Read.All"]
            worker = _client(cred, graph_url)
            ids, first_page = await _all_user_ids(worker)
            assert first_page == [2], "the first page honours $top"
            assert len(ids) == len(set(ids)) >= 4
            assert {u.id for u in made} <= set(ids)
            everyone = await admin.users.get()
            assert set(ids) == {u.id for u in everyone.value}
            await cred.close()

            # Revoke: a fresh credential's token has no role and Graph answers 403.
            await admin.service_principals.by_service_principal_id(
                sp.id).app_role_assignments.by_app_role_assignment_id(granted.id).delete()
            cred = _credential(authority, app.app_id, secret.secret_text)
            assert await _roles(cred) is None
            with pytest.raises(ODataError) as refused:
                await _client(cred, graph_url).users.get()
            await cred.close()
            assert refused.value.response_status_code == 403
            assert refused.value.error.code == "Authorization_RequestDenied"
        finally:
            await admin.applications.by_application_id(app.id).delete()
            for u in made:
                await admin.users.by_user_id(u.id).delete()
        # Deleted: the app's credential no longer signs in, and Graph says 404.
        with pytest.raises(ODataError) as gone:
            await admin.applications.by_application_id(app.id).get()
        assert gone.value.response_status_code == 404
        assert gone.value.error.code == "Request_ResourceNotFound"
        await admin_cred.close()

    asyncio.run(run())


def test_group_writes_and_duplicate_reference(demo, authority, graph_url):
    async def run():
        cred = _credential(authority, demo["daemon"]["client_id"],
                           demo["daemon"]["client_secret"])
        admin = _client(cred, graph_url)
        nick = f"bootstrap{int(time.time() * 1000) % 10**9}"
        group = await admin.groups.post(Group(
            display_name="Bootstrap team", mail_nickname=nick, mail_enabled=False,
            security_enabled=True))
        try:
            assert group.id and group.mail_nickname == nick
            me = (await admin.users.by_user_id(demo["user"]["username"]).get())
            ref = ReferenceCreate(odata_id=f"{graph_url}/directoryObjects/{me.id}")
            await admin.groups.by_group_id(group.id).members.ref.post(ref)
            members = await admin.groups.by_group_id(group.id).members.get()
            assert [m.id for m in members.value] == [me.id]
            with pytest.raises(ODataError) as dup:
                await admin.groups.by_group_id(group.id).members.ref.post(ref)
            assert dup.value.response_status_code == 400
            assert "One or more added object references already exist" in (
                dup.value.error.message), dup.value.error.message
            member_of = await admin.users.by_user_id(me.id).member_of.get()
            assert group.id in [g.id for g in member_of.value]
            await admin.groups.by_group_id(group.id).members.by_directory_object_id(
                me.id).ref.delete()
            members = await admin.groups.by_group_id(group.id).members.get()
            assert members.value == []
        finally:
            await admin.groups.by_group_id(group.id).delete()
        await cred.close()

    asyncio.run(run())

