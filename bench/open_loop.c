/* Open-loop load: POST pre-signed requests at a constant rate and report latency percentiles.
 *
 *     cc -O2 -o open_loop bench/open_loop.c
 *     open_loop HOST PORT PATH REQUESTS_FILE RATE SECONDS [MAX_CONNECTIONS=512]
 *
 * The C twin of bench/open_loop.py, with the same semantics and the same JSON line, so that the
 * load generator costs the machine (and the server sharing it) almost no CPU. REQUESTS_FILE has
 * one request per line, "<signature> <form-urlencoded body>"; request i uses line i % nlines.
 *
 * Request i is due at start + i/RATE (start = now + 0.2 s, CLOCK_MONOTONIC) and is sent then,
 * whether or not earlier ones have been answered: on an idle keep-alive connection if there is
 * one, else on a new connection if fewer than MAX_CONNECTIONS are open, else it waits in a FIFO
 * backlog served as soon as a connection is free. Its latency counts from when it was due, not
 * from when it was sent, so a slow server cannot hide its queue (no coordinated omission). One
 * request in flight per connection (no pipelining). A request fails on a connect error, a reset,
 * EOF before the full response, a malformed response or after 30 s (counted from its due time,
 * like aiohttp's total timeout, which includes waiting for a pooled connection). Responses with
 * a status >= 300 count in non_2xx and are still answered, with their latency. The run stops
 * when every request is done or at start + SECONDS + 35 s; whatever is still pending then fails.
 *
 * Response bodies: Content-Length, "Transfer-Encoding: chunked" (chunk extensions and trailers
 * skipped), and neither (body read until the server closes, RFC 9112 6.3) are all handled; 1xx
 * interim responses are skipped; 204/304 have no body. achieved_rate is answered / (time the last
 * request finished, answered or failed - start), as in the Python version, where it is the end
 * of the gather. If OPEN_LOOP_TRACE is set, that file gets one line per answered request, in due
 * order: "<due offset from start, s> <latency, ms>".
 *
 * Timing: a timerfd armed at the next due time (absolute, ns resolution) wakes epoll_wait; each
 * wake-up sends every request whose due time has passed. No busy-waiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LEAD_IN 0.2           /* start = now + LEAD_IN */
#ifndef REQUEST_TIMEOUT       /* (-D overrides are for testing only) */
#define REQUEST_TIMEOUT 30.0  /* per request, from its due time */
#endif
#ifndef RUN_GRACE
#define RUN_GRACE 35.0        /* the run ends at start + SECONDS + RUN_GRACE at the latest */
#endif
#define MAX_HEADER (64 * 1024)
#define TIMER_TAG UINT32_MAX  /* epoll data of the timerfd; connections use their slot index */

enum { C_FREE, C_CONNECTING, C_WRITING, C_READING, C_IDLE };
enum { P_NEED, P_DONE, P_ERROR };

struct conn {
    int fd, state;
    uint32_t events;  /* current epoll interest, 0 = not registered */
    long req;         /* request in flight, -1 if none */
    size_t woff;      /* bytes of the request written */
    char *buf;        /* response bytes read so far */
    size_t len, cap;
    size_t hlen;      /* header length once parsed, 0 before */
    int status, chunked, keep, until_eof;
    long long clen;   /* Content-Length, -1 if absent */
    int idle_pos;     /* index in idle[], -1 if not idle */
};

struct request { char *data; size_t len; };

static struct request *reqs;
static long nreqs;
static double start_t, rate;
static long total, next_i, bl_head;  /* requests [bl_head, next_i) are due and wait in the backlog */
static long finished, answered, non_2xx, failed;
static double last_finish;
static double *lat;  /* seconds from due to answer; NAN if not answered */
static struct conn *conns;
static int maxc, nopen, *free_slots, nfree, *idle, nidle;
static int ep;
static struct addrinfo *addr;

static void die(const char *msg) {
    fprintf(stderr, "open_loop: %s\n", msg);
    exit(1);
}

static void die_errno(const char *what) {
    fprintf(stderr, "open_loop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double due(long i) { return start_t + i / rate; }

static void finish(long i, int ok, int status, double now) {
    if (ok) {
        lat[i] = now - due(i);
        answered++;
        if (status >= 300) non_2xx++;
    } else {
        failed++;
    }
    finished++;
    last_finish = now;
}

/* ---- connections ---- */

static void set_events(struct conn *c, uint32_t ev) {
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) < 0) die_errno("epoll_ctl");
    c->events = ev;
}

