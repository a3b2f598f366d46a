/* proxy_protocol.c - PROXY protocol v1/v2 preambles (see proxy_protocol.h).
 *
 * Owns: recognising a preamble from its first bytes and parsing it into
 * addresses. Must not: do I/O or look at bytes after the preamble.
 *
 * v1 is one text line: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport
 * SP dport CRLF, single spaces, at most 107 bytes, or "PROXY UNKNOWN ..."
 * (the receiver keeps the socket's addresses). v2 is binary: the 12-byte
 * signature, a version/command byte (0x20 LOCAL, 0x21 PROXY), a family/
 * transport byte, a big-endian length, then the addresses (IPv4: 4+4+2+2,
 * IPv6: 16+16+2+2, UNIX: 108+108) and TLVs, which are skipped. */
#include "cunicorn/proxy_protocol.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* v2 address block sizes by family (spec 2.2) */
#define V2_INET_LEN 12
#define V2_INET6_LEN 36
#define V2_UNIX_LEN 216

static const char v2_signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                      '\n', 'Q',  'U',  'I',  'T',  '\n'};

static bool starts_like(const char *buf, size_t len, const char *sig, size_t siglen);
static enum cn_proxy_protocol_result fail(const char **reason, const char *why);
static enum cn_proxy_protocol_result parse_v1(const char *buf, size_t len,
                                              cn_proxy_protocol_info_t *info, size_t *consumed,
                                              const char **reason);
static int v1_fields(char *line, char **f, int max);
static int v1_port(const char *s);
static int v1_host(const char *s, int family, char *out);
static enum cn_proxy_protocol_result parse_v2(const unsigned char *buf, size_t len,
                                              cn_proxy_protocol_info_t *info, size_t *consumed,
                                              const char **reason);

int cn_proxy_protocol_mode_parse(const char *value)
{
    static const struct {
        const char *name;
        enum cn_proxy_protocol_mode mode;
    } names[] = {{"off", CN_PROXY_PROTOCOL_OFF},   {"v1", CN_PROXY_PROTOCOL_V1},
                 {"v2", CN_PROXY_PROTOCOL_V2},     {"auto", CN_PROXY_PROTOCOL_AUTO},
                 {"true", CN_PROXY_PROTOCOL_AUTO}, {"false", CN_PROXY_PROTOCOL_OFF}};
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (strcasecmp(value, names[i].name) == 0)
            return (int)names[i].mode;
    return -1;
}

enum cn_proxy_protocol_result cn_proxy_protocol_parse(const char *buf, size_t len,
                                                      cn_proxy_protocol_info_t *info,
                                                      size_t *consumed, const char **reason)
{
    memset(info, 0, sizeof(*info));
    *consumed = 0;
    *reason = NULL;
    if (starts_like(buf, len, "PROXY", 5)) {
        if (len < 5)
            return CN_PROXY_PROTOCOL_AGAIN;
        info->version = 1;
        return parse_v1(buf, len, info, consumed, reason);
    }
    if (starts_like(buf, len, v2_signature, sizeof(v2_signature))) {
        if (len < sizeof(v2_signature))
            return CN_PROXY_PROTOCOL_AGAIN;
        info->version = 2;
        return parse_v2((const unsigned char *)buf, len, info, consumed, reason);
    }
    return CN_PROXY_PROTOCOL_NONE;
}

/* Whether the bytes so far agree with the start of sig. */
static bool starts_like(const char *buf, size_t len, const char *sig, size_t siglen)
{
    return memcmp(buf, sig, len < siglen ? len : siglen) == 0;
}

static enum cn_proxy_protocol_result fail(const char **reason, const char *why)
{
    *reason = why;
    return CN_PROXY_PROTOCOL_ERROR;
}

/* ---- version 1 ------------------------------------------------------------ */

