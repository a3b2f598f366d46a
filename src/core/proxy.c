/* proxy.c - forwarded_allow_ips matching and secure_scheme_headers (see
 * proxy.h). Parsed once per worker; matched per request with no allocation. */
#include "cunicorn/proxy.h"
#include "cunicorn/http_chars.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_net(const char *s, size_t len, cn_proxy_net_t *net, char *err)
{
    char text[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof(text))
        return cn_err(err, "'%.*s' is not an IP address or network", (int)len, s);
    memcpy(text, s, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, text, net->addr) == 1) {
        net->family = AF_INET;
        net->prefix = 32;
    } else if (inet_pton(AF_INET6, text, net->addr) == 1) {
        net->family = AF_INET6;
        net->prefix = 128;
    } else {
        return cn_err(err, "'%.*s' is not an IP address or network", (int)len, s);
    }
    if (slash != NULL) {
        uint64_t bits;
        if (cn_parse_uint(slash + 1, strlen(slash + 1), (uint64_t)net->prefix, &bits) < 0)
            return cn_err(err, "'%.*s' has a bad prefix length", (int)len, s);
        net->prefix = (int)bits;
    }
    return 0;
}

int cn_proxy_allow_parse(cn_proxy_allow_t *a, const char *list, char *err)
{
    memset(a, 0, sizeof(*a));
    const char *p = list ? list : "";
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        cn_http_trim_ows(&s, &len);
        if (len == 1 && *s == '*') {
            a->any = true;
        } else if (len > 0) {
            a->nets = cn_xrealloc(a->nets, (a->n + 1) * sizeof(*a->nets));
            if (parse_net(s, len, &a->nets[a->n], err) < 0) {
                cn_proxy_allow_free(a);
                return -1;
            }
            a->n++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}

void cn_proxy_allow_free(cn_proxy_allow_t *a)
{
    free(a->nets);
    memset(a, 0, sizeof(*a));
}

static bool prefix_equal(const uint8_t *x, const uint8_t *y, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

bool cn_proxy_allow_match(const cn_proxy_allow_t *a, const char *peer_host)
{
    if (a->any || peer_host[0] == '\0')
        return true;
    uint8_t addr[16];
    int family = AF_INET;
    if (inet_pton(AF_INET, peer_host, addr) != 1) {
        if (inet_pton(AF_INET6, peer_host, addr) != 1)
            return false;
        family = AF_INET6;
    }
    for (size_t i = 0; i < a->n; i++)
        if (a->nets[i].family == family && prefix_equal(a->nets[i].addr, addr, a->nets[i].prefix))
            return true;
    return false;
}

int cn_scheme_headers_parse(cn_scheme_headers_t *sh, const char *spec, char *err)
{
    memset(sh, 0, sizeof(*sh));
    char *copy = cn_xstrdup(spec ? spec : ""), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *eq = strchr(item, '=');
        if (eq == NULL || eq == item || !cn_http_header_name_valid(item, (size_t)(eq - item))) {
            cn_err(err, "'%s' is not NAME=VALUE", item);
            free(copy);
            cn_scheme_headers_free(sh);
            return -1;
        }
        sh->items = cn_xrealloc(sh->items, (sh->n + 1) * sizeof(*sh->items));
        sh->items[sh->n].name = cn_xstrndup(item, (size_t)(eq - item));
        sh->items[sh->n].value = cn_xstrdup(eq + 1);
        sh->n++;
    }
    free(copy);
    return 0;
}

void cn_scheme_headers_free(cn_scheme_headers_t *sh)
{
    for (size_t i = 0; i < sh->n; i++) {
        free(sh->items[i].name);
        free(sh->items[i].value);
    }
    free(sh->items);
    memset(sh, 0, sizeof(*sh));
}

int cn_scheme_from_request(const cn_scheme_headers_t *sh, const cn_http_request_t *req,
                           const char *base, bool *https)
{
    bool seen = false;
    *https = false;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        for (size_t k = 0; k < sh->n; k++) {
            if (!cn_strcase_eq(base + h->name.off, h->name.len, sh->items[k].name))
                continue;
            bool secure = cn_strcase_eq(base + h->value.off, h->value.len, sh->items[k].value);
            if (seen && secure != *https)
                return -1;
            seen = true;
            *https = secure;
        }
    }
    return 0;
}