static void idle_push(struct conn *c) {
    c->state = C_IDLE;
    c->idle_pos = nidle;
    idle[nidle++] = (int)(c - conns);
}

static void idle_remove(struct conn *c) {
    int last = idle[--nidle];
    idle[c->idle_pos] = last;
    conns[last].idle_pos = c->idle_pos;
    c->idle_pos = -1;
}

static void conn_close(struct conn *c) {
    if (c->idle_pos >= 0) idle_remove(c);
    close(c->fd);  /* also leaves the epoll set */
    c->fd = -1;
    c->state = C_FREE;
    c->events = 0;
    c->req = -1;
    free_slots[nfree++] = (int)(c - conns);
    nopen--;
}

static void conn_fail(struct conn *c, double now) {
    if (c->req >= 0) finish(c->req, 0, 0, now);
    c->req = -1;
    conn_close(c);
}

static void start_write(struct conn *c, double now) {
    const struct request *r = &reqs[c->req % nreqs];
    while (c->woff < r->len) {
        ssize_t n = send(c->fd, r->data + c->woff, r->len - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->state = C_WRITING;
            set_events(c, EPOLLOUT);
            return;
        } else {
            conn_fail(c, now);
            return;
        }
    }
    c->state = C_READING;
    set_events(c, EPOLLIN);
}

static void assign(struct conn *c, long i, double now) {
    c->req = i;
    c->woff = 0;
    c->len = 0;
    c->hlen = 0;
    c->until_eof = 0;
    start_write(c, now);
}

static void open_conn(long i, double now) {
    struct conn *c = &conns[free_slots[--nfree]];
    nopen++;
    c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {  /* e.g. out of file descriptors: this request fails */
        free_slots[nfree++] = (int)(c - conns);
        nopen--;
        finish(i, 0, 0, now);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->req = i;
    c->events = 0;
    c->idle_pos = -1;
    if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) == 0) {
        assign(c, i, now);
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
        set_events(c, EPOLLOUT);
    } else {
        c->state = C_CONNECTING;
        conn_fail(c, now);
    }
}

