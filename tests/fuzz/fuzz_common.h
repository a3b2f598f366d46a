/* fuzz_common.h - helpers shared by the libFuzzer drivers in tests/fuzz/.
 *
 * Owns: the deterministic piece-size generator that turns the first bytes of
 * a fuzz input into read sizes and limits, a strict reference chunked
 * decoder written independently of src/core/http_parser.c, and the check
 * that compares the parser's verdict on a chunked body with it.
 * Must not: depend on anything but cunicorn_core's public headers; every
 * violated invariant ends in abort() so libFuzzer keeps the input. */
#ifndef CUNICORN_FUZZ_COMMON_H
#define CUNICORN_FUZZ_COMMON_H

#include "cunicorn/http.h"

/* How the stream arrives: one byte per read, small random reads, larger
 * random reads, or two reads split at a chosen offset. */
enum fz_mode { FZ_BYTEWISE, FZ_SMALL, FZ_LARGE, FZ_TWO };

typedef struct fz_feed {
    uint64_t state; /* xorshift64 state, never 0 */
    enum fz_mode mode;
    size_t split; /* FZ_TWO: the first read ends here */
} fz_feed_t;

/** Seed a feed from four control bytes; n is the stream length. */
void fz_feed_init(fz_feed_t *f, const uint8_t ctl[4], size_t n);
/** Bytes available after the next read, given avail so far (< n). */
size_t fz_feed_next(fz_feed_t *f, size_t avail, size_t n);

/** Limits chosen by one control byte: the defaults most of the time, small
 * or unlimited ones otherwise. min_field_size keeps fixed heads parseable. */
cn_http_limits_t fz_limits(uint8_t ctl, uint32_t min_field_size);

/** Abort with a message: libFuzzer records the input as a crash. */
_Noreturn void fz_fail(const char *what);

/* ---- strict reference chunked decoder ------------------------------------ */

enum fz_ref_result { FZ_REF_OK, FZ_REF_INCOMPLETE, FZ_REF_BAD };

typedef struct fz_ref {
    enum fz_ref_result result;
    size_t end;       /* FZ_REF_OK: body bytes including the final CRLF */
    bool policy;      /* input trips a limit the parser enforces by choice
                         (chunk line > 4096, size > INT64_MAX, trailer count
                         or size, forbidden trailer names) */
    bool lenient_ext; /* an extension RFC 9112 7.1.1 refuses but the parser
                         skips by design (any non-CTL up to the CR) */
} fz_ref_t;

/**
 * Decode a whole chunked body (RFC 9112 7.1) from in/len, appending the
 * data to out. Not incremental: it sees everything at once, so it shares no
 * state machine with the parser.
 */
void fz_ref_chunked(const char *in, size_t len, const cn_http_limits_t *lim, fz_ref_t *r,
                    cn_buf_t *out);

/**
 * Compare the parser's final verdict on a chunked body (after all of in was
 * offered) with the reference: rc/status, end = bytes consumed, decoded =
 * its output. Aborts on disagreement.
 */
void fz_check_chunked(enum cn_parse rc, int status, size_t end, const cn_buf_t *decoded,
                      const char *in, size_t len, const cn_http_limits_t *lim);

#endif
