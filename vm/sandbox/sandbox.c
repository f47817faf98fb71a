/*
 * The reference sandbox: a TEST FIXTURE AND DEMO of what runs inside the groundflare microVM.
 *
 * It is not the product's sandbox; it shows the contract a real one keeps:
 *   - listen on 0.0.0.0:8080 (the port the host forwards to a loopback port);
 *   - refuse every request whose X-Groundflare-Sandbox header is not the internal token,
 *     which the guest init hands over on the descriptor named by $GROUNDFLARE_TOKEN_FD
 *     (never argv, the environment or a file left behind); /health included;
 *   - GET /health answers {"ok":true,...}.
 * Demo endpoints: POST /exec {"argv":[...],"cwd":..,"stdin":..,"timeout_ms":..} streams
 * NDJSON ({"pid":N}, {"stream":"stdout"|"stderr","data":"..."}, {"exit":N}); GET /ws is a
 * WebSocket echo; GET /pty is a shell on a terminal over a WebSocket; GET
 * /files?path=/workspace/... lists a directory.
 *
 * One process per connection (fork), so a long command never blocks /health. Static, small
 * (gcc -static), because every byte of the initramfs is unpacked by an emulated CPU at boot.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT 8080
#define MAX_HEAD 16384
#define MAX_BODY (1 << 20)
#define MAX_ARGS 256
#define MAX_FRAME (16 << 20)
#define WORKSPACE "/workspace"

static char token[512];
static size_t token_len;

/* ---------- small output helpers ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void buf_grow(buf_t *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) _exit(1);
    b->data = p;
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t n) {
    buf_grow(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(buf_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid, -1 if cut short. */
static int utf8_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n <= 1) return n;
    if ((size_t)n > avail) {
        for (size_t i = 1; i < avail; i++)
            if ((s[i] & 0xC0) != 0x80) return 0;
        return -1;
    }
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* Append s as a JSON string; invalid UTF-8 becomes U+FFFD. Returns bytes consumed: a
 * sequence cut at the end is left for the next call when `partial_ok`. */
static size_t json_string(buf_t *b, const char *s, size_t n, int partial_ok) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    buf_str(b, "\"");
    while (i < n) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            buf_add(b, "\\", 1);
            buf_add(b, &c, 1);
            i++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (esc)
                buf_str(b, esc);
            else
                buf_fmt(b, "\\u%04x", c);
            i++;
        } else {
            int len = utf8_len(u + i, n - i);
            if (len < 0 && partial_ok) break;
            if (len <= 0) {
                buf_str(b, "\xEF\xBF\xBD");
                i++;
            } else {
                buf_add(b, u + i, (size_t)len);
                i += (size_t)len;
            }
        }
    }
    buf_str(b, "\"");
    return i;
}

/* ---------- HTTP ---------- */

typedef struct {
    int fd;
    char head[MAX_HEAD + 1];
    size_t head_len, body_start;
    char method[16];
    char path[4096];
    char query[4096];
} req_t;

/* Header value (case-insensitive name), copied into out; 0 if present. */
static int header(const req_t *r, const char *name, char *out, size_t cap) {
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end) break;
        if ((size_t)(end - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t n = (size_t)(ve - v) < cap - 1 ? (size_t)(ve - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 0;
        }
        line = end;
    }
    return -1;
}

static void respond(int fd, int status, const char *reason, const char *type, const char *body) {
    buf_t b = {0};
    buf_fmt(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", status, reason,
            type, strlen(body));
    buf_str(&b, "Connection: close\r\n\r\n");
    buf_str(&b, body);
    write_all(fd, b.data, b.len);
    free(b.data);
}

static void error_json(int fd, int status, const char *reason, const char *message) {
    buf_t b = {0};
    buf_str(&b, "{\"error\":");
    json_string(&b, message, strlen(message), 0);
    buf_str(&b, "}\n");
    respond(fd, status, reason, "application/json", b.data);
    free(b.data);
}

