/*
 * gf-guest: what the guest's init does in one process instead of many busybox ones (every
 * exec costs milliseconds under emulation), without libc (a static glibc binary is 800 KB,
 * and every byte of the initramfs is unpacked by an emulated CPU).
 *
 *   gf-guest modules FILE.ko...  load kernel modules in the order given (finit_module)
 *   gf-guest key                 read this boot's key from stdin (the serial console, raw):
 *                                lines `GFKEY TIME_NS SEEDHEX BASE64 CRC32` (vm/key.py) until
 *                                one is whole; credit the host's seed to the kernel's entropy
 *                                pool, reseed the CRNG at once, set the clock, and write the
 *                                files of the newc archive in BASE64 (under etc/groundflare/
 *                                only). After a snapshot restore, two guests would otherwise
 *                                share the CRNG state (the kernel reseeds on its own only
 *                                after up to 60 s) and the clock of the moment it was taken.
 *
 * x86-64 Linux only (the raw syscalls below); exit status 0, or 1 with a line on stderr.
 */
#include <linux/random.h>
#include <stddef.h>

#if !defined(__x86_64__)
#error "gf-guest makes raw x86-64 system calls"
#endif

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_ioctl 16
#define SYS_exit 60
#define SYS_mkdir 83
#define SYS_clock_settime 227
#define SYS_finit_module 313
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_NOFOLLOW 0400000
#define O_CLOEXEC 02000000
#define CLOCK_REALTIME 0
#define MAX_LINE (96 * 1024)
#define PREFIX "etc/groundflare/"

static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static size_t length(const char *text) {
    size_t n = 0;
    while (text[n]) n++;
    return n;
}

static void say(const char *what, const char *detail, long error) {
    char digits[24];
    int at = sizeof digits;
    unsigned long value = (unsigned long)-error;
    do digits[--at] = (char)('0' + value % 10); while ((value /= 10) && at > 0);
    sys3(SYS_write, 2, (long)"gf-guest: ", 10);
    sys3(SYS_write, 2, (long)what, (long)length(what));
    sys3(SYS_write, 2, (long)" ", 1);
    sys3(SYS_write, 2, (long)detail, (long)length(detail));
    sys3(SYS_write, 2, (long)": errno ", 8);
    sys3(SYS_write, 2, (long)(digits + at), (long)(sizeof digits - at));
    sys3(SYS_write, 2, (long)"\n", 1);
}

