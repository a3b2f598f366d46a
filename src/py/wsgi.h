/* wsgi.h - serving one parsed request through the WSGI app (PEP 3333).
 * The worker classes call this; it is the only door from C to the app.
 * GIL: every function is called with the GIL held. Blocking socket I/O
 * inside releases it when the options say so (thread pools), and keeps it
 * when the wait hook itself needs Python (gevent). */
#ifndef CUNICORN_WSGI_H
#define CUNICORN_WSGI_H

#include "py/py_runtime.h"

#include "cunicorn/conn.h"
#include "cunicorn/hooks.h"
#include "cunicorn/proxy.h"

typedef struct cn_wsgi cn_wsgi_t;

typedef struct cn_wsgi_options {
    bool multithread;        /* wsgi.multithread */
    bool release_gil_for_io; /* Py_BEGIN_ALLOW_THREADS around socket I/O */
    const char *script_name; /* $SCRIPT_NAME ("" if unset); borrowed */
    const cn_scheme_headers_t *scheme_headers; /* borrowed: secure_scheme_headers */
    PyObject *current_task;  /* borrowed, or NULL: returns the running coroutine
                                (gevent: getcurrent); a request's input and
                                write() belong to the thread and the coroutine
                                serving it */
    const cn_hook_info_t *worker; /* borrowed: this worker as the request hooks
                                     (pre_request, post_request) see it */
    bool sendfile;                /* a file wrapper's file may go by sendfile(2) */
} cn_wsgi_options_t;

/** Prepare interned keys, types and the environ template. The app reference
 * is taken (incremented). NULL on failure with an exception set. */
cn_wsgi_t *cn_wsgi_new(PyObject *app, const cn_wsgi_options_t *opt);
void cn_wsgi_free(cn_wsgi_t *w);

/**
 * Serve the request whose head is parsed in c: build the environ, call the
 * app, send its response, call close(), write the access log. may_keep_alive
 * is the worker class's wish. Returns true when the connection may carry
 * another request (response framed, body consumed, client agrees); false
 * when it must be closed. Errors of the app are logged and answered (500)
 * here; they never propagate.
 */
bool cn_wsgi_serve(cn_wsgi_t *w, cn_conn_t *c, bool may_keep_alive);

/*
 * request_timeout, what every worker class shares (src/py/wsgi_deadline.c).
 * The class watches the clock and calls, for a request past its deadline:
 * cn_conn_deadline_expire (the 503, no GIL), cn_wsgi_overdue_log, and raises
 * cunicorn.RequestTimeout in the request's thread or greenlet. cn_wsgi_serve
 * then logs the request as answered 503 (or cut), without a traceback.
 */

/** Log, at ERROR, that the request `what` ("GET /path") ran past `seconds`,
 * whether the 503 went out, and the Python stack of frame (borrowed; NULL
 * when not known). GIL held. */
void cn_wsgi_overdue_log(const char *what, PyObject *frame, int seconds, bool answered);

/** New reference to cunicorn.RequestTimeout; NULL with an exception set.
 * GIL held. */
PyObject *cn_wsgi_request_timeout_type(void);

/** The frame thread `ident` runs now (new reference), or NULL. GIL held. */
PyObject *cn_wsgi_thread_frame(unsigned long ident);

#endif