static int read_head(req_t *r) {
    while (r->head_len < MAX_HEAD) {
        ssize_t n = read(r->fd, r->head + r->head_len, MAX_HEAD - r->head_len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        r->head_len += (size_t)n;
        r->head[r->head_len] = 0;
        char *end = strstr(r->head, "\r\n\r\n");
        if (end) {
            r->body_start = (size_t)(end - r->head) + 4;
            return 0;
        }
    }
    return -1;
}

static int parse_request_line(req_t *r) {
    char target[4096];
    if (sscanf(r->head, "%15s %4095s HTTP/1.", r->method, target) != 2) return -1;
    char *q = strchr(target, '?');
    if (q) *q++ = 0;
    snprintf(r->path, sizeof r->path, "%s", target);
    snprintf(r->query, sizeof r->query, "%s", q ? q : "");
    return 0;
}

static int authorized(const req_t *r) {
    char given[512];
    if (header(r, "X-Groundflare-Sandbox", given, sizeof given) != 0) return 0;
    size_t n = strlen(given);
    unsigned char diff = (unsigned char)(n != token_len);
    for (size_t i = 0; i < token_len; i++) diff |= (unsigned char)(given[i < n ? i : 0] ^ token[i]);
    return diff == 0;
}

/* The request body (Content-Length or chunked), at most MAX_BODY bytes. */
static int read_body(req_t *r, buf_t *body) {
    char value[64];
    buf_t raw = {0};
    buf_add(&raw, r->head + r->body_start, r->head_len - r->body_start);
    int chunked = header(r, "Transfer-Encoding", value, sizeof value) == 0 &&
                  strcasestr(value, "chunked") != NULL;
    long want = -1;
    if (!chunked && header(r, "Content-Length", value, sizeof value) == 0) want = atol(value);
    if (want > MAX_BODY) return -1;
    char chunk[8192];
    for (;;) {
        if (!chunked && raw.len >= (size_t)(want < 0 ? 0 : want)) break;
        if (chunked && strstr(raw.data ? raw.data : "", "\r\n0\r\n\r\n")) break;
        if (chunked && raw.len >= 5 && strncmp(raw.data, "0\r\n\r\n", 5) == 0) break;
        if (raw.len > MAX_BODY + 65536) return -1;
        ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf_add(&raw, chunk, (size_t)n);
    }
    if (!chunked) {
        buf_add(body, raw.data ? raw.data : "", want < 0 ? 0 : (size_t)want);
    } else {
        size_t pos = 0;
        for (;;) {
            if (pos >= raw.len) return -1;
            char *end = strstr(raw.data + pos, "\r\n");
            if (!end) return -1;
            size_t size = strtoul(raw.data + pos, NULL, 16);
            pos = (size_t)(end - raw.data) + 2;
            if (size == 0) break;
            if (pos + size > raw.len) return -1;
            buf_add(body, raw.data + pos, size);
            pos += size + 2;
        }
    }
    free(raw.data);
    if (!body->data) buf_add(body, "", 0);
    return 0;
}

/* ---------- a JSON reader for the exec request ---------- */

typedef struct {
    const char *p, *end;
} json_t;

static void skip_ws(json_t *j) {
    while (j->p < j->end && isspace((unsigned char)*j->p)) j->p++;
}

static void put_utf8(buf_t *b, unsigned cp) {
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) { o[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); n = 2; }
    else if (cp < 0x10000) { o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F); n = 3; }
    else { o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F); o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F); n = 4; }
    buf_add(b, o, n);
}

static int read_hex4(json_t *j, unsigned *out) {
    if (j->end - j->p < 4) return -1;
    char hex[5] = {j->p[0], j->p[1], j->p[2], j->p[3], 0};
    char *stop;
    *out = (unsigned)strtoul(hex, &stop, 16);
    if (*stop) return -1;
    j->p += 4;
    return 0;
}

