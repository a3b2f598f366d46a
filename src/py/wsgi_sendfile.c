/* wsgi_sendfile.c - the body of a wsgi.file_wrapper over a plain file, sent
 * with sendfile(2): the kernel copies from the page cache to the socket, and
 * no byte of the file passes through Python or our buffers.
 *
 * Taken only when the bytes on the wire are those iterating would send:
 *   - the wrapped object is an io.FileIO, or an io.BufferedReader or
 *     BufferedRandom over one (exact types). Other objects with a fileno()
 *     may read other bytes than the file holds (a gzip.GzipFile's fileno()
 *     is the compressed file, a TextIOWrapper decodes, a subclass may
 *     override read()); they, BytesIO and the like are iterated in blocks;
 *   - fileno() names a regular file with bytes after tell() (a /proc file
 *     reports none: it is read instead);
 *   - the head is not sent yet: after write() the framing is decided, and
 *     may be chunked, so the file is iterated, each block one chunk. We do
 *     not frame a chunk around a sendfile: a file body sent here always has
 *     a length, so there is no chunking to do.
 * The body starts at tell(), the file's logical position (a buffered file
 * has read ahead of it on the fd), and holds the bytes after it, or the
 * app's Content-Length if that is smaller. Without a Content-Length that
 * count is sent as one, as for a one-element list, so a file body is never
 * chunked. A file that shrinks meanwhile ends the body early, which
 * cn_wsgi_finish treats as any body shorter than its length (logged,
 * connection closed).
 *
 * Ownership: the copy works on a dup() of the file's fd, owned here, so an
 * app thread closing the file while the GIL is released cannot make us
 * send whatever file takes its number next. The file's position is neither
 * used nor moved (it is where the app left it, not at the end).
 *
 * GIL: held on entry; released around every sendfile(2) in every class, and
 * around the waits when the class says so (CN_WSGI_IO: gevent's wait parks
 * the greenlet on the hub, which needs it, and never blocks the hub). */
#include "py/wsgi_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* The most one sendfile(2) is asked for; Linux sends at most about 2 GiB
 * a call anyway, and a non-blocking socket takes what its buffer holds. */
#define MAX_PER_CALL ((size_t)1 << 30)

static int plain_file(const cn_wsgi_t *w, PyObject *file);
static int call_int(PyObject *obj, const char *method, long long *out);
static int open_body(const cn_wsgi_t *w, PyObject *file, int *fd, off_t *pos, uint64_t *avail);
static int copy(cn_wsgi_request_t *req, int fd, off_t pos, uint64_t len);

int cn_wsgi_sendfile_init(cn_wsgi_t *w)
{
    PyObject *io = PyImport_ImportModule("io");
    if (io == NULL)
        return -1;
    w->io.FileIO = PyObject_GetAttrString(io, "FileIO");
    w->io.BufferedReader = w->io.FileIO ? PyObject_GetAttrString(io, "BufferedReader") : NULL;
    w->io.BufferedRandom =
        w->io.BufferedReader ? PyObject_GetAttrString(io, "BufferedRandom") : NULL;
    Py_DECREF(io);
    if (w->io.BufferedRandom == NULL)
        return -1;
    if (!PyType_Check(w->io.FileIO) || !PyType_Check(w->io.BufferedReader) ||
        !PyType_Check(w->io.BufferedRandom)) {
        PyErr_SetString(PyExc_TypeError, "io.FileIO and io.Buffered* must be classes");
        return -1;
    }
    return 0;
}

void cn_wsgi_sendfile_clear(cn_wsgi_t *w)
{
    Py_CLEAR(w->io.FileIO);
    Py_CLEAR(w->io.BufferedReader);
    Py_CLEAR(w->io.BufferedRandom);
}

int cn_wsgi_send_file(cn_wsgi_request_t *req, PyObject *wrapper)
{
    if (req->headers_sent || !req->w->opt.sendfile)
        return CN_WSGI_ITERATE;
    PyObject *file = cn_wsgi_file_wrapper_file(wrapper); /* strong, or NULL */
    int fd = -1;
    off_t pos = 0;
    uint64_t avail = 0;
    int rc = file != NULL ? open_body(req->w, file, &fd, &pos, &avail) : CN_WSGI_ITERATE;
    Py_XDECREF(file);
    if (rc != 0)
        return rc;
    /* The head goes first, framed for avail bytes unless the app gave a
     * Content-Length; corked, so that it leaves in one segment with the
     * file's first bytes instead of alone. */
    cn_conn_cork(req->c, true);
    rc = cn_wsgi_send(req, NULL, 0, &avail);
    if (rc == 0) {
        const cn_http_framing_t *fr = &req->framing;
        uint64_t len = fr->body_allowed ? avail : 0; /* HEAD, 204, 304: no body */
        if (fr->has_length && len > fr->content_length)
            len = fr->content_length;
        rc = copy(req, fd, pos, len);
    }
    cn_conn_cork(req->c, false);
    close(fd);
    return rc;
}

