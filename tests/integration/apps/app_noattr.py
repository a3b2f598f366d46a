"""A module that imports fine but has no `app` / `nosuch` attribute."""
something_else = 1
