/* wsgi_environ.c - the environ dict for one request (PEP 3333).
 * Reads the parsed request (spans into the connection's rbuf) and copies
 * everything it needs into Python strings: nothing in the environ borrows
 * from the request after return. */
#include "py/wsgi_internal.h"
#include "cunicorn/http_chars.h"

#include <string.h>

static int set_str(PyObject *env, PyObject *key, const char *s, size_t len);
static int set_span(PyObject *env, PyObject *key, const cn_conn_t *c, cn_span_t span);
static int set_path_info(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c);
static int set_headers(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c);
static int set_addresses(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c);
static size_t percent_decode(const char *in, size_t len, char *out);

PyObject *cn_wsgi_environ(cn_wsgi_t *w, cn_conn_t *c, PyObject *input, bool https)
{
    cn_py_strings_t *s = &w->s;
    const cn_http_request_t *r = &c->req;
    PyObject *env = PyDict_Copy(w->template);
    if (env == NULL)
        return NULL;
    PyObject *proto = r->version_minor == 0 ? s->HTTP_1_0 : s->HTTP_1_1;
    if (set_span(env, s->REQUEST_METHOD, c, r->method) < 0 ||
        set_span(env, s->RAW_URI, c, r->target) < 0 ||
        set_span(env, s->QUERY_STRING, c, r->query) < 0 ||
        PyDict_SetItem(env, s->SERVER_PROTOCOL, proto) < 0 ||
        PyDict_SetItem(env, s->wsgi_input, input) < 0 || set_path_info(w, env, c) < 0 ||
        set_headers(w, env, c) < 0 || set_addresses(w, env, c) < 0 ||
        (https && PyDict_SetItem(env, s->wsgi_url_scheme, s->https) < 0)) {
        Py_DECREF(env);
        return NULL;
    }
    return env;
}

static int set_str(PyObject *env, PyObject *key, const char *s, size_t len)
{
    PyObject *v = PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, v);
    Py_DECREF(v);
    return rc;
}

static int set_span(PyObject *env, PyObject *key, const cn_conn_t *c, cn_span_t span)
{
    return set_str(env, key, cn_conn_span(c, span), span.len);
}

/* %XX -> byte; a malformed escape is kept as it is. out has room for len. */
static size_t percent_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi = i + 2 < len && in[i] == '%' ? cn_hex_value((unsigned char)in[i + 1]) : -1;
        int lo = hi >= 0 ? cn_hex_value((unsigned char)in[i + 2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

/* SCRIPT_NAME comes from the server's environment ($SCRIPT_NAME); a path
 * under it has the prefix moved from PATH_INFO to SCRIPT_NAME. */
static int set_path_info(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c)
{
    cn_span_t p = c->req.path;
    char stack[1024];
    char *buf = p.len <= sizeof(stack) ? stack : cn_xmalloc(p.len);
    size_t n = percent_decode(cn_conn_span(c, p), p.len, buf);
    size_t sn = strlen(w->script_name);
    size_t skip = 0;
    if (sn > 0 && n >= sn && memcmp(buf, w->script_name, sn) == 0 &&
        (n == sn || buf[sn] == '/'))
        skip = sn;
    int rc = set_str(env, w->s.SCRIPT_NAME, w->script_name, sn);
    if (rc == 0)
        rc = set_str(env, w->s.PATH_INFO, buf + skip, n - skip);
    if (buf != stack)
        free(buf);
    return rc;
}

/* "Content-Type" -> CONTENT_TYPE, "X-Foo" -> HTTP_X_FOO, repeats joined
 * with ",". Names containing '_' reach here only with header_map =
 * dangerous (the parser drops or refuses them otherwise): "X_Foo" then
 * joins "X-Foo" in HTTP_X_FOO, and "Content_Length" is HTTP_CONTENT_LENGTH,
 * as in Gunicorn. */
static int set_one_header(cn_wsgi_t *w, PyObject *env, const char *name, size_t nlen,
                          const char *value, size_t vlen)
{
    char stack[128];
    size_t k = 0;
    char *key = nlen + 5 <= sizeof(stack) ? stack : cn_xmalloc(nlen + 5);
    if (!cn_strcase_eq(name, nlen, "content-type") &&
        !cn_strcase_eq(name, nlen, "content-length")) {
        memcpy(key, "HTTP_", 5);
        k = 5;
    }
    for (size_t i = 0; i < nlen; i++) {
        char ch = name[i];
        key[k++] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    PyObject *pykey = PyUnicode_DecodeLatin1(key, (Py_ssize_t)k, NULL);
    if (key != stack)
        free(key);
    if (pykey == NULL)
        return -1;
    PyObject *old = cn_py_dict_get(env, pykey), *v = NULL;
    if (old == NULL && PyErr_Occurred())
        goto done;
    v = PyUnicode_DecodeLatin1(value, (Py_ssize_t)vlen, NULL);
    if (v != NULL && old != NULL) {
        PyObject *joined = PyUnicode_FromFormat("%U,%U", old, v);
        Py_SETREF(v, joined);
    }
    if (v != NULL && PyDict_SetItem(env, pykey, v) == 0) {
        Py_DECREF(pykey);
        Py_XDECREF(old);
        Py_DECREF(v);
        return 0;
    }
done:
    Py_DECREF(pykey);
    Py_XDECREF(old);
    Py_XDECREF(v);
    return -1;
}

static int set_headers(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c)
{
    for (uint32_t i = 0; i < c->req.nheaders; i++) {
        const cn_http_header_t *h = &c->req.headers[i];
        if (set_one_header(w, env, cn_conn_span(c, h->name), h->name.len,
                           cn_conn_span(c, h->value), h->value.len) < 0)
            return -1;
    }
    return 0;
}

/* SERVER_* name the listener, REMOTE_* the peer. A unix socket has no
 * ports: SERVER_NAME is its path and SERVER_PORT "80" (what Gunicorn
 * reports), REMOTE_ADDR/PORT are empty. */
static int set_addresses(cn_wsgi_t *w, PyObject *env, const cn_conn_t *c)
{
    const cn_listener_t *l = c->listener;
    char port[16];
    bool is_unix = l->family == AF_UNIX;
    const char *server = is_unix ? l->addr.path : l->host;
    snprintf(port, sizeof(port), "%d", is_unix ? 80 : l->port);
    if (set_str(env, w->s.SERVER_NAME, server, strlen(server)) < 0 ||
        set_str(env, w->s.SERVER_PORT, port, strlen(port)) < 0)
        return -1;
    if (is_unix)
        snprintf(port, sizeof(port), "%s", "");
    else
        snprintf(port, sizeof(port), "%d", c->peer_port);
    if (set_str(env, w->s.REMOTE_ADDR, c->peer_host, strlen(c->peer_host)) < 0 ||
        set_str(env, w->s.REMOTE_PORT, port, strlen(port)) < 0)
        return -1;
    return 0;
}
