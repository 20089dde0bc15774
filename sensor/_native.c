/* sensor._native: the per-packet and per-record loops that numpy cannot express and that a
 * profile showed Python spends most of a flood's time in (issues 13 and 15).
 *
 * Every function here has a pure-Python reference in the module that calls it, and a
 * differential test (tests/unit/test_native.py, tests/corpus/test_native_corpus.py) that
 * gives both the same inputs and asks for identical outputs. The extension is optional:
 * without a compiler the package installs and runs on the references (sensor/native.py).
 *
 * Inputs are read-only buffers (bytes, mmap, memoryview, contiguous numpy arrays); outputs
 * are new bytes objects that the caller views with numpy.frombuffer, so no numpy C API and
 * no reference to the caller's buffer is kept.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * pcap record walk
 */

static inline uint32_t rd32(const uint8_t *p, int big) {
    if (big)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

PyDoc_STRVAR(pcap_walk_doc,
"pcap_walk(data, pos, stop, big, limit, ts_mul, max_wire)\n"
"-> (frame_offsets, caplens, wirelens, ts, pos, corrupt, bad_wire)\n\n"
"Walk classic pcap record headers from `pos` while a record starts before `stop` and is\n"
"whole in `data`. The four columns are bytes of native int64: the frame's offset (after\n"
"its 16-byte header), captured length, wire length (the captured length when the header's\n"
"is over `max_wire`, else at least the captured length) and time in ns (seconds * 1e9 +\n"
"fraction * ts_mul). `corrupt`: a captured length over `limit` stopped the walk at `pos`.\n"
"`bad_wire`: how many wire lengths were over `max_wire`. Reference:\n"
"sensor.capture.pcapfile._walk_pcap and _pcap_batch.");

static PyObject *pcap_walk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    Py_ssize_t pos, stop, limit, max_wire;
    long long ts_mul;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnpnLn", &buf, &pos, &stop, &big, &limit, &ts_mul, &max_wire))
        return NULL;
    const uint8_t *d = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    if (pos < 0 || limit < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pos and limit must not be negative");
        return NULL;
    }
    if (stop > n)
        stop = n;
    /* pass 1: count whole records, find where the walk ends */
    Py_ssize_t p = pos, count = 0;
    int corrupt = 0;
    while (p < stop && p + 16 <= n) {
        uint32_t cap = rd32(d + p + 8, big);
        if ((Py_ssize_t)cap > limit) {
            corrupt = 1;
            break;
        }
        Py_ssize_t nxt = p + 16 + (Py_ssize_t)cap;
        if (nxt > n)
            break;
        count++;
        p = nxt;
    }
    Py_ssize_t end = p;
    PyObject *cols[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < 4; k++) {
        cols[k] = PyBytes_FromStringAndSize(NULL, count * 8);
        if (cols[k] == NULL) {
            for (int j = 0; j < k; j++)
                Py_DECREF(cols[j]);
            PyBuffer_Release(&buf);
            return NULL;
        }
    }
    int64_t *off = (int64_t *)PyBytes_AS_STRING(cols[0]);
    int64_t *caps = (int64_t *)PyBytes_AS_STRING(cols[1]);
    int64_t *wires = (int64_t *)PyBytes_AS_STRING(cols[2]);
    int64_t *ts = (int64_t *)PyBytes_AS_STRING(cols[3]);
    Py_ssize_t bad = 0;
    p = pos;
    for (Py_ssize_t i = 0; i < count; i++) {
        const uint8_t *h = d + p;
        int64_t sec = rd32(h, big), frac = rd32(h + 4, big);
        int64_t cap = rd32(h + 8, big), wire = rd32(h + 12, big);
        off[i] = p + 16;
        caps[i] = cap;
        if (wire > max_wire) {
            bad++;
            wires[i] = cap;
        } else {
            wires[i] = wire > cap ? wire : cap;
        }
        ts[i] = sec * 1000000000LL + frac * ts_mul;
        p += 16 + cap;
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("(NNNNnNn)", cols[0], cols[1], cols[2], cols[3], end,
                         PyBool_FromLong(corrupt), bad);
}

/* ---------------------------------------------------------------------------------------
 * Community ID: "1:" + base64(SHA-1(row)) for rows of a 2-D byte array
 * SHA-1 as FIPS 180-4 section 6.1; checked against hashlib in the tests.
 */

#define ROL(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static void sha1_block(uint32_t st[5], const uint8_t *blk) {
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = ((uint32_t)blk[4 * t] << 24) | ((uint32_t)blk[4 * t + 1] << 16) |
               ((uint32_t)blk[4 * t + 2] << 8) | blk[4 * t + 3];
    for (int t = 16; t < 80; t++)
        w[t] = ROL(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t tmp = ROL(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = ROL(b, 30);
        b = a;
        a = tmp;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* One block with the x86 SHA extensions (SHA-NI: 4 rounds per instruction), the same
 * arithmetic as sha1_block; used only where CPUID says the CPU has them. */
#define SHA_GROUP(g, f, ea, eb)                                                           \
    do {                                                                                  \
        if ((g) >= 4) {                                                                   \
            __m128i nx = _mm_sha1msg1_epu32(msg[(g)&3], msg[((g) + 1) & 3]);              \
            nx = _mm_xor_si128(nx, msg[((g) + 2) & 3]);                                   \
            msg[(g)&3] = _mm_sha1msg2_epu32(nx, msg[((g) + 3) & 3]);                      \
        }                                                                                 \
        ea = _mm_sha1nexte_epu32(ea, msg[(g)&3]);                                         \
        eb = abcd;                                                                        \
        abcd = _mm_sha1rnds4_epu32(abcd, ea, f);                                          \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3"))) static void sha1_block_ni(uint32_t st[5],
                                                                      const uint8_t *blk) {
    const __m128i mask = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)st), 0x1B);
    __m128i e0 = _mm_set_epi32((int)st[4], 0, 0, 0);
    const __m128i abcd_save = abcd, e0_save = e0;
    __m128i msg[4];
    for (int i = 0; i < 4; i++)
        msg[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blk + 16 * i)), mask);
    __m128i e1 = abcd;
    e0 = _mm_add_epi32(e0, msg[0]);
    abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);
    SHA_GROUP(1, 0, e1, e0);
    SHA_GROUP(2, 0, e0, e1);
    SHA_GROUP(3, 0, e1, e0);
    SHA_GROUP(4, 0, e0, e1);
    SHA_GROUP(5, 1, e1, e0);
    SHA_GROUP(6, 1, e0, e1);
    SHA_GROUP(7, 1, e1, e0);
    SHA_GROUP(8, 1, e0, e1);
    SHA_GROUP(9, 1, e1, e0);
    SHA_GROUP(10, 2, e0, e1);
    SHA_GROUP(11, 2, e1, e0);
    SHA_GROUP(12, 2, e0, e1);
    SHA_GROUP(13, 2, e1, e0);
    SHA_GROUP(14, 2, e0, e1);
    SHA_GROUP(15, 3, e1, e0);
    SHA_GROUP(16, 3, e0, e1);
    SHA_GROUP(17, 3, e1, e0);
    SHA_GROUP(18, 3, e0, e1);
    SHA_GROUP(19, 3, e1, e0);
    e0 = _mm_sha1nexte_epu32(e0, e0_save);
    abcd = _mm_add_epi32(abcd, abcd_save);
    _mm_storeu_si128((__m128i *)st, _mm_shuffle_epi32(abcd, 0x1B));
    st[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static int cpu_has_sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return 0; /* SSSE3, SSE4.1 */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b >> 29) & 1; /* SHA */
}
#else
#define HAVE_SHA_NI 0
#endif