/* An idle connection the server has closed (or that holds stray bytes) must not take a request. */
static int still_usable(struct conn *c) {
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void service_backlog(double now) {
    while (bl_head < next_i) {
        if (nidle > 0) {
            struct conn *c = &conns[idle[nidle - 1]];
            idle_remove(c);
            if (!still_usable(c)) {
                conn_close(c);
                continue;
            }
            assign(c, bl_head++, now);
        } else if (nopen < maxc) {
            open_conn(bl_head++, now);
        } else {
            break;
        }
    }
}

/* ---- responses ---- */

static int header_has(const char *v, size_t n, const char *word) {
    char tmp[256];
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    return strcasestr(tmp, word) != NULL;
}

/* Length of a complete chunked body at p (trailers included), 0 if incomplete, -1 if malformed. */
static long long chunked_len(const char *p, size_t n) {
    size_t off = 0;
    for (;;) {
        const char *eol = memmem(p + off, n - off, "\r\n", 2);
        if (!eol) return n - off > 1024 ? -1 : 0;
        size_t line = (size_t)(eol - (p + off));
        unsigned long long size = 0;
        size_t k = 0;
        for (; k < line; k++) {
            char ch = p[off + k];
            int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                  : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if (d < 0) break;
            if (size > (1ULL << 40)) return -1;
            size = size * 16 + (unsigned long long)d;
        }
        if (k == 0 || (k < line && p[off + k] != ';' && p[off + k] != ' ' && p[off + k] != '\t')) return -1;
        off += line + 2;
        if (size == 0) {  /* last chunk: trailer lines up to an empty line */
            for (;;) {
                eol = memmem(p + off, n - off, "\r\n", 2);
                if (!eol) return n - off > MAX_HEADER ? -1 : 0;
                line = (size_t)(eol - (p + off));
                off += line + 2;
                if (line == 0) return (long long)off;
            }
        }
        if (n - off < size + 2) return 0;
        if (p[off + size] != '\r' || p[off + size + 1] != '\n') return -1;
        off += size + 2;
    }
}

static int parse(struct conn *c) {
    while (!c->hlen) {
        const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) return c->len > MAX_HEADER ? P_ERROR : P_NEED;
        size_t hlen = (size_t)(end - c->buf) + 4;
        const char *b = c->buf;
        if (hlen < 16 || memcmp(b, "HTTP/1.", 7) || b[8] != ' ' || b[9] < '1' || b[9] > '5'
            || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
            return P_ERROR;
        c->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
        c->keep = b[7] != '0';
        c->clen = -1;
        c->chunked = 0;
        const char *line = memmem(b, hlen, "\r\n", 2) + 2;
        while (line < end) {
            const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
            const char *colon = memchr(line, ':', (size_t)(eol - line));
            if (colon) {
                size_t nlen = (size_t)(colon - line);
                const char *v = colon + 1;
                while (v < eol && (*v == ' ' || *v == '\t')) v++;
                size_t vlen = (size_t)(eol - v);
                if (nlen == 14 && !strncasecmp(line, "Content-Length", 14)) {
                    char *stop;
                    char tmp[32];
                    if (vlen == 0 || vlen >= sizeof tmp) return P_ERROR;
                    memcpy(tmp, v, vlen);
                    tmp[vlen] = 0;
                    c->clen = strtoll(tmp, &stop, 10);
                    while (*stop == ' ' || *stop == '\t') stop++;
                    if (*stop || c->clen < 0) return P_ERROR;
                } else if (nlen == 17 && !strncasecmp(line, "Transfer-Encoding", 17)) {
                    c->chunked = header_has(v, vlen, "chunked");
                } else if (nlen == 10 && !strncasecmp(line, "Connection", 10)) {
                    if (header_has(v, vlen, "close")) c->keep = 0;
                    else if (header_has(v, vlen, "keep-alive")) c->keep = 1;
                }
            }
            line = eol + 2;
        }
        if (c->status < 200 && c->status != 101) {  /* interim response: drop it, read the next */
            memmove(c->buf, c->buf + hlen, c->len - hlen);
            c->len -= hlen;
            continue;
        }
        if (c->status == 101) return P_ERROR;
        c->hlen = hlen;
    }
    size_t body = c->len - c->hlen, need;
    if (c->status == 204 || c->status == 304) {
        need = 0;
    } else if (c->chunked) {
        long long n = chunked_len(c->buf + c->hlen, body);
        if (n < 0) return P_ERROR;
        if (n == 0) return P_NEED;
        need = (size_t)n;
    } else if (c->clen >= 0) {
        need = (size_t)c->clen;
    } else {
        c->until_eof = 1;  /* no length: the body ends when the server closes */
        c->keep = 0;
        return P_NEED;
    }
    if (body < need) return P_NEED;
    if (body > need) c->keep = 0;  /* stray bytes after the response: do not reuse */
    return P_DONE;
}

static void complete(struct conn *c, double now) {
    finish(c->req, 1, c->status, now);
    c->req = -1;
    if (c->keep) idle_push(c);  /* stays registered for EPOLLIN: a close by the server is seen */
    else conn_close(c);
}

static void on_readable(struct conn *c, double now) {
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *nb = realloc(c->buf, cap);
        if (!nb) die("out of memory");
        c->buf = nb;
        c->cap = cap;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n == 0 && c->until_eof) {
        complete(c, now);  /* keep is 0: closes */
        return;
    }
    if (n <= 0) {  /* reset or EOF before the full response */
        conn_fail(c, now);
        return;
    }
    c->len += (size_t)n;
    int r = parse(c);
    if (r == P_DONE) complete(c, now);
    else if (r == P_ERROR) conn_fail(c, now);
}

static void on_event(struct conn *c, uint32_t ev, double now) {
    switch (c->state) {
    case C_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(c, now);
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        c->woff = 0;
        c->len = 0;
        c->hlen = 0;
        c->until_eof = 0;
        start_write(c, now);
        return;
    }
    case C_WRITING:
        start_write(c, now);
        return;
    case C_READING:
        on_readable(c, now);
        return;
    case C_IDLE:  /* the server closed it (or sent something unasked): drop it */
        conn_close(c);
        return;
    default:
        return;
    }
}

/* Fail what has waited REQUEST_TIMEOUT since it was due; return the oldest due time still pending. */
static double expire(double now) {
    while (bl_head < next_i && due(bl_head) + REQUEST_TIMEOUT <= now) finish(bl_head++, 0, 0, now);
    double oldest = bl_head < next_i ? due(bl_head) : INFINITY;
    for (int k = 0; k < maxc; k++) {
        struct conn *c = &conns[k];
        if (c->state == C_FREE || c->req < 0) continue;
        if (due(c->req) + REQUEST_TIMEOUT <= now) conn_fail(c, now);
        else if (due(c->req) < oldest) oldest = due(c->req);
    }
    return oldest;
}

