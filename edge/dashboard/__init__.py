"""Web dashboard of the box: live captions, streams, assets, uploads and health, behind a login.

The app is in edge/dashboard/app.py (create_app, serve). Nothing is imported
here, so a command that needs one small module of the dashboard (the roles of
`edge users`, say) does not load the whole web stack and the box with it.
"""