typedef void (*block_fn)(uint32_t st[5], const uint8_t *blk);

static void sha1(block_fn block, const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t done = 0;
    for (; len - done >= 64; done += 64)
        block(st, msg + done);
    uint8_t tail[128];
    size_t rest = len - done;
    memset(tail, 0, sizeof tail);
    memcpy(tail, msg + done, rest);
    tail[rest] = 0x80;
    size_t blocks = rest + 9 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t b = 0; b < blocks; b++)
        block(st, tail + 64 * b);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

PyDoc_STRVAR(sha1_b64_doc,
"sha1_b64(msgs, width, accel=True) -> bytes\n\n"
"`msgs` holds rows of `width` bytes each; returns 30 bytes per row: b'1:' and the\n"
"base64 (with its one '=' pad) of the row's SHA-1. `accel`: use the CPU's SHA extensions\n"
"where it has them (False: the portable code; the tests compare both). Reference:\n"
"sensor.sinks.communityid._sha1_b64_python.");

static PyObject *sha1_b64(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    Py_ssize_t width;
    int accel = 1;
    if (!PyArg_ParseTuple(args, "y*n|p", &buf, &width, &accel))
        return NULL;
    block_fn block = sha1_block;
#if HAVE_SHA_NI
    if (accel && cpu_has_sha_ni())
        block = sha1_block_ni;
#else
    (void)accel;
#endif
    if (width <= 0 || buf.len % width != 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "width must be positive and divide the length");
        return NULL;
    }
    Py_ssize_t rows = buf.len / width;
    PyObject *res = PyBytes_FromStringAndSize(NULL, rows * 30);
    if (res == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(res);
    const uint8_t *m = (const uint8_t *)buf.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows; r++, o += 30) {
        uint8_t dg[21];
        sha1(block, m + r * width, (size_t)width, dg);
        dg[20] = 0;
        o[0] = '1';
        o[1] = ':';
        for (int i = 0; i < 7; i++) { /* 21 bytes -> 28 characters, the last one a pad */
            uint32_t v = ((uint32_t)dg[3 * i] << 16) | ((uint32_t)dg[3 * i + 1] << 8) |
                         dg[3 * i + 2];
            o[2 + 4 * i] = B64[(v >> 18) & 63];
            o[3 + 4 * i] = B64[(v >> 12) & 63];
            o[4 + 4 * i] = B64[(v >> 6) & 63];
            o[5 + 4 * i] = B64[v & 63];
        }
        o[29] = '=';
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return res;
}

