/* wsgi_internal.h - state shared by the wsgi_*.c files: the per-worker
 * context, the per-request state, and the Python types given to the app.
 * Not for use outside src/py. GIL: held for everything here. */
#ifndef CUNICORN_WSGI_INTERNAL_H
#define CUNICORN_WSGI_INTERNAL_H

#include "py/wsgi.h"

#include "cunicorn/http.h"

/* Interned strings and constants, built once per worker (no static
 * PyObject globals: everything hangs off cn_wsgi_t). */
typedef struct cn_py_strings {
    PyObject *REQUEST_METHOD, *SCRIPT_NAME, *PATH_INFO, *QUERY_STRING, *RAW_URI,
        *SERVER_PROTOCOL, *SERVER_NAME, *SERVER_PORT, *REMOTE_ADDR, *REMOTE_PORT, *wsgi_input,
        *HTTP_1_0, *HTTP_1_1, *close, *wsgi_url_scheme, *https;
} cn_py_strings_t;

/* The io classes whose objects read their file's bytes unchanged: the
 * file wrappers over them may be sent with sendfile (wsgi_sendfile.c). */
typedef struct cn_wsgi_io_types {
    PyObject *FileIO, *BufferedReader, *BufferedRandom; /* strong */
} cn_wsgi_io_types_t;

struct cn_wsgi {
    PyObject *app;      /* strong */
    PyObject *template; /* strong: environ keys that never change */
    PyObject *errors;   /* strong: the wsgi.errors object */
    cn_py_strings_t s;
    cn_wsgi_io_types_t io;
    cn_wsgi_options_t opt;
    char *script_name;  /* owned */
};

/* A response header as the app gave it, encoded latin-1 into hbytes. */
typedef struct cn_wsgi_field {
    size_t name_off, name_len, value_off, value_len;
} cn_wsgi_field_t;

/* One request in flight, owned by cn_wsgi_serve (heap). The Python objects
 * given to the app point at it and are detached (pointer set to NULL) before
 * it goes away, so a leaked reference fails cleanly; they refuse to be used
 * from another OS thread than the one serving the request. */
typedef struct cn_wsgi_request {
    unsigned long owner; /* PyThread_get_thread_ident() of the serving thread */
    const void *owner_task; /* identity only: opt.current_task() when serving */
    cn_wsgi_t *w;   /* borrowed */
    cn_conn_t *c;   /* borrowed */
    bool headers_set;
    bool headers_sent;
    bool write_failed;   /* the response is cut short: stop sending */
    bool write_interrupted; /* ... by an exception thrown into the write's
                               wait (not the client going away) */
    int status;
    cn_buf_t status_line; /* "200 OK" */
    cn_buf_t hbytes;      /* header names and values, latin-1 */
    cn_wsgi_field_t *fields; /* owned */
    size_t nfields, fields_cap;
    bool app_length;      /* the app sent Content-Length */
    uint64_t app_length_value;
    cn_http_framing_t framing;
    uint64_t body_sent;   /* body bytes written (Content-Length bound) */
    int body_error;       /* status to answer when wsgi.input hit bad input */
} cn_wsgi_request_t;

/* Types exposed to the app (module "cunicorn"). */
extern PyTypeObject cn_InputType;
extern PyTypeObject cn_StartResponseType;
extern PyTypeObject cn_ErrorsType;
extern PyTypeObject cn_FileWrapperType;

/** Ready all types (once per process). 0 or -1 with an exception. */
int cn_wsgi_types_ready(void);

/** New wsgi.input / start_response objects bound to req. */
PyObject *cn_wsgi_input_new(cn_wsgi_request_t *req);
PyObject *cn_wsgi_start_response_new(cn_wsgi_request_t *req);
/** 0 if req is alive and this is its thread, else -1 with ValueError (what
 * names the object for the message). */
int cn_wsgi_request_check(const cn_wsgi_request_t *req, const char *what);
/** Detach an object made above from its request (at request end). */
void cn_wsgi_input_detach(PyObject *input);
void cn_wsgi_start_response_detach(PyObject *sr);