/* A JSON string into a fresh NUL-terminated buffer (NUL bytes inside are refused). */
static char *read_string(json_t *j) {
    skip_ws(j);
    if (j->p >= j->end || *j->p != '"') return NULL;
    j->p++;
    buf_t b = {0};
    buf_add(&b, "", 0);
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c != '\\') {
            buf_add(&b, &c, 1);
            continue;
        }
        if (j->p >= j->end) break;
        char e = *j->p++;
        unsigned cp;
        switch (e) {
        case 'n': buf_add(&b, "\n", 1); break;
        case 't': buf_add(&b, "\t", 1); break;
        case 'r': buf_add(&b, "\r", 1); break;
        case 'b': buf_add(&b, "\b", 1); break;
        case 'f': buf_add(&b, "\f", 1); break;
        case 'u':
            if (read_hex4(j, &cp) != 0 || cp == 0) { free(b.data); return NULL; }
            if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                unsigned lo;
                j->p += 2;
                if (read_hex4(j, &lo) != 0) { free(b.data); return NULL; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
            break;
        default: buf_add(&b, &e, 1);
        }
    }
    if (j->p >= j->end) { free(b.data); return NULL; }
    j->p++;
    return b.data;
}

/* Skip any JSON value (for keys we do not know). */
static int skip_value(json_t *j) {
    skip_ws(j);
    if (j->p >= j->end) return -1;
    if (*j->p == '"') { free(read_string(j)); return 0; }
    if (*j->p == '{' || *j->p == '[') {
        int depth = 0;
        while (j->p < j->end) {
            if (*j->p == '"') { free(read_string(j)); continue; }
            if (*j->p == '{' || *j->p == '[') depth++;
            if (*j->p == '}' || *j->p == ']') depth--;
            j->p++;
            if (depth == 0) return 0;
        }
        return -1;
    }
    while (j->p < j->end && !strchr(",}] \t\r\n", *j->p)) j->p++;
    return 0;
}

typedef struct {
    char *argv[MAX_ARGS + 1];
    int argc;
    char *cwd, *stdin_data;
    long timeout_ms;
} exec_req_t;

static int parse_exec(const char *text, size_t n, exec_req_t *x) {
    json_t j = {text, text + n};
    memset(x, 0, sizeof *x);
    skip_ws(&j);
    if (j.p >= j.end || *j.p++ != '{') return -1;
    for (;;) {
        skip_ws(&j);
        if (j.p < j.end && *j.p == '}') break;
        char *key = read_string(&j);
        if (!key) return -1;
        skip_ws(&j);
        if (j.p >= j.end || *j.p++ != ':') { free(key); return -1; }
        skip_ws(&j);
        if (strcmp(key, "argv") == 0) {
            if (j.p >= j.end || *j.p++ != '[') { free(key); return -1; }
            for (;;) {
                skip_ws(&j);
                if (j.p < j.end && *j.p == ']') { j.p++; break; }
                char *arg = read_string(&j);
                if (!arg || x->argc >= MAX_ARGS) { free(key); return -1; }
                x->argv[x->argc++] = arg;
                skip_ws(&j);
                if (j.p < j.end && *j.p == ',') j.p++;
            }
        } else if (strcmp(key, "cwd") == 0) {
            x->cwd = read_string(&j);
        } else if (strcmp(key, "stdin") == 0) {
            x->stdin_data = read_string(&j);
        } else if (strcmp(key, "timeout_ms") == 0) {
            x->timeout_ms = strtol(j.p, (char **)&j.p, 10);
        } else if (skip_value(&j) != 0) {
            free(key);
            return -1;
        }
        free(key);
        skip_ws(&j);
        if (j.p < j.end && *j.p == ',') { j.p++; continue; }
        if (j.p < j.end && *j.p == '}') break;
        return -1;
    }
    return x->argc > 0 ? 0 : -1;
}

/* ---------- endpoints ---------- */

static void health(req_t *r) {
    char body[96];
    snprintf(body, sizeof body, "{\"ok\":true,\"uid\":%d}\n", (int)getuid());
    respond(r->fd, 200, "OK", "application/json", body);
}