/* 1 if file reads its fd's bytes unchanged, 0 if not (or it is detached),
 * -1 with an exception. */
static int plain_file(const cn_wsgi_t *w, PyObject *file)
{
    if (Py_IS_TYPE(file, (PyTypeObject *)w->io.FileIO))
        return 1;
    if (!Py_IS_TYPE(file, (PyTypeObject *)w->io.BufferedReader) &&
        !Py_IS_TYPE(file, (PyTypeObject *)w->io.BufferedRandom))
        return 0;
    PyObject *raw = PyObject_GetAttrString(file, "raw");
    if (raw == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear(); /* detached: its reads fail, as the iteration will say */
        return 0;
    }
    int plain = Py_IS_TYPE(raw, (PyTypeObject *)w->io.FileIO);
    Py_DECREF(raw);
    return plain;
}

/* obj.method() as an integer: 0; CN_WSGI_ITERATE when it raises ValueError
 * or OSError (a closed file; io.UnsupportedOperation is both), which the
 * iteration then meets or not as reading does; -1 with another exception. */
static int call_int(PyObject *obj, const char *method, long long *out)
{
    PyObject *r = PyObject_CallMethod(obj, method, NULL);
    if (r != NULL) {
        *out = PyLong_AsLongLong(r);
        Py_DECREF(r);
        if (*out != -1 || !PyErr_Occurred())
            return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_ValueError) && !PyErr_ExceptionMatches(PyExc_OSError))
        return -1;
    PyErr_Clear();
    return CN_WSGI_ITERATE;
}

/* 0 with *fd a dup of file's fd (the caller closes it), *pos where the body
 * starts and *avail the bytes after it; CN_WSGI_ITERATE when file is not one
 * to send so; -1 with an exception. */
static int open_body(const cn_wsgi_t *w, PyObject *file, int *fd, off_t *pos, uint64_t *avail)
{
    long long fileno = -1, tell = -1;
    int rc = plain_file(w, file);
    if (rc <= 0)
        return rc < 0 ? -1 : CN_WSGI_ITERATE;
    if ((rc = call_int(file, "fileno", &fileno)) != 0)
        return rc;
    struct stat st;
    if (fileno < 0 || fileno > INT_MAX || fstat((int)fileno, &st) < 0 || !S_ISREG(st.st_mode))
        return CN_WSGI_ITERATE; /* tell() would raise on a pipe: not asked */
    if ((rc = call_int(file, "tell", &tell)) != 0)
        return rc;
    if (tell < 0 || st.st_size <= tell)
        return CN_WSGI_ITERATE; /* nothing after tell(), or /proc: reading decides */
    *fd = fcntl((int)fileno, F_DUPFD_CLOEXEC, 0);
    if (*fd < 0)
        return CN_WSGI_ITERATE; /* out of fds: the blocks need none */
    *pos = (off_t)tell;
    *avail = (uint64_t)(st.st_size - tell);
    return 0;
}

/* Send len bytes of fd from pos, the head being out. 0 (also when the file
 * ends early: a short body); CN_WSGI_ITERATE when the kernel cannot send
 * from this file and no byte went (the blocks follow the same head); -1
 * with an exception (req->write_failed set, as for any write). */
static int copy(cn_wsgi_request_t *req, int fd, off_t pos, uint64_t len)
{
    while (len > 0) {
        size_t want = len < MAX_PER_CALL ? (size_t)len : MAX_PER_CALL;
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS n = cn_conn_sendfile_nowait(req->c, fd, &pos, want);
        Py_END_ALLOW_THREADS
        if (n > 0) {
            req->body_sent += (uint64_t)n;
            len -= (uint64_t)n;
        } else if (n == 0) {
            return 0; /* the file shrank */
        } else if (n == -EAGAIN) {
            int rc;
            CN_WSGI_IO(req->w, rc = cn_conn_wait_writable(req->c));
            if (rc < 0)
                return cn_wsgi_write_failed(req, rc);
        } else if ((n == -EINVAL || n == -ENOSYS || n == -EBADF) && req->body_sent == 0) {
            return CN_WSGI_ITERATE; /* EBADF: opened write-only; reading will say */
        } else {
            return cn_wsgi_write_failed(req, (int)n);
        }
    }
    return 0;
}
