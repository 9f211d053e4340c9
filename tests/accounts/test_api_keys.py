"""Workspace API keys: created by owners and admins, shown once, stored hashed, revocable."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, AuditEvent
from accounts.tokens import hash_secret

pytestmark = pytest.mark.django_db


def _create_key(workspace, name="backend"):
    return services.api_key_create(workspace=workspace, name=name, actor=workspace.created_by)


def _get(client, raw_key: str, **extra):
    return client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {raw_key}", **extra)


def test_creating_a_key_shows_it_once_and_stores_only_its_hash(owner_client, workspace):
    response = owner_client.post(f"/w/{workspace.slug}/api-keys/new/", {"name": "Production"})

    assert response.status_code == 201
    raw_key = response.context["new_key"]
    assert raw_key.startswith("hk_")
    assert raw_key in response.text
    api_key = ApiKey.objects.get()
    _, prefix, secret = raw_key.split("_", 2)
    assert api_key.prefix == prefix
    assert api_key.secret_hash == hash_secret(secret)
    assert secret not in str(list(ApiKey.objects.values()))
    listing = owner_client.get(f"/w/{workspace.slug}/api-keys/")
    assert "Production" in listing.text
    assert raw_key not in listing.text
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_KEY_CREATED).count() == 1


def test_a_key_authenticates_as_its_workspace(client, workspace):
    _, raw_key = _create_key(workspace)

    response = _get(client, raw_key)

    assert response.status_code == 200
    assert response.json()["slug"] == workspace.slug
    assert response.json()["members"] == 1


def test_a_call_records_when_the_key_was_last_used(client, workspace):
    api_key, raw_key = _create_key(workspace)
    assert api_key.last_used_at is None

    _get(client, raw_key)

    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(workspace):
    _, raw_key = _create_key(workspace)
    start = timezone.now()

    services.api_key_authenticate(raw_key=raw_key, now=start)
    services.api_key_authenticate(raw_key=raw_key, now=start + timedelta(seconds=30))
    assert ApiKey.objects.get().last_used_at == start
    services.api_key_authenticate(raw_key=raw_key, now=start + timedelta(minutes=2))
    assert ApiKey.objects.get().last_used_at == start + timedelta(minutes=2)


def test_a_revoked_key_is_refused_with_401(owner_client, client, workspace):
    api_key, raw_key = _create_key(workspace)
    assert _get(client, raw_key).status_code == 200

    revoke = owner_client.post(f"/w/{workspace.slug}/api-keys/{api_key.pk}/revoke/")
    response = _get(client, raw_key)

    assert revoke.status_code == 302
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key."}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoking_twice_is_refused(owner_client, workspace):
    api_key, _ = _create_key(workspace)
    services.api_key_revoke(api_key=api_key, actor=workspace.created_by)
    revoked_at = ApiKey.objects.get().revoked_at

    response = owner_client.post(f"/w/{workspace.slug}/api-keys/{api_key.pk}/revoke/")

    assert response.status_code == 409
    assert "already revoked" in response.text
    assert ApiKey.objects.get().revoked_at == revoked_at


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_accepted_in_any_letter_case(client, workspace, scheme):
    _, raw_key = _create_key(workspace)

    response = client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"{scheme} {raw_key}")

    assert response.status_code == 200
    assert response.json()["slug"] == workspace.slug


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer hk_nope_nope",
        "Bearer not-a-key",
        "Token hk_abc_def",
    ],
)
def test_missing_malformed_or_wrong_keys_get_401(client, workspace, header):
    _create_key(workspace)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/api/v1/workspace", **extra)

    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_right_prefix_with_a_wrong_secret_is_refused(client, workspace):
    api_key, _ = _create_key(workspace)

    response = _get(client, f"hk_{api_key.prefix}_{'x' * 43}")

    assert response.status_code == 401
    assert ApiKey.objects.get().last_used_at is None


def test_a_logged_in_user_without_a_key_gets_401_from_the_key_api(owner_client, workspace):
    assert owner_client.get("/api/v1/workspace").status_code in (401, 403)


def test_members_see_keys_read_only_and_cannot_create_or_revoke(client, workspace, member_user):
    api_key, _ = _create_key(workspace)
    client.force_login(member_user)

    page = client.get(f"/w/{workspace.slug}/api-keys/")
    create = client.post(f"/w/{workspace.slug}/api-keys/new/", {"name": "mine"})
    revoke = client.post(f"/w/{workspace.slug}/api-keys/{api_key.pk}/revoke/")

    assert page.status_code == 200
    assert "Create a key" not in page.text
    assert (create.status_code, revoke.status_code) == (403, 403)
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize(("name", "status"), [("", 400), ("   ", 400), ("x" * 101, 400)])
def test_bad_key_names_are_refused(owner_client, workspace, name, status):
    response = owner_client.post(f"/w/{workspace.slug}/api-keys/new/", {"name": name})

    assert response.status_code == status
    assert response.context["form"].errors["name"]
    assert not ApiKey.objects.exists()


def test_api_keys_page_query_count_does_not_grow_with_keys(
    owner_client, workspace, django_assert_max_num_queries
):
    for n in range(12):
        _create_key(workspace, name=f"key {n}")

    with django_assert_max_num_queries(6):
        assert owner_client.get(f"/w/{workspace.slug}/api-keys/").status_code == 200