/* One NDJSON line as one HTTP chunk. */
static int send_event(int fd, buf_t *line) {
    char size[32];
    buf_add(line, "\n", 1);
    int n = snprintf(size, sizeof size, "%zx\r\n", line->len);
    int rc = write_all(fd, size, (size_t)n) || write_all(fd, line->data, line->len) ||
             write_all(fd, "\r\n", 2);
    line->len = 0;
    return rc;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void execute(req_t *r) {
    buf_t body = {0};
    exec_req_t x;
    if (strcmp(r->method, "POST") != 0) {
        error_json(r->fd, 405, "Method Not Allowed", "POST a JSON {argv, cwd, stdin, timeout_ms}");
        return;
    }
    if (read_body(r, &body) != 0 || parse_exec(body.data, body.len, &x) != 0) {
        error_json(r->fd, 400, "Bad Request", "body must be JSON with a non-empty argv");
        return;
    }
    int out[2], err[2], in[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) {
        error_json(r->fd, 500, "Internal Server Error", strerror(errno));
        return;
    }
    int ready[2];
    if (pipe2(ready, O_CLOEXEC)) return;
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        int e = 0;
        if (chdir(x.cwd ? x.cwd : WORKSPACE) != 0) e = errno;
        else {
            execvp(x.argv[0], x.argv);
            e = errno;
        }
        write_all(ready[1], &e, sizeof e);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(ready[1]);
    int child_errno = 0;
    ssize_t got = pid > 0 ? read(ready[0], &child_errno, sizeof child_errno) : -1;
    close(ready[0]);
    if (pid < 0 || got == (ssize_t)sizeof child_errno) {
        if (pid > 0) waitpid(pid, NULL, 0);
        error_json(r->fd, 400, "Bad Request", strerror(pid < 0 ? errno : child_errno));
        return;
    }
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    buf_t line = {0};
    int broken = write_all(r->fd, head, strlen(head));
    buf_fmt(&line, "{\"pid\":%d}", (int)pid);
    broken = broken || send_event(r->fd, &line);

    const char *stdin_left = x.stdin_data ? x.stdin_data : "";
    size_t stdin_len = strlen(stdin_left);
    int fds[2] = {out[0], err[0]};
    const char *names[2] = {"stdout", "stderr"};
    char carry[2][4];
    size_t carry_len[2] = {0, 0};
    int open_pipes = 2, in_open = 1;
    long deadline = x.timeout_ms > 0 ? now_ms() + x.timeout_ms : -1;
    if (stdin_len == 0) { close(in[1]); in_open = 0; }
    while (open_pipes > 0 && !broken) {
        struct pollfd p[4];
        int np = 0, map[4];
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0) { p[np] = (struct pollfd){fds[i], POLLIN, 0}; map[np++] = i; }
        if (in_open) { p[np] = (struct pollfd){in[1], POLLOUT, 0}; map[np++] = 2; }
        p[np] = (struct pollfd){r->fd, POLLRDHUP, 0};
        map[np++] = 3;
        long wait = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && wait <= 0) break;
        if (poll(p, (nfds_t)np, (int)wait) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < np; k++) {
            if (!p[k].revents) continue;
            int i = map[k];
            if (i == 3) {
                if (p[k].revents & (POLLRDHUP | POLLHUP | POLLERR)) broken = 1;
            } else if (i == 2) {
                ssize_t w = write(in[1], stdin_left, stdin_len);
                if (w > 0) { stdin_left += w; stdin_len -= (size_t)w; }
                if (w < 0 || stdin_len == 0) { close(in[1]); in_open = 0; }
            } else {
                char data[32768 + 4];
                memcpy(data, carry[i], carry_len[i]);
                ssize_t n = read(fds[i], data + carry_len[i], 32768);
                if (n <= 0) {
                    if (carry_len[i]) {
                        buf_fmt(&line, "{\"stream\":\"%s\",\"data\":", names[i]);
                        json_string(&line, data, carry_len[i], 0);
                        buf_str(&line, "}");
                        broken = broken || send_event(r->fd, &line);
                    }
                    close(fds[i]);
                    fds[i] = -1;
                    open_pipes--;
                    continue;
                }
                size_t total = carry_len[i] + (size_t)n;
                buf_fmt(&line, "{\"stream\":\"%s\",\"data\":", names[i]);
                size_t used = json_string(&line, data, total, 1);
                buf_str(&line, "}");
                carry_len[i] = total - used;
                memcpy(carry[i], data + used, carry_len[i]);
                broken = broken || send_event(r->fd, &line);
            }
        }
    }
    if (open_pipes > 0 || broken) kill(-pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    kill(-pid, SIGKILL); /* anything it left running in its group */
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (!broken) {
        if (deadline >= 0 && now_ms() >= deadline) buf_fmt(&line, "{\"exit\":%d,\"timeout\":true}", code);
        else buf_fmt(&line, "{\"exit\":%d}", code);
        send_event(r->fd, &line);
        write_all(r->fd, "0\r\n\r\n", 5);
    }
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void files(req_t *r) {
    char path[4096] = WORKSPACE;
    const char *q = strstr(r->query, "path=");
    if (q && (q == r->query || q[-1] == '&')) {
        size_t n = 0;
        for (q += 5; *q && *q != '&' && n < sizeof path - 1; q++) {
            if (*q == '%' && isxdigit((unsigned char)q[1]) && isxdigit((unsigned char)q[2])) {
                char hex[3] = {q[1], q[2], 0};
                path[n++] = (char)strtol(hex, NULL, 16);
                q += 2;
            } else {
                path[n++] = *q == '+' ? ' ' : *q;
            }
        }
        path[n] = 0;
        while (n > 1 && path[n - 1] == '/') path[--n] = 0;
    }
    if ((strcmp(path, WORKSPACE) != 0 && strncmp(path, WORKSPACE "/", 11) != 0) ||
        strstr(path, "/../") || (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0)) {
        error_json(r->fd, 400, "Bad Request", "path must be under /workspace");
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        error_json(r->fd, 404, "Not Found", strerror(errno));
        return;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        names = realloc(names, (count + 1) * sizeof *names);
        names[count++] = strdup(e->d_name);
    }
    qsort(names, count, sizeof *names, cmp_names);
    buf_t b = {0};
    buf_str(&b, "{\"path\":");
    json_string(&b, path, strlen(path), 0);
    buf_str(&b, ",\"entries\":[");
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        int ok = fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0;
        buf_str(&b, i ? ",{\"name\":" : "{\"name\":");
        json_string(&b, names[i], strlen(names[i]), 0);
        buf_fmt(&b, ",\"dir\":%s,\"size\":%lld}", ok && S_ISDIR(st.st_mode) ? "true" : "false",
                ok ? (long long)st.st_size : 0LL);
        free(names[i]);
    }
    buf_str(&b, "]}\n");
    closedir(dir);
    free(names);
    respond(r->fd, 200, "OK", "application/json", b.data);
    free(b.data);
}

