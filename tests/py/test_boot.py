"""src/py/boot.py as plain Python: the app-target rules, config loading,
virtualenv activation and traceback formatting, without the server."""
import importlib.util
import os
import sys

import pytest

BOOT_PY = os.path.join(os.path.dirname(__file__), '..', '..', 'src', 'py', 'boot.py')


@pytest.fixture(scope='module')
def boot():
    spec = importlib.util.spec_from_file_location('_cunicorn_boot_under_test', BOOT_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def app_dir(tmp_path, monkeypatch):
    """A directory on sys.path where a test writes modules to import."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names_before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - names_before:
        del sys.modules[name]


def write_module(directory, name, source):
    (directory / (name + '.py')).write_text(source)


@pytest.mark.parametrize('expr, parsed', [
    ('app', ('app', None, None)),
    ('make()', ('make', [], {})),
    ("make(1, 'x', debug=True)", ('make', [1, 'x'], {'debug': True})),
])
def test_parse_target_accepts_names_and_literal_calls(boot, expr, parsed):
    assert boot._parse_target(expr) == parsed


@pytest.mark.parametrize('expr, message', [
    ('app(', 'Failed to parse'),
    ('a.b', 'Failed to parse'),
    ('x.make()', 'Function reference must be a simple name'),
    ('make(os.sep)', 'Failed to parse arguments as literal values'),
])
def test_parse_target_refuses_anything_else(boot, expr, message):
    with pytest.raises(boot.AppImportError, match=message):
        boot._parse_target(expr)


def test_import_app_defaults_to_application(boot, app_dir):
    write_module(app_dir, 'plain', 'def application(e, s): pass\n')
    assert boot.import_app('plain').__name__ == 'application'


def test_import_app_calls_a_factory_with_its_arguments(boot, app_dir):
    write_module(app_dir, 'factory', 'def make(name, debug=False):\n'
                                     '    def app(e, s): pass\n'
                                     '    app.made_with = (name, debug)\n'
                                     '    return app\n')
    app = boot.import_app("factory:make('x', debug=True)")
    assert app.made_with == ('x', True)


def test_import_app_checks_the_factory_signature(boot, app_dir):
    write_module(app_dir, 'strict', 'def make(): return lambda e, s: None\n')
    with pytest.raises(boot.AppImportError, match='make: too many positional'):
        boot.import_app('strict:make(1)')


@pytest.mark.parametrize('source, target, message', [
    ('x = 1\n', 'm1:app', "Failed to find attribute 'app' in 'm1'."),
    ('app = None\n', 'm2:app', "Failed to find application object: 'app'"),
    ('app = 42\n', 'm3:app', 'Application object must be callable.'),
])
def test_import_app_names_what_is_wrong(boot, app_dir, source, target, message):
    write_module(app_dir, target.split(':')[0], source)
    with pytest.raises(boot.AppImportError) as err:
        boot.import_app(target)
    assert str(err.value) == message


def test_import_app_suggests_the_module_name_for_a_file_name(boot, app_dir, monkeypatch):
    write_module(app_dir, 'hello', 'def app(e, s): pass\n')
    monkeypatch.chdir(app_dir)
    with pytest.raises(ImportError, match="did you mean 'hello:app'"):
        boot.import_app('hello.py:app')


def test_import_app_lets_a_missing_module_raise(boot, app_dir):
    with pytest.raises(ModuleNotFoundError):
        boot.import_app('no_such_module_here:app')


def test_load_config_returns_the_file_globals(boot, tmp_path):
    conf = tmp_path / 'conf.py'
    conf.write_text('workers = 3\nbind = ["127.0.0.1:1"]\nseen = __file__\n')
    ns = boot.load_config(str(conf))
    assert ns['workers'] == 3 and ns['bind'] == ['127.0.0.1:1']
    assert ns['seen'] == str(conf) and ns['__name__'] == '__config__'


def test_load_config_reports_syntax_errors_with_the_file_name(boot, tmp_path):
    conf = tmp_path / 'bad.py'
    conf.write_text('workers = = 3\n')
    with pytest.raises(SyntaxError) as err:
        boot.load_config(str(conf))
    assert err.value.filename == str(conf)


def test_activate_venv_adds_its_site_packages(boot, tmp_path, monkeypatch):
    site_dir = tmp_path / 'lib' / ('python%d.%d' % sys.version_info[:2]) / 'site-packages'
    site_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.setenv('VIRTUAL_ENV', str(tmp_path))
    boot.activate_venv()
    assert str(site_dir) in sys.path


def test_activate_venv_without_a_venv_changes_nothing(boot, monkeypatch):
    monkeypatch.delenv('VIRTUAL_ENV', raising=False)
    before = list(sys.path)
    boot.activate_venv()
    assert sys.path == before


def test_format_exception_gives_the_whole_traceback(boot):
    try:
        raise ValueError('boom')
    except ValueError as e:
        text = boot.format_exception(e)
    assert text.startswith('Traceback (most recent call last):')
    assert text.endswith('ValueError: boom')


def test_warm_entry_points_caches_what_gevents_plugins_require(boot):
    """What the master does for the gevent class: afterwards loading the
    plugin resolves its requirements from the cache."""
    pkg_resources = pytest.importorskip('pkg_resources')
    group = 'gevent.plugins.monkey.will_patch_all'
    eps = list(pkg_resources.iter_entry_points(group))
    if not eps:
        pytest.skip('gevent is not installed')
    dist = eps[0].dist
    dist.__dict__.pop('_Distribution__dep_map', None)
    boot.warm_entry_points([group, 'no.such.group'])
    assert '_Distribution__dep_map' in dist.__dict__


def test_warm_entry_points_leaves_a_broken_requirement_to_the_worker(boot, monkeypatch):
    pkg_resources = pytest.importorskip('pkg_resources')

    class Broken:
        def require(self):
            raise pkg_resources.DistributionNotFound('missing', ['x'])

    monkeypatch.setattr(pkg_resources, 'iter_entry_points', lambda group: [Broken()])
    boot.warm_entry_points(['any'])  # does not raise
