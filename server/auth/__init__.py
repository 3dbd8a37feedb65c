"""Who is calling: token verification, the Principal, and the admin rule."""