static enum cn_proxy_protocol_result parse_v1(const char *buf, size_t len,
                                              cn_proxy_protocol_info_t *info, size_t *consumed,
                                              const char **reason)
{
    char line[CN_PROXY_PROTOCOL_V1_MAX + 1];
    char *f[7];
    size_t max = len < CN_PROXY_PROTOCOL_V1_MAX ? len : CN_PROXY_PROTOCOL_V1_MAX;
    const char *lf = memchr(buf, '\n', max);
    if (lf == NULL)
        return len >= CN_PROXY_PROTOCOL_V1_MAX ? fail(reason, "PROXY line too long")
                                               : CN_PROXY_PROTOCOL_AGAIN;
    size_t n = (size_t)(lf - buf);
    if (n == 0 || buf[n - 1] != '\r')
        return fail(reason, "PROXY line not ended by CRLF");
    n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f)
            return fail(reason, "invalid byte in PROXY line");
    memcpy(line, buf, n);
    line[n] = '\0';
    int nf = v1_fields(line, f, (int)CN_ARRAY_LEN(f));
    if (nf < 2 || strcmp(f[0], "PROXY") != 0)
        return fail(reason, "malformed PROXY line");
    *consumed = n + 2;
    if (strcmp(f[1], "UNKNOWN") == 0) { /* anything may follow (spec 2.1) */
        info->local = true;
        return CN_PROXY_PROTOCOL_DONE;
    }
    if (nf != 6)
        return fail(reason, "malformed PROXY line");
    if (strcmp(f[1], "TCP4") == 0)
        info->family = AF_INET;
    else if (strcmp(f[1], "TCP6") == 0)
        info->family = AF_INET6;
    else
        return fail(reason, "unsupported PROXY protocol family");
    if (v1_host(f[2], info->family, info->src_host) < 0 ||
        v1_host(f[3], info->family, info->dst_host) < 0)
        return fail(reason, "invalid address in PROXY line");
    info->src_port = v1_port(f[4]);
    info->dst_port = v1_port(f[5]);
    if (info->src_port < 0 || info->dst_port < 0)
        return fail(reason, "invalid port in PROXY line");
    return CN_PROXY_PROTOCOL_DONE;
}

/* Split on single spaces; an empty field (two spaces, a leading or
 * trailing one) makes the line malformed (-1). Returns the field count, or
 * max + 1 if there are more. */
static int v1_fields(char *line, char **f, int max)
{
    int n = 0;
    for (char *s = line;;) {
        char *sp = strchr(s, ' ');
        if (sp != NULL)
            *sp = '\0';
        if (*s == '\0')
            return -1;
        if (n == max)
            return max + 1;
        f[n++] = s;
        if (sp == NULL)
            return n;
        s = sp + 1;
    }
}

/* 1 to 5 digits, at most 65535; -1 otherwise. */
static int v1_port(const char *s)
{
    size_t n = strlen(s);
    int v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* Validates with inet_pton and writes the canonical text form. */
static int v1_host(const char *s, int family, char *out)
{
    unsigned char addr[16];
    if (inet_pton(family, s, addr) != 1 ||
        inet_ntop(family, addr, out, INET6_ADDRSTRLEN) == NULL)
        return -1;
    return 0;
}

/* ---- version 2 ------------------------------------------------------------ */

static enum cn_proxy_protocol_result parse_v2(const unsigned char *buf, size_t len,
                                              cn_proxy_protocol_info_t *info, size_t *consumed,
                                              const char **reason)
{
    static const size_t need[4] = {0, V2_INET_LEN, V2_INET6_LEN, V2_UNIX_LEN};
    if (len < CN_PROXY_PROTOCOL_V2_HEAD)
        return CN_PROXY_PROTOCOL_AGAIN;
    unsigned version = buf[12] >> 4, command = buf[12] & 15;
    unsigned family = buf[13] >> 4, transport = buf[13] & 15;
    size_t plen = ((size_t)buf[14] << 8) | buf[15];
    if (version != 2)
        return fail(reason, "unsupported PROXY protocol version");
    if (command > 1)
        return fail(reason, "unknown PROXY protocol command");
    if (family > 3 || transport > 2)
        return fail(reason, "unknown PROXY protocol address family");
    if (command == 1 && plen < need[family])
        return fail(reason, "PROXY header shorter than its addresses");
    if (len < CN_PROXY_PROTOCOL_V2_HEAD + plen)
        return CN_PROXY_PROTOCOL_AGAIN;
    *consumed = CN_PROXY_PROTOCOL_V2_HEAD + plen;
    /* LOCAL: the proxy's own connection (health checks); UNSPEC and UNIX
     * give no address REMOTE_ADDR could hold */
    if (command == 0 || family == 0 || family == 3) {
        info->local = true;
        return CN_PROXY_PROTOCOL_DONE;
    }
    const unsigned char *a = buf + CN_PROXY_PROTOCOL_V2_HEAD;
    size_t alen = family == 1 ? 4 : 16;
    info->family = family == 1 ? AF_INET : AF_INET6;
    if (inet_ntop(info->family, a, info->src_host, sizeof(info->src_host)) == NULL ||
        inet_ntop(info->family, a + alen, info->dst_host, sizeof(info->dst_host)) == NULL)
        return fail(reason, "invalid address in PROXY header");
    info->src_port = (a[2 * alen] << 8) | a[2 * alen + 1];
    info->dst_port = (a[2 * alen + 2] << 8) | a[2 * alen + 3];
    return CN_PROXY_PROTOCOL_DONE;
}