/** Build the environ for c's request. New reference or NULL. */
PyObject *cn_wsgi_environ(cn_wsgi_t *w, cn_conn_t *c, PyObject *input, bool https);

/**
 * Send body bytes (sending the head first if needed). known_length, when
 * not NULL, is the whole body's length, used for Content-Length when the app
 * gave none. Returns 0, or -1 with an exception set (headers not set, or the
 * client went away: then req->write_failed is true).
 */
int cn_wsgi_send(cn_wsgi_request_t *req, const char *data, size_t len,
                 const uint64_t *known_length);
/** Finish the body (last chunk); 0 or -1 as cn_wsgi_send. */
int cn_wsgi_finish(cn_wsgi_request_t *req);
/** A write of the response failed with rc (a cn_conn -errno): mark the
 * response cut short and raise OSError, or keep the exception the wait
 * left (-ECANCELED). Returns -1. */
int cn_wsgi_write_failed(cn_wsgi_request_t *req, int rc);

/** The object a cunicorn.FileWrapper wraps: new reference, or NULL (no
 * exception) if it wraps none. wrapper must be a cunicorn.FileWrapper. */
PyObject *cn_wsgi_file_wrapper_file(PyObject *wrapper);

/* cn_wsgi_send_file's "not sent so": send the wrapper's blocks instead. */
#define CN_WSGI_ITERATE 1

/** Look up w->io (at cn_wsgi_new); 0, or -1 with an exception. */
int cn_wsgi_sendfile_init(cn_wsgi_t *w);
void cn_wsgi_sendfile_clear(cn_wsgi_t *w);
/**
 * Send a cunicorn.FileWrapper's file with sendfile(2), head first, when it
 * is a plain regular file and the head is not sent yet (wsgi_sendfile.c
 * says when exactly). 0 when the response body is sent; CN_WSGI_ITERATE
 * when nothing of the body was sent and the caller must iterate the wrapper
 * (the head may be out: iteration continues it); -1 with an exception, as
 * cn_wsgi_send.
 */
int cn_wsgi_send_file(cn_wsgi_request_t *req, PyObject *wrapper);

/** Value of response header `name` (case-insensitive) or NULL. */
const char *cn_wsgi_response_header(const cn_wsgi_request_t *req, const char *name,
                                    size_t name_len, size_t *len);

/** Whether the config file defined pre_request or post_request (wsgi_hooks.c). */
bool cn_wsgi_hooks_wanted(void);
/** Build Gunicorn's req object into *hook_req (new reference) and call
 * pre_request with it. 0, or -1 with an exception set: the request then
 * fails as if the app had raised it (Gunicorn's order). */
int cn_wsgi_pre_request(cn_wsgi_request_t *req, bool https, PyObject **hook_req);
/** Call post_request after the response, keeping any exception already
 * set; an exception of the hook's is logged ("Exception in post_request
 * hook"). env NULL: the environ was never built (pre_request raised). */
void cn_wsgi_post_request(cn_wsgi_request_t *req, PyObject *hook_req, PyObject *env);

/* A worker's wait may be interrupted by a Python exception (gevent: one
 * thrown into the waiting greenlet, such as the app's own gevent.Timeout);
 * the cn_conn call then returns -ECANCELED and leaves it set. Inside the
 * app's calls (wsgi.input, write) it propagates to the app; after I/O with
 * no app code to receive it, it is dropped. */
static inline void cn_wsgi_drop_thrown(void)
{
    if (PyErr_Occurred())
        PyErr_Clear();
}

/** Run socket I/O with the GIL released if the worker class asks for it
 * (w is the cn_wsgi_t). */
#define CN_WSGI_IO(w, stmt)                                                    \
    do {                                                                       \
        if ((w)->opt.release_gil_for_io) {                                     \
            Py_BEGIN_ALLOW_THREADS stmt;                                       \
            Py_END_ALLOW_THREADS                                               \
        } else {                                                               \
            stmt;                                                              \
        }                                                                      \
    } while (0)

#endif
