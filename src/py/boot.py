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


def load_config(location):
    """The settings of a config file ('PATH' or 'file:PATH', run; its global
    names are the settings) or module ('python:MODULE', imported with the
    working directory importable, as the app will be: its attributes)."""
    if location.startswith('python:'):
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return dict(vars(importlib.import_module(location[len('python:'):])))
    path = location[len('file:'):] if location.startswith('file:') else location
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


# ---- request_timeout --------------------------------------------------------


class RequestTimeout(BaseException):
    """Raised inside a request that ran past cunicorn's request_timeout. A
    BaseException, as gevent.Timeout is, so that the app's `except
    Exception:` does not swallow it by accident."""


RequestTimeout.__module__ = 'cunicorn'
_public = type(sys)('cunicorn', 'What cunicorn gives the apps it serves.')
_public.RequestTimeout = RequestTimeout
sys.modules.setdefault('cunicorn', _public)


def warm_entry_points(groups):
    """In the master, before it forks: resolve once what the entry points
    of these groups require. pkg_resources caches that on the distribution,
    so a worker that loads one (gevent's patch_all, in every new worker)
    does not parse the requirements again: 19 ms of its 38. An error is
    left for the worker to meet where it loads the entry point."""
    try:
        from pkg_resources import iter_entry_points
    except ImportError:
        return
    for group in groups:
        for ep in iter_entry_points(group):
            try:
                ep.require()
            except Exception:
                pass


def format_stack(frame):
    """The Python stack that ends in frame, for the log."""
    import traceback
    if frame is None:
        return '  (no Python code running)'
    return ''.join(traceback.format_stack(frame)).rstrip('\n')


def thread_frame(ident):
    """The frame thread ident runs now, or None."""
    return sys._current_frames().get(ident)


def format_exception(exc):
    """The traceback of exc as one string, without the final newline."""
    import traceback
    return ''.join(traceback.format_exception(exc)).rstrip('\n')


# ---- server hooks -------------------------------------------------------------
#
# A config file's hook functions (post_fork, child_exit, ...) receive objects
# shaped as Gunicorn's: the server (the arbiter) and the worker, each with
# pid, cfg and log. src/py/py_hooks.c decides when; these build the objects
# and make the call.

# name -> the arguments it takes: s = server, w = worker, n = new_value,
# o = old_value, q = request, e = environ, r = response (the hooks of
# src/core/hooks.c)
HOOK_SIGNATURES = {
    'on_starting': 's', 'on_reload': 's', 'when_ready': 's', 'on_exit': 's', 'pre_exec': 's',
    'pre_fork': 'sw', 'post_fork': 'sw', 'child_exit': 'sw', 'worker_exit': 'sw',
    'post_worker_init': 'w', 'worker_int': 'w', 'worker_abort': 'w',
    'nworkers_changed': 'sno', 'pre_request': 'wq', 'post_request': 'wqer',
}
_hooks = {}
_workers = {}  # age -> Worker; a fork copies the one pre_fork made to the child
_server = None


def _arity(fn):
    """Positional parameters, as Gunicorn's util.get_arity counts them."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in inspect.signature(fn).parameters.values() if p.kind in kinds)


def register_hook(name, fn):
    """Keep a config file's hook, checked as Gunicorn checks it."""
    if not callable(fn):
        raise TypeError('Invalid value for %s: not callable' % name)
    want = len(HOOK_SIGNATURES[name])
    if _arity(fn) != want:
        raise TypeError('Invalid value for %s: must have an arity of %d' % (name, want))
    _hooks[name] = fn


class Log:
    """The hook's log: lines go to cunicorn's error log."""
    _LEVELS = {'debug': 0, 'info': 1, 'warning': 2, 'error': 3, 'critical': 4}

    def __init__(self, emit):
        self._emit = emit

    def _log(self, level, msg, args, exc_info=False):
        text = str(msg) % args if args else str(msg)
        if exc_info:
            import traceback
            text += '\n' + traceback.format_exc().rstrip('\n')
        self._emit(level, text)

    def debug(self, msg, *args, **kw):
        self._log(0, msg, args, kw.get('exc_info'))

    def info(self, msg, *args, **kw):
        self._log(1, msg, args, kw.get('exc_info'))

    def warning(self, msg, *args, **kw):
        self._log(2, msg, args, kw.get('exc_info'))

    warn = warning

    def error(self, msg, *args, **kw):
        self._log(3, msg, args, kw.get('exc_info'))

    def critical(self, msg, *args, **kw):
        self._log(4, msg, args, kw.get('exc_info'))

    def exception(self, msg, *args, **kw):
        self._log(3, msg, args, True)

    def log(self, lvl, msg, *args, **kw):
        level = lvl if isinstance(lvl, int) and 0 <= lvl <= 4 else self._LEVELS.get(
            str(lvl).lower(), 1)
        self._log(level, msg, args, kw.get('exc_info'))


