"""Admin: users, sign-up, quotas, backend health, pending uploads and recent failures. Administrators only."""

from ui.admin_view import page
from ui.guard import require_user, sidebar

user = require_user(admin=True)
sidebar(user)
page(user)
