"""Gallery: your images and the community's, with search, filters, a detail view and bulk download."""

from ui.gallery_view import page
from ui.guard import require_user, sidebar

user = require_user()
sidebar(user)
page(user)
