/*
 * The raw-syscall floor: the least a closed-loop HTTP/1.1 client can do per request on
 * Linux. One thread, epoll, N keep-alive connections; each writes a fixed GET and reads until
 * the response's Content-Length is in, then writes again. No latency clock, no checks, no
 * statistics beyond a count. bench/suite.py builds and runs it (client "floor") so blast's CPU
 * per request can be compared with this floor on the same machine.
 *
 * With RATE, the least an open-loop client can do instead: a 1 ms timerfd tick (the
 * resolution of blast's timer), and on each tick as many requests as the schedule has due,
 * each on an idle connection; a connection goes back to the idle list when its response is
 * in. bench/rate.sh runs it (client "floor") next to blast --rate.
 *
 * With FLOOR_BATCH=1 in the environment (rate mode only), it sleeps on the tick alone and
 * reads whatever responses are in once per tick: one wake-up per millisecond instead of one
 * per response. A client that measured latency this way would stamp responses up to 1 ms
 * late; the mode exists to show how much of the floor's CPU is wake-ups (docs/benchmarks.md).
 *
 * With FLOOR_PIPELINE=D (closed loop only), each connection keeps up to D requests out, as
 * blast --pipeline D does: D in one write at the start, then, once FLOOR_REFILL (default D/4,
 * at least 1) places are free after a read, as many as are free in one write. FLOOR_REFILL=1
 * tops up after every read (h2load's way), FLOOR_REFILL=D waits for all D (wrk's
 * pipeline.lua). bench/pipeline.sh runs it (client "floor") next to blast and its peers.
 *
 * FLOOR_HEADER='Name: value' adds one header line to the request (blast's User-Agent, so that
 * the server parses the same bytes from every client).
 *
 *   floor HOST PORT PATH CONNECTIONS SECONDS [RATE]   ->   "requests N seconds S"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd; int out; size_t have; char buf[8192]; };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Returns the length of the complete response at the start of buf, or 0 if incomplete. */
static size_t complete(const char *buf, size_t have) {
    const char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4, length = 0;
    const char *cl = memmem(buf, head, "Content-Length:", 15);
    if (!cl) cl = memmem(buf, head, "content-length:", 15);
    if (cl) length = strtoul(cl + 15, NULL, 10);
    return have >= head + length ? head + length : 0;
}

/* The tick: sends what the schedule has due by now, each on an idle connection. */
static int send_due(int tick, double rate, double start, unsigned long long *sent,
                    struct conn **idle, int *idle_count, const char *request, int request_len) {
    unsigned long long expirations;
    if (read(tick, &expirations, sizeof expirations) < 0 && errno != EAGAIN) return 1;
    unsigned long long due = (unsigned long long)((now() - start) * rate);
    for (; *sent < due && *idle_count > 0; (*sent)++) {
        struct conn *free_conn = idle[--*idle_count];
        if (write(free_conn->fd, request, request_len) != request_len) { perror("write"); return 1; }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) { fprintf(stderr, "usage: floor HOST PORT PATH CONNECTIONS SECONDS [RATE]\n"); return 2; }
    int n = atoi(argv[4]);
    double seconds = atof(argv[5]), rate = argc == 7 ? atof(argv[6]) : 0;
    char one[512];
    /* FLOOR_HEADER: one more header line, so that the server parses what blast sends. */
    const char *header = getenv("FLOOR_HEADER") ? getenv("FLOOR_HEADER") : "";
    int one_len = snprintf(one, sizeof one, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s\r\n", argv[3], argv[1], argv[2],
                           header, *header ? "\r\n" : "");
    /* FLOOR_PIPELINE: the request D times over, so that any number of them is one write. */
    int depth = getenv("FLOOR_PIPELINE") ? atoi(getenv("FLOOR_PIPELINE")) : 1;
    int refill = getenv("FLOOR_REFILL") ? atoi(getenv("FLOOR_REFILL")) : depth / 4;
    if (depth < 1 || rate > 0) depth = 1;
    if (refill < 1 || refill > depth) refill = refill < 1 ? 1 : depth;
    char *request = malloc((size_t)one_len * depth);
    for (int i = 0; i < depth; i++) memcpy(request + (size_t)i * one_len, one, one_len);
    int request_len = one_len;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    int ep = epoll_create1(0);
    struct conn *conns = calloc(n, sizeof *conns);
    struct conn **idle = calloc(n, sizeof *idle);
    int idle_count = 0;
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        conns[i].fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        if (rate > 0) idle[idle_count++] = &conns[i];
        else if (write(fd, request, request_len * depth) != request_len * depth) { perror("write"); return 1; }
        conns[i].out = depth;
    }
    int tick = -1, batch = rate > 0 && getenv("FLOOR_BATCH") != NULL;
    if (rate > 0) {
        /* Batch mode blocks on the tick itself; otherwise the tick is one more epoll event. */
        tick = timerfd_create(CLOCK_MONOTONIC, batch ? 0 : TFD_NONBLOCK);
        struct itimerspec every_ms = { { 0, 1000000 }, { 0, 1000000 } };
        timerfd_settime(tick, 0, &every_ms, NULL);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (!batch) epoll_ctl(ep, EPOLL_CTL_ADD, tick, &ev);
    }
    unsigned long long requests = 0, sent = 0;
    double start = now(), deadline = start + seconds;
    struct epoll_event events[256];
    while (now() < deadline) {
        if (batch) { /* sleep to the tick, send what is due, then take the responses in */
            if (send_due(tick, rate, start, &sent, idle, &idle_count, request, request_len)) return 1;
        }
        int ready = epoll_wait(ep, events, 256, batch ? 0 : 100);
        for (int e = 0; e < ready; e++) {
            struct conn *c = events[e].data.ptr;
            if (!c) {
                if (send_due(tick, rate, start, &sent, idle, &idle_count, request, request_len)) return 1;
                continue;
            }
            ssize_t got = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
            if (got <= 0) { if (got < 0 && errno == EAGAIN) continue; fprintf(stderr, "read failed\n"); return 1; }
            c->have += (size_t)got;
            size_t used, done = 0;
            while (c->have && (used = complete(c->buf, c->have))) {
                memmove(c->buf, c->buf + used, c->have - used);
                c->have -= used;
                done++;
            }
            if (!done) continue;
            requests += done;
            c->out -= (int)done;
            if (rate > 0) { idle[idle_count++] = c; continue; }
            int room = depth - c->out;
            if (c->out > 0 && room < refill) continue;
            if (write(c->fd, request, (size_t)request_len * room) != request_len * room) { perror("write"); return 1; }
            c->out = depth;
        }
    }
    printf("requests %llu seconds %.3f\n", requests, now() - start);
    return 0;
}
