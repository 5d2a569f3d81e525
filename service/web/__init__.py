"""The web app: static files served at ``/`` (index.html) and ``/app/...`` (its assets)."""
