"""The Admin page's models section: enabled and default models, neuron quotas, per-model checks, refused inputs."""

from __future__ import annotations

import logging

import streamlit as st

from akari.errors import AkariError
from akari.model_choice import ModelChoice
from akari.model_health import check_models, refused_inputs
from akari.models_catalog import CATALOG, get_model
from ui.context import get_studio
from ui.text import plain

log = logging.getLogger("akari.ui")


def models_admin() -> None:
    studio = get_studio()
    st.subheader("Models")
    choice = ModelChoice(studio.sessions)
    enabled, default = choice.get()
    with st.form("admin_models_form"):
        picked = st.multiselect("Enabled models", list(CATALOG), default=[m.id for m in enabled],
                                format_func=lambda m: get_model(m).label, key="admin_models_enabled")
        chosen = st.selectbox("Default model", list(CATALOG), index=list(CATALOG).index(default.id),
                              format_func=lambda m: get_model(m).label, key="admin_models_default")
        neurons = st.number_input("Default neurons per user per day", min_value=0.0, step=1000.0,
                                  value=float(studio.quotas.get_default_neurons()), key="admin_default_neurons")
        if st.form_submit_button("Save models", key="admin_models_submit"):
            try:
                choice.set(picked, chosen)
                studio.quotas.set_default_neurons(neurons)
            except AkariError as exc:
                st.error(plain(exc.message))
            else:
                st.success("Model settings saved.")
    _account_neurons()
    if st.button("Check each enabled model", key="admin_check_models"):
        with st.spinner("Checking the models…"):
            statuses = check_models(studio.generator, choice.get()[0])
        for status in statuses:
            line = f"{status.model.label}: {status.message}"
            (st.success if status.ok else st.error)(plain(line), icon="✅" if status.ok else "❌")
    problems = refused_inputs(studio.sessions)
    if problems:
        st.markdown("**Inputs a model refused (last 7 days)**")
        for problem in problems:
            st.warning(plain(problem.sentence))
            st.caption(plain(problem.last_message))
    else:
        st.caption("No model refused an input in the last 7 days.")


def _account_neurons() -> None:
    """One account's own daily neuron quota (empty: the default)."""
    studio = get_studio()
    accounts = {a.username: a for a in studio.accounts.list()}
    if not accounts:
        return
    with st.form("admin_account_neurons_form"):
        name = st.selectbox("Account", list(accounts), key="admin_neurons_user")
        user_id = studio.user_id(name) if name else None
        current = studio.quotas.daily_neurons(user_id) if user_id is not None else None
        if current is not None:
            st.caption(f"{current.used:,.1f} of {current.quota:,.0f} neurons used today.")
        value = st.number_input("Neurons per day (empty: the default)", min_value=0.0, step=1000.0, value=None,
                                key="admin_neurons_value")
        if st.form_submit_button("Set the account's neuron quota", key="admin_neurons_submit") and user_id:
            try:
                studio.quotas.set_user_neurons(user_id, value)
            except AkariError as exc:
                st.error(plain(exc.message))
            else:
                amount = "the default" if value is None else f"{value:,.0f} neurons a day"
                st.success(plain(f"{name} now has {amount}."))
