"""The Python half of cunicorn's startup, embedded in the binary at build time.

cunicorn's C code calls these functions through the interpreter it embeds
(src/py/py_boot.c installs this file as the module _cunicorn_boot): finding
the WSGI app from a "module:expression" target as Gunicorn does, running a
Python config file, adding an active virtualenv to sys.path and formatting
an exception for the error log.
"""
import ast
import importlib
import inspect
import os
import sys


class AppImportError(Exception):
    '''The module imported, but no usable app was found in it.'''


def _parse_target(expr):
    """Split 'name' or 'name(literal args)' into (name, args, kwargs)."""
    try:
        node = ast.parse(expr, mode='eval').body
    except SyntaxError:
        raise AppImportError('Failed to parse %r as an attribute name or function call.'
                             % expr) from None
    if isinstance(node, ast.Name):
        return node.id, None, None
    if not isinstance(node, ast.Call):
        raise AppImportError('Failed to parse %r as an attribute name or function call.'
                             % expr)
    if not isinstance(node.func, ast.Name):
        raise AppImportError('Function reference must be a simple name: %r' % expr)
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise AppImportError('Failed to parse arguments as literal values: %r'
                             % expr) from None
    return node.func.id, args, kwargs


def import_app(uri):
    """Import 'module[:expression]' and return the WSGI callable it names."""
    module, sep, expr = uri.partition(':')
    if not sep:
        expr = 'application'
    try:
        mod = importlib.import_module(module)
    except ImportError:
        if module.endswith('.py') and os.path.exists(module):
            raise ImportError("Failed to find application, did you mean '%s:%s'?"
                              % (module[:-3], expr)) from None
        raise
    name, args, kwargs = _parse_target(expr)
    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AppImportError('Failed to find attribute %r in %r.' % (name, module)) from None
    if args is not None:
        try:
            inspect.signature(app).bind(*args, **kwargs)
        except TypeError as e:
            raise AppImportError('%s: %s' % (name, e)) from None
        except ValueError:
            pass  # no signature to check (a builtin): let the call decide
        app = app(*args, **kwargs)
    if app is None:
        raise AppImportError('Failed to find application object: %r' % expr)
    if not callable(app):
        raise AppImportError('Application object must be callable.')
    return app


def load_config(path):
    """Run a Python config file; its global names are the settings."""
    ns = {'__file__': path, '__name__': '__config__'}
    with open(path, 'rb') as f:
        code = compile(f.read(), path, 'exec')
    exec(code, ns)
    return ns


def activate_venv():
    """Put $VIRTUAL_ENV's site-packages on sys.path, as its python would."""
    venv = os.environ.get('VIRTUAL_ENV')
    if not venv:
        return
    import site
    lib = 'python%d.%d' % sys.version_info[:2]
    site.addsitedir(os.path.join(venv, 'lib', lib, 'site-packages'))


def format_exception(exc):
    """The traceback of exc as one string, without the final newline."""
    import traceback
    return ''.join(traceback.format_exception(exc)).rstrip('\n')
