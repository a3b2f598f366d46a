/* test_proxy_protocol.c - cn_proxy_protocol_parse (PROXY v1 and v2
 * preambles: valid, malformed, truncated, fed whole and split at every
 * offset) and the preamble step of cn_conn_read_head over a socketpair
 * (trusted, untrusted, no preamble, malformed, cut short). */
#include "cunicorn/conn.h"
#include "cunicorn/proxy_protocol.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

struct pp_case {
    const char *name;
    const char *raw;
    size_t len;              /* raw may hold NULs */
    enum cn_proxy_protocol_result want;
    size_t consumed;         /* for DONE */
    bool local;
    const char *src;
    int sport;
    const char *dst;
    int dport;
};

#define PP(name, raw, ...) {name, raw, sizeof(raw) - 1, .want = __VA_ARGS__}

/* The corpus's pp_04 and pp_05 (v2 over TCP4 and TCP6). */
#define V2_TCP4 V2SIG "\x21\x11\x00\x0c\xc0\xa8\x01\x0a\xc0\xa8\x01\x01\x30\x39\x01\xbb"
#define V2_TCP6                                                                                    \
    V2SIG "\x21\x21\x00\x24\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"      \
          "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\xd4\x31\x00\x50"

static const struct pp_case cases[] = {
    PP("v1 TCP4", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
       CN_PROXY_PROTOCOL_DONE, 47, false, "192.168.0.1", 56324, "192.168.0.11", 443),
    PP("v1 TCP6", "PROXY TCP6 2001:0db8::1 ::1 1 65535\r\n", CN_PROXY_PROTOCOL_DONE, 37, false,
       "2001:db8::1", 1, "::1", 65535),
    PP("v1 UNKNOWN", "PROXY UNKNOWN\r\nGET", CN_PROXY_PROTOCOL_DONE, 15, true),
    PP("v1 UNKNOWN with addresses", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
       CN_PROXY_PROTOCOL_DONE, 59, true),
    PP("v2 TCP4", V2_TCP4 "GET", CN_PROXY_PROTOCOL_DONE, 28, false, "192.168.1.10", 12345,
       "192.168.1.1", 443),
    PP("v2 TCP6", V2_TCP6, CN_PROXY_PROTOCOL_DONE, 52, false, "2001:db8::1", 54321,
       "2001:db8::2", 80),
    PP("v2 LOCAL", V2SIG "\x20\x00\x00\x00GET", CN_PROXY_PROTOCOL_DONE, 16, true),
    PP("v2 with a TLV", V2SIG "\x21\x11\x00\x0f\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x00\x51"
                              "\x04\x00\x00",
       CN_PROXY_PROTOCOL_DONE, 31, false, "1.2.3.4", 80, "5.6.7.8", 81),
    PP("v2 UNIX", V2SIG "\x21\x31\x00\x00", CN_PROXY_PROTOCOL_ERROR),
    PP("v2 UNSPEC", V2SIG "\x21\x00\x00\x00", CN_PROXY_PROTOCOL_DONE, 16, true),
    /* not a preamble */
    PP("HTTP", "GET / HTTP/1.1\r\n\r\n", CN_PROXY_PROTOCOL_NONE),
    PP("PROX then other", "PROXx", CN_PROXY_PROTOCOL_NONE),
    PP("CRLF then other", "\r\n\r\nGET", CN_PROXY_PROTOCOL_NONE),
    /* malformed v1 (the corpus's invalid/pp_01..03 first) */
    PP("v1 cut address", "PROXY TCP4 192.168.0.1 192.16...\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 bad ports", "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
       CN_PROXY_PROTOCOL_ERROR),
    PP("v1 not an IP", "PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 port too big", "PROXY TCP4 1.2.3.4 1.2.3.5 65536 1\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 family mismatch", "PROXY TCP4 ::1 ::1 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 TCP6 with v4", "PROXY TCP6 1.2.3.4 1.2.3.5 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 unknown family", "PROXY UDP4 1.2.3.4 1.2.3.5 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 too few fields", "PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 too many fields", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 double space", "PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 no space", "PROXYTCP4 1.2.3.4 1.2.3.5 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 negative port", "PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 bare LF", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 CTL", "PROXY TCP4 1.2.3.4\t1.2.3.5 1 2\r\n", CN_PROXY_PROTOCOL_ERROR),
    PP("v1 too long",
       "PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0001 0000:0000:0000:0000:0000:0000:0000:0001 "
       "65535 65535 xxxxxxxxxx",
       CN_PROXY_PROTOCOL_ERROR),
    /* malformed v2 */
    PP("v2 version 1", V2SIG "\x11\x11\x00\x0c", CN_PROXY_PROTOCOL_ERROR),
    PP("v2 command 2", V2SIG "\x22\x11\x00\x0c", CN_PROXY_PROTOCOL_ERROR),
    PP("v2 family 4", V2SIG "\x21\x41\x00\x0c", CN_PROXY_PROTOCOL_ERROR),
    PP("v2 transport 3", V2SIG "\x21\x13\x00\x0c", CN_PROXY_PROTOCOL_ERROR),
    PP("v2 TCP4 too short", V2SIG "\x21\x11\x00\x0b\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x00",
       CN_PROXY_PROTOCOL_ERROR),
    PP("v2 TCP6 too short",
       V2SIG "\x21\x21\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x00\x51",
       CN_PROXY_PROTOCOL_ERROR),
};

