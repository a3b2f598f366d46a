raise RuntimeError("app_importerror: failing at import on purpose")
