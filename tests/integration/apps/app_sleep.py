from app_misc import sleep as app  # noqa: F401
application = app
