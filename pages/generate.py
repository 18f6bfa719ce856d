"""Generate: write a prompt, pick steps, seed and style, and make an image."""

from ui.generate_view import page
from ui.guard import require_user, sidebar

user = require_user()
sidebar(user)
page(user.id)