/* ---- setup and report ---- */

static void load_requests(const char *path, const char *host, const char *port, const char *target) {
    FILE *fh = fopen(path, "rb");
    if (!fh) die_errno(path);
    size_t cap = 1 << 20, len = 0;
    char *text = xmalloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len, fh)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            text = realloc(text, cap);
            if (!text) die("out of memory");
        }
    }
    if (ferror(fh)) die_errno(path);
    fclose(fh);
    long lines = 1;
    for (size_t k = 0; k < len; k++) lines += text[k] == '\n';
    reqs = xmalloc(sizeof *reqs * (size_t)lines);
    int v6 = strchr(host, ':') != NULL;
    for (size_t pos = 0; pos < len;) {
        char *line = text + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + 1;
        if (llen && line[llen - 1] == '\r') llen--;  /* Python's universal newlines */
        size_t k = 0;
        while (k < llen && strchr(" \t\r\v\f", line[k])) k++;
        if (k == llen) continue;  /* blank line, skipped as in the Python version */
        char *sp = memchr(line, ' ', llen);
        if (!sp) die("a line of the requests file has no space (want \"<signature> <body>\")");
        int slen = (int)(sp - line), blen = (int)(llen - (size_t)(sp - line) - 1);
        const char *fmt = v6 ? "POST %s HTTP/1.1\r\nHost: [%s]:%s\r\n" : "POST %s HTTP/1.1\r\nHost: %s:%s\r\n";
        char head[4096];
        int hn = snprintf(head, sizeof head, fmt, target, host, port);
        if (hn < 0 || (size_t)hn >= sizeof head) die("PATH or HOST too long");
        size_t size = (size_t)hn + (size_t)slen + (size_t)blen + 200;
        struct request *r = &reqs[nreqs++];
        r->data = xmalloc(size);
        r->len = (size_t)snprintf(r->data, size,
                                  "%sContent-Type: application/x-www-form-urlencoded\r\n"
                                  "X-Twilio-Signature: %.*s\r\nContent-Length: %d\r\n\r\n%.*s",
                                  head, slen, line, blen, blen, sp + 1);
    }
    free(text);
    if (!nreqs) die("the requests file has no requests");
}

/* Python's repr() of a float: the shortest string that reads back to the same value. */
static void py_float(char *out, size_t size, double x) {
    if (isnan(x)) { snprintf(out, size, "NaN"); return; }
    if (isinf(x)) { snprintf(out, size, x > 0 ? "Infinity" : "-Infinity"); return; }
    int prec = 1;
    char digits[64];
    for (; prec < 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, x);
        if (strtod(digits, NULL) == x) break;
    }
    snprintf(digits, sizeof digits, "%.*e", prec - 1, x);
    int exp10 = atoi(strchr(digits, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(out, size, "%s", digits);
        return;
    }
    int decimals = prec - 1 - exp10;
    snprintf(out, size, "%.*f", decimals > 0 ? decimals : 0, x);
    if (!strchr(out, '.')) strncat(out, ".0", size - strlen(out) - 1);
}

static void round1(char *out, size_t size, double x) {  /* json.dumps(round(x, 1)) */
    if (isnan(x)) snprintf(out, size, "NaN");
    else snprintf(out, size, "%.1f", x);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double q) {
    if (!n) return NAN;
    long k = (long)(q * (double)n);
    return sorted[k < n - 1 ? k : n - 1];
}