/* ---------- WebSocket echo (RFC 6455) ---------- */

static void sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *m = calloc(total, 1);
    memcpy(m, data, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
                   (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) {
            uint32_t v = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
            w[i] = v << 1 | v >> 31;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = (a << 5 | a >> 27) + f + e + k + w[i];
            e = d; d = c; c = b << 30 | b >> 2; b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(m);
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* Buffered reads over the connection, starting with what followed the request head. */
typedef struct {
    int fd;
    char *pending;
    size_t pending_len;
} conn_t;

static int read_exact(conn_t *c, unsigned char *out, size_t n) {
    while (n > 0) {
        if (c->pending_len) {
            size_t k = n < c->pending_len ? n : c->pending_len;
            memcpy(out, c->pending, k);
            c->pending += k;
            c->pending_len -= k;
            out += k;
            n -= k;
            continue;
        }
        ssize_t got = read(c->fd, out, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        out += got;
        n -= (size_t)got;
    }
    return 0;
}

static int send_frame(int fd, unsigned char opcode, const unsigned char *data, size_t n) {
    unsigned char head[10];
    size_t h = 2;
    head[0] = 0x80 | opcode;
    if (n < 126) head[1] = (unsigned char)n;
    else if (n < 65536) { head[1] = 126; head[2] = (unsigned char)(n >> 8); head[3] = (unsigned char)n; h = 4; }
    else { head[1] = 127; for (int i = 0; i < 8; i++) head[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i)); h = 10; }
    return write_all(fd, head, h) || write_all(fd, data, n);
}

/* The handshake; 0 once the connection speaks WebSocket (c is its reader). */
static int ws_accept(req_t *r, conn_t *c) {
    char key[128], upgrade[64];
    if (header(r, "Upgrade", upgrade, sizeof upgrade) != 0 || strcasecmp(upgrade, "websocket") ||
        header(r, "Sec-WebSocket-Key", key, sizeof key) != 0) {
        error_json(r->fd, 400, "Bad Request", "expected a WebSocket upgrade");
        return -1;
    }
    char joined[256];
    unsigned char digest[20];
    char accept[40];
    snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((unsigned char *)joined, strlen(joined), digest);
    base64(digest, 20, accept);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (write_all(r->fd, head, (size_t)n)) return -1;
    *c = (conn_t){r->fd, r->head + r->body_start, r->head_len - r->body_start};
    return 0;
}

/* The next whole data message into *message (its opcode in *opcode), answering pings and
 * echoing a close; -1 when the connection ends. */
static int ws_message(conn_t *c, buf_t *message, unsigned char *opcode) {
    message->len = 0;
    for (;;) {
        unsigned char h[2], ext[8], mask[4] = {0};
        if (read_exact(c, h, 2)) return -1;
        int fin = h[0] & 0x80, op = h[0] & 0x0F, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7F;
        if (len == 126) { if (read_exact(c, ext, 2)) return -1; len = (uint64_t)ext[0] << 8 | ext[1]; }
        else if (len == 127) {
            if (read_exact(c, ext, 8)) return -1;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | ext[i];
        }
        if (len > MAX_FRAME || message->len + len > MAX_FRAME) return -1;
        if (masked && read_exact(c, mask, 4)) return -1;
        unsigned char *payload = malloc(len ? len : 1);
        if (read_exact(c, payload, len)) { free(payload); return -1; }
        for (uint64_t i = 0; i < len; i++) payload[i] ^= mask[i % 4];
        if (op >= 0x8) { /* close: echo it and stop; ping: pong; pong: nothing */
            if (op == 0x8 || op == 0x9) send_frame(c->fd, op == 0x9 ? 0xA : 0x8, payload, len);
            free(payload);
            if (op == 0x8) return -1;
            continue;
        }
        if (op) *opcode = (unsigned char)op;
        buf_add(message, payload, len);
        free(payload);
        if (fin) return 0;
    }
}

static void websocket(req_t *r) {
    conn_t c;
    if (ws_accept(r, &c)) return;
    buf_t message = {0};
    unsigned char opcode = 0;
    while (ws_message(&c, &message, &opcode) == 0 &&
           send_frame(r->fd, opcode, (unsigned char *)message.data, message.len) == 0) {
    }
    free(message.data);
}

/* GET /pty?cols=C&rows=R: an interactive shell on a terminal, over a WebSocket. Binary
 * frames carry the terminal's bytes both ways; a text frame {"type":"resize","cols":C,
 * "rows":R} sets its size (the contract's pty_path, `groundflare vm shell`). */
static void set_size(int fd, const char *text) {
    const char *cols = strstr(text, "cols"), *rows = strstr(text, "rows");
    struct winsize size = {0};
    if (!cols || !rows) return;
    while (*cols && !isdigit((unsigned char)*cols)) cols++;
    while (*rows && !isdigit((unsigned char)*rows)) rows++;
    size.ws_col = (unsigned short)atoi(cols);
    size.ws_row = (unsigned short)atoi(rows);
    if (size.ws_col && size.ws_row) ioctl(fd, TIOCSWINSZ, &size);
}

static void pty(req_t *r) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) || unlockpt(master)) {
        error_json(r->fd, 500, "Internal Server Error", "no terminal");
        return;
    }
    set_size(master, r->query);
    const char *name = ptsname(master);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int tty = open(name, O_RDWR);
        if (tty < 0 || ioctl(tty, TIOCSCTTY, 0)) _exit(127);
        dup2(tty, 0), dup2(tty, 1), dup2(tty, 2);
        if (tty > 2) close(tty);
        if (chdir(WORKSPACE) != 0) (void)chdir("/");
        signal(SIGPIPE, SIG_DFL);
        setenv("TERM", "xterm-256color", 1);
        execl("/bin/sh", "sh", "-i", (char *)NULL);
        _exit(127);
    }
    conn_t c;
    if (pid < 0 || ws_accept(r, &c)) {
        if (pid > 0) kill(pid, SIGKILL);
        close(master);
        return;
    }
    buf_t message = {0};
    unsigned char opcode = 0, out[32768];
    struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {master, POLLIN, 0}};
    for (;;) {
        /* Bytes the handshake read past its head come first. */
        if (c.pending_len == 0 && poll(fds, 2, -1) < 0 && errno != EINTR) break;
        if (c.pending_len || fds[0].revents) {
            if (ws_message(&c, &message, &opcode)) break;
            if (opcode == 0x1) set_size(master, message.data ? message.data : "");
            else if (write_all(master, message.data, message.len)) break;
        }
        if (fds[1].revents) {
            ssize_t n = read(master, out, sizeof out);
            if (n <= 0 || send_frame(r->fd, 0x2, out, (size_t)n)) break;
        }
    }
    send_frame(r->fd, 0x8, (const unsigned char *)"\x03\xe8", 2);
    free(message.data);
    close(master);
    kill(-pid, SIGHUP);
    waitpid(pid, NULL, 0);
}