static enum cn_proxy_protocol_result parse(const char *raw, size_t n,
                                           cn_proxy_protocol_info_t *info, size_t *used)
{
    const char *why = NULL;
    char *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    memcpy(copy, raw, n);
    enum cn_proxy_protocol_result r = cn_proxy_protocol_parse(copy, n, info, used, &why);
    free(copy);
    ck_assert((r == CN_PROXY_PROTOCOL_ERROR) == (why != NULL));
    return r;
}

/* Whole, then every prefix: a prefix of a preamble is AGAIN (or already the
 * same ERROR / NONE), never a different verdict. */
START_TEST(test_parse)
{
    const struct pp_case *c = &cases[_i];
    cn_proxy_protocol_info_t info;
    size_t used;
    enum cn_proxy_protocol_result r = parse(c->raw, c->len, &info, &used);
    ck_assert_msg(r == c->want, "%s: %d, want %d", c->name, r, c->want);
    if (r == CN_PROXY_PROTOCOL_DONE) {
        ck_assert_uint_eq(used, c->consumed);
        ck_assert(info.local == c->local);
        if (!c->local) {
            ck_assert_str_eq(info.src_host, c->src);
            ck_assert_str_eq(info.dst_host, c->dst);
            ck_assert_int_eq(info.src_port, c->sport);
            ck_assert_int_eq(info.dst_port, c->dport);
        }
    }
    if (r != CN_PROXY_PROTOCOL_NONE)
        ck_assert_int_eq(info.version, c->raw[0] == 'P' ? 1 : 2);
    size_t end = r == CN_PROXY_PROTOCOL_DONE ? c->consumed : c->len;
    for (size_t k = 0; k < end; k++) {
        enum cn_proxy_protocol_result rk = parse(c->raw, k, &info, &used);
        ck_assert_msg(rk == CN_PROXY_PROTOCOL_AGAIN || rk == r, "%s, %zu bytes: %d", c->name, k,
                      rk);
    }
}
END_TEST

/* ---- through the connection ------------------------------------------------ */

struct pair {
    cn_conn_t c;
    cn_proxy_allow_t allow;
    int client;
};

/* A connection whose socket peer is 127.0.0.1:4000; allow is the
 * proxy_allow_ips list, mode the proxy_protocol mode. */
static void pair_open(struct pair *pr, const char *allow, enum cn_proxy_protocol_mode mode)
{
    int sv[2];
    char err[CN_ERR_LEN];
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(4000)};
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(cn_proxy_allow_parse(&pr->allow, allow, err), 0);
    cn_http_limits_t limits = {4094, 100, 8190, 0};
    cn_conn_init(&pr->c, sv[0], (struct sockaddr *)&peer, sizeof(peer), NULL, &limits);
    cn_conn_options_t o = {.proxy_protocol = (uint8_t)mode, .proxy_allow = &pr->allow};
    cn_conn_set_options(&pr->c, &o);
    ck_assert_str_eq(pr->c.peer_host, "127.0.0.1");
    pr->client = sv[1];
}

static int pair_send(struct pair *pr, const char *data, size_t n, bool close_after)
{
    ck_assert_int_eq(write(pr->client, data, n), (ssize_t)n);
    if (close_after)
        shutdown(pr->client, SHUT_WR);
    return cn_conn_read_head(&pr->c, cn_now() + 2);
}

static void pair_close(struct pair *pr)
{
    cn_conn_close(&pr->c);
    close(pr->client);
    cn_proxy_allow_free(&pr->allow);
}