static void usage(void) {
    fprintf(stderr, "usage: open_loop HOST PORT PATH REQUESTS_FILE RATE SECONDS [MAX_CONNECTIONS=512]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 8) usage();
    const char *host = argv[1], *port = argv[2], *target = argv[3], *file = argv[4];
    char *stop;
    rate = strtod(argv[5], &stop);
    if (*stop || !(rate > 0) || isinf(rate)) usage();
    double seconds = strtod(argv[6], &stop);
    if (*stop || !(seconds >= 0) || isinf(seconds)) usage();
    maxc = 512;
    if (argc == 8) {
        long m = strtol(argv[7], &stop, 10);
        if (*stop || m < 1 || m > 1000000) usage();
        maxc = (int)m;
    }
    double totalf = rate * seconds;
    if (totalf > 1e9) die("RATE x SECONDS is too large");
    total = (long)totalf;

    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)maxc + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)maxc + 64 ? (rlim_t)maxc + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, port, &hints, &addr);
    if (gai) {
        fprintf(stderr, "open_loop: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 1;
    }
    load_requests(file, host, port, target);

    lat = xmalloc(sizeof *lat * (size_t)(total ? total : 1));
    for (long i = 0; i < total; i++) lat[i] = NAN;
    conns = xmalloc(sizeof *conns * (size_t)maxc);
    free_slots = xmalloc(sizeof *free_slots * (size_t)maxc);
    idle = xmalloc(sizeof *idle * (size_t)maxc);
    for (int k = 0; k < maxc; k++) {
        conns[k] = (struct conn){.fd = -1, .state = C_FREE, .req = -1, .idle_pos = -1};
        free_slots[nfree++] = maxc - 1 - k;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die_errno("epoll_create1");
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) die_errno("timerfd_create");
    struct epoll_event te = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te) < 0) die_errno("epoll_ctl");

    start_t = mono() + LEAD_IN;
    double end_t = start_t + seconds + RUN_GRACE, armed = -1;
    last_finish = start_t;
    struct epoll_event evs[256];
    while (finished < total) {
        double now = mono();
        if (now >= end_t) break;
        while (next_i < total && due(next_i) <= now) next_i++;  /* due: into the backlog */
        expire(now);
        service_backlog(now);
        if (finished >= total) break;
        double wake = end_t, oldest = expire(now);
        if (next_i < total && due(next_i) < wake) wake = due(next_i);
        if (oldest + REQUEST_TIMEOUT < wake) wake = oldest + REQUEST_TIMEOUT;
        if (wake != armed) {
            struct itimerspec its = {0};
            its.it_value.tv_sec = (time_t)wake;
            its.it_value.tv_nsec = (long)((wake - (double)its.it_value.tv_sec) * 1e9);
            if (its.it_value.tv_nsec >= 1000000000L) its.it_value.tv_nsec = 999999999L;
            if (!its.it_value.tv_sec && !its.it_value.tv_nsec) its.it_value.tv_nsec = 1;
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die_errno("timerfd_settime");
            armed = wake;
        }
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof *evs), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die_errno("epoll_wait");
        }
        now = mono();
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u32 == TIMER_TAG) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die_errno("timerfd read");
                continue;
            }
            on_event(&conns[evs[k].data.u32], evs[k].events, now);
        }
    }
    /* Out of time: whatever is still pending fails. */
    double now = mono();
    for (int k = 0; k < maxc; k++)
        if (conns[k].state != C_FREE) conn_fail(&conns[k], now);
    for (long i = bl_head; i < total; i++) finish(i, 0, 0, now);

    double *ms = xmalloc(sizeof *ms * (size_t)(answered ? answered : 1));
    long m = 0;
    for (long i = 0; i < total; i++)
        if (!isnan(lat[i])) ms[m++] = lat[i] * 1000;
    const char *trace = getenv("OPEN_LOOP_TRACE");
    if (trace && *trace) {
        FILE *fh = fopen(trace, "w");
        if (!fh) die_errno(trace);
        for (long i = 0; i < total; i++)
            if (!isnan(lat[i])) fprintf(fh, "%.4f %.2f\n", due(i) - start_t, lat[i] * 1000);
        if (fclose(fh)) die_errno(trace);
    }
    qsort(ms, (size_t)m, sizeof *ms, cmp_double);
    double elapsed = last_finish - start_t;
    char offered[64], achieved[64], p50[64], p90[64], p99[64], mx[64];
    py_float(offered, sizeof offered, rate);
    round1(achieved, sizeof achieved, elapsed > 0 ? (double)m / elapsed : 0.0);
    round1(p50, sizeof p50, percentile(ms, m, 0.50));
    round1(p90, sizeof p90, percentile(ms, m, 0.90));
    round1(p99, sizeof p99, percentile(ms, m, 0.99));
    round1(mx, sizeof mx, m ? ms[m - 1] : NAN);
    printf("{\"offered_rate\": %s, \"requests\": %ld, \"answered\": %ld, \"achieved_rate\": %s, "
           "\"p50_ms\": %s, \"p90_ms\": %s, \"p99_ms\": %s, \"max_ms\": %s, \"non_2xx\": %ld, \"failed\": %ld}\n",
           offered, total, answered, achieved, p50, p90, p99, mx, non_2xx, failed);
    return 0;
}