/* ---------- the server ---------- */

static void serve(int fd) {
    static req_t r;
    memset(&r, 0, sizeof r);
    r.fd = fd;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (read_head(&r) != 0 || parse_request_line(&r) != 0) {
        error_json(fd, 400, "Bad Request", "malformed request");
        return;
    }
    if (!authorized(&r)) {
        error_json(fd, 401, "Unauthorized", "missing or wrong X-Groundflare-Sandbox");
        return;
    }
    if (strcmp(r.path, "/ws") == 0) {
        struct timeval none = {0, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        websocket(&r);
    } else if (strcmp(r.path, "/pty") == 0) {
        struct timeval none = {0, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        pty(&r);
    } else if (strcmp(r.path, "/health") == 0) health(&r);
    else if (strcmp(r.path, "/exec") == 0) execute(&r);
    else if (strcmp(r.path, "/files") == 0) files(&r);
    else error_json(fd, 404, "Not Found", "no such endpoint (have /health /exec /ws /pty /files)");
}

static int read_token(void) {
    const char *fd_text = getenv("GROUNDFLARE_TOKEN_FD");
    if (!fd_text) return -1;
    int fd = atoi(fd_text);
    unsetenv("GROUNDFLARE_TOKEN_FD");
    ssize_t n = read(fd, token, sizeof token - 1);
    close(fd);
    if (n <= 0) return -1;
    token_len = (size_t)n;
    while (token_len && (token[token_len - 1] == '\n' || token[token_len - 1] == '\r')) token_len--;
    token[token_len] = 0;
    return token_len ? 0 : -1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : PORT; /* another port: for running it on a host */
    /* Commands we run share our uid; non-dumpable keeps them out of our memory (the token). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (read_token() != 0) {
        fprintf(stderr, "sandbox: no token on $GROUNDFLARE_TOKEN_FD\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN); /* connection workers are reaped by the kernel */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) || listen(s, 64)) {
        perror("sandbox: listen");
        return 1;
    }
    fprintf(stderr, "sandbox: listening on :%d\n", port);
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pid_t pid = fork();
        if (pid == 0) {
            close(s);
            signal(SIGCHLD, SIG_DFL);
            serve(c);
            shutdown(c, SHUT_WR);
            close(c);
            _exit(0);
        }
        close(c);
    }
}
