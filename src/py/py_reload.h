/* py_reload.h - the reload setting in a worker: the watcher thread of
 * src/py/boot.py (start_reloader), which sends the worker TERM when a
 * watched file changes. GIL: held. */
#ifndef CUNICORN_PY_RELOAD_H
#define CUNICORN_PY_RELOAD_H

#include "py/py_runtime.h"

#include "cunicorn/config.h"

/** Start watching (reload_engine, the loaded modules' files and
 * reload_extra_files); call once the app is loaded. 0, or -1 after logging
 * why (reload_engine inotify where inotify cannot be used). */
int cn_py_reload_start(const cn_config_t *cfg);

#endif