static int modules(int count, char **files) {
    int failed = 0;
    for (int i = 0; i < count; i++) {
        long fd = sys3(SYS_open, (long)files[i], O_RDONLY | O_CLOEXEC, 0);
        long ret = fd < 0 ? fd : sys3(SYS_finit_module, fd, (long)"", 0);
        if (fd >= 0) sys3(SYS_close, fd, 0, 0);
        if (ret < 0 && ret != -17 /* EEXIST: built in or loaded already */) {
            say("cannot load", files[i], ret);
            failed = 1;
        }
    }
    return failed;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int rekey(const char *time_ns, const char *seed) {
    struct {
        struct rand_pool_info info;
        unsigned char bytes[64];
    } pool;
    size_t n = length(seed) / 2;
    if (n == 0 || n > sizeof pool.bytes || length(seed) % 2) {
        say("rekey", "seed: expected 2 to 128 hex digits", -22);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        int high = hex_digit(seed[2 * i]), low = hex_digit(seed[2 * i + 1]);
        if (high < 0 || low < 0) {
            say("rekey", "seed: not hex", -22);
            return 1;
        }
        pool.bytes[i] = (unsigned char)(high << 4 | low);
    }
    pool.info.entropy_count = (int)(n * 8);
    pool.info.buf_size = (int)n;
    long fd = sys3(SYS_open, (long)"/dev/urandom", O_RDWR | O_CLOEXEC, 0);
    long ret = fd < 0 ? fd : sys3(SYS_ioctl, fd, RNDADDENTROPY, (long)&pool);
    if (ret >= 0) ret = sys3(SYS_ioctl, fd, RNDRESEEDCRNG, 0);
    if (fd >= 0) sys3(SYS_close, fd, 0, 0);
    if (ret < 0) {
        say("rekey", "/dev/urandom", ret);
        return 1;
    }
    long long ns = 0;
    for (const char *c = time_ns; *c; c++) {
        if (*c < '0' || *c > '9') {
            say("rekey", "time: not a number", -22);
            return 1;
        }
        ns = ns * 10 + (*c - '0');
    }
    struct {
        long long sec, nsec;
    } now = {ns / 1000000000LL, ns % 1000000000LL};
    ret = sys3(SYS_clock_settime, CLOCK_REALTIME, (long)&now, 0);
    if (ret < 0) {
        say("rekey", "clock_settime", ret);
        return 1;
    }
    return 0;
}

static int equal(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static int starts(const char *text, const char *prefix) {
    while (*prefix && *text == *prefix) text++, prefix++;
    return !*prefix;
}

static unsigned crc32(const unsigned char *data, size_t n) {
    unsigned crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++) crc = crc >> 1 ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static int b64(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes in place; the decoded length, or -1. */
static long unbase64(char *text) {
    size_t out = 0, bits = 0;
    unsigned acc = 0;
    for (char *c = text; *c && *c != '='; c++) {
        int v = b64(*c);
        if (v < 0) return -1;
        acc = acc << 6 | (unsigned)v;
        if ((bits += 6) >= 8) text[out++] = (char)(acc >> (bits -= 8));
    }
    return (long)out;
}

static unsigned long hex(const char *text, int digits) {
    unsigned long value = 0;
    for (int i = 0; i < digits; i++) value = value << 4 | (unsigned long)hex_digit(text[i] | 0x20);
    return value;
}

static int mkdirs(char *path) {
    for (char *c = path; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        long ret = sys3(SYS_mkdir, (long)path, 0700, 0);
        *c = '/';
        if (ret < 0 && ret != -17) return (int)ret;
    }
    return 0;
}

/* Writes the regular files of a newc archive; only paths under PREFIX, without "..". */
static int extract(const unsigned char *data, size_t n) {
    size_t pos = 0;
    while (pos + 110 <= n) {
        const char *head = (const char *)data + pos;
        if (!starts(head, "070701")) return -1;
        unsigned long mode = hex(head + 14, 8), size = hex(head + 54, 8), namesize = hex(head + 94, 8);
        size_t name_at = pos + 110, data_at = (name_at + namesize + 3) & ~(size_t)3;
        if (namesize == 0 || data_at + size > n) return -1;
        char name[256];
        if (namesize > sizeof name) return -1;
        for (size_t i = 0; i < namesize; i++) name[i] = (char)data[name_at + i];
        name[namesize - 1] = 0;
        if (equal(name, "TRAILER!!!")) return 0;
        for (const char *c = name; *c; c++)
            if (c[0] == '.' && c[1] == '.') return -1;
        if ((mode & 0170000) == 0100000) {
            if (!starts(name, PREFIX) || mkdirs(name) < 0) return -1;
            long fd = sys3(SYS_open, (long)name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                           (long)(mode & 07777));
            if (fd < 0) return -1;
            long wrote = sys3(SYS_write, fd, (long)(data + data_at), (long)size);
            sys3(SYS_close, fd, 0, 0);
            if (wrote != (long)size) return -1;
        }
        pos = (data_at + size + 3) & ~(size_t)3;
    }
    return -1;
}

static char line[MAX_LINE];

/* The fields of one key line, split in place; 0 if it is not one. */
static int fields(char *text, char **out, int count) {
    int found = 0;
    while (*text && found < count) {
        out[found++] = text;
        while (*text && *text != ' ') text++;
        if (*text) *text++ = 0;
    }
    return found == count && !*text;
}

static int key(void) {
    size_t used = 0;
    for (;;) {
        long got = sys3(SYS_read, 0, (long)(line + used), (long)(sizeof line - 1 - used));
        if (got <= 0) {
            say("key", "stdin closed before a whole key line", got);
            return 1;
        }
        used += (size_t)got;
        char *end;
        while ((end = (char *)0, 1)) {
            for (size_t i = 0; i < used; i++)
                if (line[i] == '\n' || line[i] == '\r') { end = line + i; break; }
            if (!end) break;
            *end = 0;
            char *f[5];
            size_t rest = used - (size_t)(end + 1 - line);
            if (starts(line, "GFKEY ") && fields(line, f, 5)) {
                long n = unbase64(f[3]);
                if (n > 0 && crc32((unsigned char *)f[3], (size_t)n) == hex(f[4], 8) &&
                    extract((unsigned char *)f[3], (size_t)n) == 0)
                    return rekey(f[1], f[2]);
                say("key", "a damaged key line, waiting for another", -74);
            }
            for (size_t i = 0; i < rest; i++) line[i] = end[1 + i];
            used = rest;
        }
        if (used == sizeof line - 1) used = 0; /* no line this long is ours */
    }
}

int start(int argc, char **argv) {
    if (argc >= 2 && equal(argv[1], "modules")) return modules(argc - 2, argv + 2);
    if (argc == 2 && equal(argv[1], "key")) return key();
    say("usage", "modules FILE... | key", -22);
    return 2;
}

/* The kernel starts us with argc at the stack pointer and argv right above it. */
__asm__(
    ".globl _start\n"
    "_start:\n"
    "  mov (%rsp), %rdi\n"
    "  lea 8(%rsp), %rsi\n"
    "  and $-16, %rsp\n"
    "  call start\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n"
    "  syscall\n");