START_TEST(test_conn_trusted_v1)
{
    static const char req[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
                              "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), 0);
    ck_assert_str_eq(pr.c.peer_host, "192.168.0.1");
    ck_assert_int_eq(pr.c.peer_port, 56324);
    ck_assert_uint_eq(pr.c.req.target.len, 2);
    ck_assert_int_eq(memcmp(cn_conn_span(&pr.c, pr.c.req.target), "/x", 2), 0);
    /* the next request on the connection is plain HTTP: "PROXY" is a method */
    cn_conn_next_request(&pr.c);
    static const char again[] = "PROXY / HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(pair_send(&pr, again, sizeof(again) - 1, false), 0);
    ck_assert_str_eq(pr.c.peer_host, "192.168.0.1");
    pair_close(&pr);
}
END_TEST

/* A v2 preamble arriving a byte at a time, then the request. */
START_TEST(test_conn_trusted_v2_bytewise)
{
    static const char req[] = V2_TCP6 "GET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "*", CN_PROXY_PROTOCOL_AUTO);
    for (size_t i = 0; i + 1 < sizeof(req) - 1; i++) {
        ck_assert_int_eq(write(pr.client, req + i, 1), 1);
        ck_assert_int_eq(cn_conn_try_read_head(&pr.c), -EAGAIN);
    }
    ck_assert_int_eq(pair_send(&pr, req + sizeof(req) - 2, 1, false), 0);
    ck_assert_str_eq(pr.c.peer_host, "2001:db8::1");
    ck_assert_int_eq(pr.c.peer_port, 54321);
    pair_close(&pr);
}
END_TEST

START_TEST(test_conn_local_keeps_peer)
{
    static const char req[] = "PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), 0);
    ck_assert_str_eq(pr.c.peer_host, "127.0.0.1");
    ck_assert_int_eq(pr.c.peer_port, 4000);
    pair_close(&pr);
}
END_TEST

START_TEST(test_conn_no_preamble)
{
    static const char req[] = "GET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), 0);
    ck_assert_str_eq(pr.c.peer_host, "127.0.0.1");
    pair_close(&pr);
}
END_TEST

START_TEST(test_conn_untrusted)
{
    static const char req[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
                              "GET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "10.0.0.0/8", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 403);
    ck_assert_str_eq(pr.c.peer_host, "127.0.0.1");
    pair_close(&pr);
    /* even a malformed or partial one: the peer is checked first */
    pair_open(&pr, "10.0.0.0/8", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, "PROXY TCP4 x", 12, false), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 403);
    pair_close(&pr);
}
END_TEST

START_TEST(test_conn_disabled)
{
    static const char req[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
                              "GET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "*", CN_PROXY_PROTOCOL_OFF);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 400);
    ck_assert_str_eq(pr.c.peer_host, "127.0.0.1");
    pair_close(&pr);
}
END_TEST

START_TEST(test_conn_malformed)
{
    static const char req[] = "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n"
                              "GET / HTTP/1.1\r\n\r\n";
    struct pair pr;
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, req, sizeof(req) - 1, false), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 400);
    pair_close(&pr);
}
END_TEST

/* Cut short: the client closes inside the preamble (400), or right after it
 * (nothing to answer). */
START_TEST(test_conn_truncated)
{
    struct pair pr;
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, V2SIG "\x21\x11\x00\x0c\xc0\xa8", 18, true), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 400);
    pair_close(&pr);
    pair_open(&pr, "127.0.0.1", CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(pair_send(&pr, "PROXY UNKNOWN\r\n", 15, true), -EPIPE);
    pair_close(&pr);
}
END_TEST

/* proxy_protocol v1 or v2 alone: the other version is answered 400. */
START_TEST(test_conn_one_version_only)
{
    static const char v1[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
                             "GET / HTTP/1.1\r\n\r\n";
    static const char v2[] = V2_TCP6 "GET / HTTP/1.1\r\n\r\n";
    static const struct {
        enum cn_proxy_protocol_mode mode;
        const char *raw;
        size_t len;
        const char *client; /* NULL: refused with 400 */
    } cases[] = {
        {CN_PROXY_PROTOCOL_V2, v1, sizeof(v1) - 1, NULL},
        {CN_PROXY_PROTOCOL_V1, v2, sizeof(v2) - 1, NULL},
        {CN_PROXY_PROTOCOL_V1, v1, sizeof(v1) - 1, "192.168.0.1"},
        {CN_PROXY_PROTOCOL_V2, v2, sizeof(v2) - 1, "2001:db8::1"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        struct pair pr;
        pair_open(&pr, "127.0.0.1", cases[i].mode);
        int rc = pair_send(&pr, cases[i].raw, cases[i].len, false);
        if (cases[i].client == NULL) {
            ck_assert_int_eq(rc, -EPROTO);
            ck_assert_int_eq(pr.c.error.status, 400);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_str_eq(pr.c.peer_host, cases[i].client);
        }
        pair_close(&pr);
    }
}
END_TEST

START_TEST(test_mode_names)
{
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("off"), CN_PROXY_PROTOCOL_OFF);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("v1"), CN_PROXY_PROTOCOL_V1);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("V2"), CN_PROXY_PROTOCOL_V2);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("auto"), CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("True"), CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("false"), CN_PROXY_PROTOCOL_OFF);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse("v3"), -1);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse(""), -1);
}
END_TEST

static Suite *proxy_protocol_suite(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_parse, 0, (int)CN_ARRAY_LEN(cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("conn");
    tcase_add_test(tc, test_conn_trusted_v1);
    tcase_add_test(tc, test_conn_trusted_v2_bytewise);
    tcase_add_test(tc, test_conn_local_keeps_peer);
    tcase_add_test(tc, test_conn_no_preamble);
    tcase_add_test(tc, test_conn_untrusted);
    tcase_add_test(tc, test_conn_disabled);
    tcase_add_test(tc, test_conn_one_version_only);
    tcase_add_test(tc, test_mode_names);
    tcase_add_test(tc, test_conn_malformed);
    tcase_add_test(tc, test_conn_truncated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(proxy_protocol_suite());
}
