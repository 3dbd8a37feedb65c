"""The System Settings page (/admin) and the backup file download it, and any client, uses.

routes.py     admin_routes(settings): the page's static files under a strict CSP, and
              GET /backups/{id}/file
download.py   the download endpoint
static/       the page: plain ES modules and CSS, no build step (docs/admin.md)
"""
