"""Usage: how many images, how fast, what failed and what it costs; everyone's figures for administrators."""

from ui.guard import require_user, sidebar
from ui.usage_view import page

user = require_user()
sidebar(user)
page(user)
