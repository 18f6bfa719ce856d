"""The admin's model settings: enabled and default models, neuron quota, per-model checks, refused inputs in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from akari.accounts import Accounts
from akari.db.models import Generation, User, utcnow
from akari.model_choice import ModelChoice
from akari.model_health import check_models, refused_inputs
from akari.models_catalog import CATALOG, get_model
from akari.quota import Quotas
from tests.ui_fixtures import add_user, app, open_accounts, reset_streamlit, sign_in

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"
SDXL = "@cf/bytedance/stable-diffusion-xl-lightning"


@pytest.fixture(autouse=True)
def _fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    yield from open_accounts()


def texts(elements) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def admin_page(accounts: Accounts):
    add_user(accounts, "root", admin=True)
    at = app("pages/admin.py")
    at.run()
    at = sign_in(at, "root")
    at.session_state["admin_tab"] = "Backends"  # the models' settings live there; only the open tab runs
    return at.run()


def refused(sessions: sessionmaker, model: str, field: str, minutes_ago: int) -> None:
    with sessions.begin() as session:
        user_id = session.scalar(select(User.id).limit(1))
        session.add(Generation(
            user_id=user_id, prompt="p", steps=4, seed=1, model=model, generator="cloudflare", store="local",
            status="failed", error_reason="rejected_field", error_code="5006",
            error_message=f'{get_model(model).label} refused the "{field}" input Akari sent it (the service said: '
                          f'"Bad input: Error: must NOT have additional properties \'{field}\'").',
            created_at=utcnow() - timedelta(minutes=minutes_ago)))


def test_the_admin_enables_models_picks_the_default_and_the_neuron_quota(accounts: Accounts) -> None:
    at = admin_page(accounts)
    at.multiselect(key="admin_models_enabled").set_value([KLEIN, PHOENIX])
    at.selectbox(key="admin_models_default").set_value(PHOENIX)
    at.number_input(key="admin_default_neurons").set_value(5000.0)
    at.button(key="admin_models_submit").click().run()
    assert "Model settings saved." in texts(at.success)
    enabled, default = ModelChoice(accounts.sessions).get()
    assert [m.id for m in enabled] == [KLEIN, PHOENIX] and default.id == PHOENIX
    assert Quotas(accounts.sessions, 200).get_default_neurons() == 5000.0


def test_a_default_that_is_not_enabled_is_refused_in_words_and_nothing_changes(accounts: Accounts) -> None:
    at = admin_page(accounts)
    at.multiselect(key="admin_models_enabled").set_value([KLEIN])
    at.selectbox(key="admin_models_default").set_value(PHOENIX)
    at.button(key="admin_models_submit").click().run()
    assert any("must be one of the enabled" in t for t in texts(at.error))
    enabled, default = ModelChoice(accounts.sessions).get()
    assert [m.id for m in enabled] == list(CATALOG) and default.id == SCHNELL


def test_the_connection_check_shows_each_enabled_model(accounts: Accounts) -> None:
    ModelChoice(accounts.sessions).set([SCHNELL, SDXL], SCHNELL)
    at = admin_page(accounts)
    at.button(key="admin_check_models").click().run()
    assert texts(at.success) == ["FLUX.1 [schnell]: Offline renderer ready",
                                 "SDXL Lightning (beta): Offline renderer ready"]


def test_a_refused_field_is_reported_to_the_admin_with_the_field_named(accounts: Accounts) -> None:
    add_user(accounts, "ada")
    refused(accounts.sessions, SCHNELL, "seed", 30)
    refused(accounts.sessions, SCHNELL, "seed", 5)
    refused(accounts.sessions, PHOENIX, "guidance", 60 * 24 * 9)  # older than a week: not shown
    problems = refused_inputs(accounts.sessions)
    assert [(p.model, p.field, p.times) for p in problems] == [("FLUX.1 [schnell]", "seed", 2)]
    at = admin_page(accounts)
    warnings = texts(at.warning)
    assert len(warnings) == 1 and warnings[0].startswith('FLUX.1 [schnell] refused the "seed" input 2 times')


def test_check_models_reports_a_model_the_account_lacks(fake_workers_ai) -> None:
    from akari.generators.cloudflare import CloudflareGenerator

    client = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token, api_base=fake_workers_ai.api_base)
    fake_workers_ai.hide_model(PHOENIX)
    statuses = check_models(client, [get_model(SCHNELL), get_model(PHOENIX)])
    assert [s.ok for s in statuses] == [True, False]
    assert statuses[1].message == "Leonardo Phoenix 1.0 is not available on this Cloudflare account."
    client.close()


def test_the_admin_sets_one_accounts_neuron_quota(accounts: Accounts) -> None:
    add_user(accounts, "ada")
    at = admin_page(accounts)
    at.selectbox(key="admin_neurons_user").set_value("ada")
    at.number_input(key="admin_neurons_value").set_value(700.0)
    at.button(key="admin_neurons_submit").click().run()
    assert "ada now has 700 neurons a day." in texts(at.success)
    with accounts.sessions() as session:
        assert session.scalar(select(User.daily_neuron_quota).where(User.username == "ada")) == 700.0