class Config:
    """cfg.NAME for every setting, as Gunicorn's Config reads."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __getattr__(self, name):
        raise AttributeError('No configuration setting for: %s' % name)


class Server:
    def __init__(self, cfg, log):
        self.cfg, self.log = cfg, log
        self.pid = os.getpid()
        self.num_workers = cfg.workers
        self.proc_name = cfg.proc_name or 'cunicorn'


class Worker:
    def __init__(self, age, cfg, log):
        self.age, self.cfg, self.log = age, cfg, log
        self.pid = None
        self.ppid = os.getpid()
        self.alive = True
        self.booted = False


class Request:
    """What pre_request and post_request see of a request, as Gunicorn's
    http.Request: header names upper-cased, in the order received."""

    def __init__(self, method, uri, path, query, fragment, minor, headers, scheme,
                 remote_addr):
        self.method, self.uri, self.path = method, uri, path
        self.query, self.fragment = query, fragment
        self.version = (1, minor)
        self.headers, self.trailers = headers, []
        self.scheme, self.remote_addr, self.peer_addr = scheme, remote_addr, remote_addr

    def should_close(self):
        for name, value in self.headers:
            if name == 'CONNECTION':
                v = value.lower().strip(' \t')
                if v == 'close':
                    return True
                if v == 'keep-alive':
                    return False
        return self.version <= (1, 0)


class Response:
    """What post_request sees of the answer, as Gunicorn's wsgi.Response."""

    def __init__(self, status, headers, sent):
        self.status = status
        try:
            self.status_code = int(status.split(None, 1)[0]) if status else None
        except ValueError:
            self.status_code = None
        self.headers = headers
        self.sent = sent
        self.response_length = None
        for name, value in headers:
            if name.lower() == 'content-length':
                try:
                    self.response_length = int(value)
                except ValueError:
                    pass


def take_hooks():
    """Empty the hook table for a reload's config file; returns what it
    held, for put_back_hooks() if the reload is abandoned."""
    global _hooks, _server
    held = (_hooks, _server)
    _hooks, _server = {}, None
    return held


def put_back_hooks(held):
    global _hooks, _server
    _hooks, _server = held


def setup_hooks(settings, emit):
    """The objects hooks receive, from the final settings."""
    global _server
    cfg = Config(settings)
    _server = Server(cfg, Log(emit))


def _worker(age, worker_pid, server_pid):
    worker = _workers.get(age)
    if worker is None:
        worker = _workers[age] = Worker(age, _server.cfg, _server.log)
    if worker_pid:
        worker.pid = worker_pid
    worker.ppid = server_pid
    return worker


def run_hook(name, server_pid, num_workers, age, worker_pid, new_value, old_value):
    """Call hook name, if the config file defined it."""
    fn = _hooks.get(name)
    if fn is None:
        return
    _server.pid, _server.num_workers = server_pid, num_workers
    worker = None
    if age:
        worker = _worker(age, worker_pid, server_pid)
        if name == 'post_worker_init':
            worker.booted = True
        elif name in ('child_exit', 'worker_exit', 'worker_int', 'worker_abort'):
            worker.alive = False
            if name == 'child_exit':
                del _workers[age]
    args = {'s': _server, 'w': worker, 'n': new_value,
            'o': None if old_value < 0 else old_value}
    fn(*[args[c] for c in HOOK_SIGNATURES[name]])


def run_request_hook(name, server_pid, age, worker_pid, req, environ=None, resp=None):
    """pre_request(worker, req) or post_request(worker, req, environ, resp)."""
    worker = _worker(age, worker_pid, server_pid)
    args = {'w': worker, 'q': req, 'e': environ, 'r': resp}
    _hooks[name](*[args[c] for c in HOOK_SIGNATURES[name]])


# ---- reload -------------------------------------------------------------------

def _watched_files(extra):
    """The source files of the loaded modules and the reload_extra_files
    (glob patterns expanded)."""
    import glob
    files = set()
    for mod in list(sys.modules.values()):
        path = getattr(mod, '__file__', None)
        if isinstance(path, str) and os.path.isfile(path):
            files.add(os.path.abspath(path))
    for pattern in extra:
        files.update(os.path.abspath(p) for p in (glob.glob(pattern) or [pattern]))
    return files


class _Inotify:
    """Linux inotify through libc, watching the directories of the files."""
    _EVENTS = 0x2 | 0x4 | 0x8 | 0x80 | 0x100 | 0x200  # MODIFY ATTRIB CLOSE_WRITE MOVED_TO
    # CREATE DELETE

    def __init__(self):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._dirs = {}  # watch descriptor -> directory

    def watch(self, files):
        for d in {os.path.dirname(f) for f in files} - set(self._dirs.values()):
            wd = self._add(self.fd, os.fsencode(d), self._EVENTS)
            if wd >= 0:
                self._dirs[wd] = d

    def changed(self, files, timeout):
        """The first of files an event names within timeout seconds, or None."""
        import select
        import struct
        if not select.select([self.fd], [], [], timeout)[0]:
            return None
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return None
        off = 0
        while off + 16 <= len(data):
            wd, _mask, _cookie, size = struct.unpack_from('iIII', data, off)
            name = data[off + 16:off + 16 + size].rstrip(b'\0')
            off += 16 + size
            path = os.path.join(self._dirs.get(wd, ''), os.fsdecode(name))
            if path in files:
                return path
        return None


def start_reloader(engine, extra, emit):
    """reload: a daemon thread (a greenlet under gevent) that watches the
    files and, when one changes, logs it and sends this worker TERM: it
    stops gracefully and the master starts a new one."""
    import signal
    import threading
    import time
    notify = None
    if engine in ('auto', 'inotify'):
        try:
            notify = _Inotify()
        except OSError:
            if engine == 'inotify':
                raise
    extra = list(extra)

    def changed(path):
        emit(1, 'Worker reloading: %s modified' % path)
        os.kill(os.getpid(), signal.SIGTERM)

    def by_inotify():
        while True:
            files = _watched_files(extra)  # again: modules imported since
            notify.watch(files)
            path = notify.changed(files, 1.0)
            if path:
                return changed(path)

    def by_polling():
        mtimes = {}
        while True:
            for path in _watched_files(extra):
                try:
                    mtime = os.stat(path).st_mtime_ns
                except OSError:
                    continue
                if mtimes.setdefault(path, mtime) != mtime:
                    return changed(path)
            time.sleep(1.0)

    threading.Thread(target=by_inotify if notify else by_polling, name='cunicorn-reloader',
                     daemon=True).start()