/* ---------------------------------------------------------------------------------------
 * dotted-quad text of IPv4 addresses, as an Arrow string column's two buffers
 */

PyDoc_STRVAR(ipv4_text_doc,
"ipv4_text(addrs) -> (offsets, data)\n\n"
"`addrs`: native int64 values whose low 32 bits are IPv4 addresses. Returns an Arrow\n"
"string column's offsets (int32, one more than the rows) and character data, each address\n"
"as dotted-quad text. Reference: sensor.sinks.records._ipv4_text_python.");

static PyObject *ipv4_text(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    if (buf.len % 8 != 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "addrs must be int64 values");
        return NULL;
    }
    Py_ssize_t rows = buf.len / 8;
    if (rows * 15 > INT32_MAX) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_OverflowError, "too many addresses for 32-bit offsets");
        return NULL;
    }
    PyObject *offs = PyBytes_FromStringAndSize(NULL, (rows + 1) * 4);
    char *tmp = PyMem_Malloc(rows * 15 + 1);
    if (offs == NULL || tmp == NULL) {
        Py_XDECREF(offs);
        PyMem_Free(tmp);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    int32_t *of = (int32_t *)PyBytes_AS_STRING(offs);
    const int64_t *a = (const int64_t *)buf.buf;
    char *o = tmp;
    of[0] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        uint32_t v = (uint32_t)(a[r] & 0xFFFFFFFF);
        for (int s = 24; s >= 0; s -= 8) {
            unsigned q = (v >> s) & 0xFF;
            if (q >= 100) {
                *o++ = (char)('0' + q / 100);
                *o++ = (char)('0' + (q / 10) % 10);
            } else if (q >= 10) {
                *o++ = (char)('0' + q / 10);
            }
            *o++ = (char)('0' + q % 10);
            if (s)
                *o++ = '.';
        }
        of[r + 1] = (int32_t)(o - tmp);
    }
    PyBuffer_Release(&buf);
    PyObject *data = PyBytes_FromStringAndSize(tmp, o - tmp);
    PyMem_Free(tmp);
    if (data == NULL) {
        Py_DECREF(offs);
        return NULL;
    }
    return Py_BuildValue("(NN)", offs, data);
}

/* ---------------------------------------------------------------------------------------
 * pcapng: the run of Enhanced Packet Blocks at an offset
 */

PyDoc_STRVAR(epb_run_doc,
"epb_run(data, pos, big, epb_type) -> (offsets, end)\n\n"
"From `pos`, while a whole 32-byte block header fits, the offsets (bytes of native int64)\n"
"of consecutive blocks of type `epb_type`, each block's length taken from its header (a\n"
"zero length counts as 32, so damage cannot stall the walk); `end` is where the run stops.\n"
"Nothing is validated here: the caller checks every header with numpy. Reference:\n"
"sensor.capture.pcapng._epb_run_python.");

static PyObject *epb_run(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    Py_ssize_t pos;
    int big;
    unsigned long epb_type;
    if (!PyArg_ParseTuple(args, "y*npk", &buf, &pos, &big, &epb_type))
        return NULL;
    const uint8_t *d = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len, stop = n - 32, count = 0, p = pos;
    if (pos < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pos must not be negative");
        return NULL;
    }
    while (p <= stop && rd32(d + p, big) == (uint32_t)epb_type) {
        uint32_t blen = rd32(d + p + 4, big);
        count++;
        p += blen ? (Py_ssize_t)blen : 32;
    }
    PyObject *offs = PyBytes_FromStringAndSize(NULL, count * 8);
    if (offs == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    int64_t *o = (int64_t *)PyBytes_AS_STRING(offs);
    p = pos;
    for (Py_ssize_t i = 0; i < count; i++) {
        uint32_t blen = rd32(d + p + 4, big);
        o[i] = p;
        p += blen ? (Py_ssize_t)blen : 32;
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("(Nn)", offs, p);
}

static PyMethodDef methods[] = {
    {"epb_run", epb_run, METH_VARARGS, epb_run_doc},
    {"pcap_walk", pcap_walk, METH_VARARGS, pcap_walk_doc},
    {"sha1_b64", sha1_b64, METH_VARARGS, sha1_b64_doc},
    {"ipv4_text", ipv4_text, METH_VARARGS, ipv4_text_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sensor._native",
    "Compiled loops of the sensor; each has a pure-Python reference (sensor/native.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
