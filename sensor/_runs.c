/* sensor._runs: a decoded batch cut into runs and summed per run in O(n) (issues 13, 15).
 *
 * Reference: sensor.flow.group._runs_python (numpy: np.unique sorts every packet's 64-bit key
 * hash, then argsort, reduceat sums and fancy indexing). Here one pass puts every packet in a
 * hash table keyed by its canonical flow key (exact: the whole key is compared), a radix sort
 * of the distinct hashes gives the groups the reference's order (ascending hash), a counting
 * pass lays the packets out grouped, and one more pass cuts and sums the runs. Where two
 * different keys share a 64-bit hash the reference orders groups by their key bytes instead;
 * this code then returns None and the caller runs the reference (never on real traffic; an
 * attacker who crafts such keys gets the numpy speed, not a wrong answer).
 *
 * Inputs are read-only int64 buffers; outputs are new bytes objects that the caller views
 * with numpy.frombuffer (no numpy C API), as in sensor/_native.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NCOLS 15 /* ts wirelen ver src_hi src_lo dst_hi dst_lo proto sport dport flags pl_len vlan tunnel seq */
enum { TS, WLEN, VER, SH, SL, DH, DL, PROTO, SPORT, DPORT, FLAGS, PLLEN, VLAN, TUNNEL, SEQ };

/* per-run output rows, in this order (sensor.flow.group._C_FIELDS) */
enum {
    R_STARTS, R_ENDS, R_TFIRST, R_TLAST, R_FFLAGS, R_FFWD, R_NFWD, R_NREV, R_BFWD, R_BREV,
    R_FFWDF, R_FREVF, R_PAYLOAD, R_VLAN, R_TUNNEL, R_PROTO, R_SEQ, R_PP, R_K0, R_K1, R_K2,
    R_K3, R_H, R_SINGLE, R_NFIELDS
};

static const uint64_t K[5] = {
    0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL, 0x165667B19E3779F9ULL,
    0x27D4EB2F165667C5ULL, 0xFF51AFD7ED558CCDULL,
};

typedef struct {
    Py_ssize_t n;      /* packets selected */
    int32_t groups;    /* distinct keys */
    int64_t *key;      /* per group: k0..k3, pp (5 values) */
    uint64_t *gh;      /* per group: key hash */
    int32_t *gcount;   /* per group: packets, then the next free position */
    int32_t *gid;      /* per packet (selection order): its group */
    uint8_t *fwd;      /* per packet: sent from the key's lo side */
} Groups;

/* Canonical key of packet j (lo side first, as sensor.flow.group._canonical), its hash. */
static inline uint64_t canonical(const int64_t *const *c, Py_ssize_t j, int64_t k[5], uint8_t *fwd) {
    int64_t sh = c[SH][j], sl = c[SL][j], dh = c[DH][j], dl = c[DL][j];
    int64_t sp = c[SPORT][j], dp = c[DPORT][j];
    int f = (sh < dh) || (sh == dh && (sl < dl || (sl == dl && sp <= dp)));
    int64_t lp = f ? sp : dp, hp = f ? dp : sp;
    k[0] = f ? sh : dh;
    k[1] = f ? sl : dl;
    k[2] = f ? dh : sh;
    k[3] = f ? dl : sl;
    k[4] = (int64_t)(((uint64_t)c[VER][j] << 40) | ((uint64_t)lp << 24) | ((uint64_t)hp << 8) |
                     (uint64_t)c[PROTO][j]);
    *fwd = (uint8_t)f;
    uint64_t h = 0;
    for (int q = 0; q < 5; q++) {
        h ^= (uint64_t)k[q] * K[q];
        h ^= h >> 29;
    }
    return h;
}

/* Pass 1: each packet's group (numbered by first appearance). 0 ok, 1 a hash collision
 * between different keys, -1 no memory. */
static int group(const int64_t *const *c, const int64_t *sel, Groups *g) {
    Py_ssize_t n = g->n, cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    int shift = 64;
    for (Py_ssize_t m = cap; m > 1; m >>= 1)
        shift--;
    int32_t *slot = PyMem_Malloc(cap * sizeof(int32_t));
    if (slot == NULL)
        return -1;
    memset(slot, 0xFF, cap * sizeof(int32_t));
    int32_t groups = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t k[5];
        uint64_t h = canonical(c, sel[i], k, &g->fwd[i]);
        Py_ssize_t s = (Py_ssize_t)((h * 0x9E3779B97F4A7C15ULL) >> shift);
        for (;;) {
            int32_t at = slot[s];
            if (at < 0) {
                at = groups++;
                slot[s] = at;
                g->gh[at] = h;
                memcpy(g->key + 5 * (Py_ssize_t)at, k, sizeof k);
                g->gcount[at] = 0;
            } else if (g->gh[at] != h) {
                s = (s + 1) & (cap - 1);
                continue;
            } else if (memcmp(g->key + 5 * (Py_ssize_t)at, k, sizeof k) != 0) {
                PyMem_Free(slot);
                return 1;
            }
            g->gid[i] = at;
            g->gcount[at]++;
            break;
        }
    }
    PyMem_Free(slot);
    g->groups = groups;
    return 0;
}

/* Groups in ascending hash order (np.unique's): an LSD radix sort of (hash, group), 8 bits
 * a pass, passes where every hash has the same byte skipped. Returns the sorted group
 * numbers (caller frees) or NULL. */
static int32_t *by_hash(const Groups *g) {
    int32_t m = g->groups;
    int32_t *a = PyMem_Malloc((size_t)m * sizeof(int32_t));
    int32_t *b = PyMem_Malloc((size_t)m * sizeof(int32_t));
    if (a == NULL || b == NULL) {
        PyMem_Free(a);
        PyMem_Free(b);
        return NULL;
    }
    for (int32_t i = 0; i < m; i++)
        a[i] = i;
    for (int sh = 0; sh < 64; sh += 8) {
        Py_ssize_t cnt[257] = {0};
        for (int32_t i = 0; i < m; i++)
            cnt[((g->gh[i] >> sh) & 0xFF) + 1]++;
        if (m == 0 || cnt[((g->gh[0] >> sh) & 0xFF) + 1] == m)
            continue;
        for (int d = 0; d < 256; d++)
            cnt[d + 1] += cnt[d];
        for (int32_t i = 0; i < m; i++) {
            int32_t x = a[i];
            b[cnt[(g->gh[x] >> sh) & 0xFF]++] = x;
        }
        int32_t *t = a;
        a = b;
        b = t;
    }
    PyMem_Free(b);
    return a;
}

typedef struct {
    const int64_t *const *c;
    const int64_t *ord;  /* packet indices into the batch, grouped */
    const uint8_t *f;    /* per position: fwd */
    int64_t idle[3];     /* TCP, UDP, other */
    int64_t closed;
    int64_t ending, synmask, syn;
} Cut;

/* Positions in `ord` where a run starts: sensor.flow.group._boundaries, and group starts. */
static inline int starts_run(const Cut *x, Py_ssize_t p, int new_flow, int64_t *seen) {
    const int64_t *const *c = x->c;
    int64_t fl = c[FLAGS][x->ord[p]];
    int cut = new_flow;
    if (new_flow) {
        *seen = 0;
    } else {
        int64_t gap = (int64_t)((uint64_t)c[TS][x->ord[p]] - (uint64_t)c[TS][x->ord[p - 1]]);
        int64_t proto = c[PROTO][x->ord[p]];
        int64_t idle = proto == 6 ? x->idle[0] : proto == 17 ? x->idle[1] : x->idle[2];
        cut = gap > idle;
        if (*seen > 0 && ((fl & x->synmask) == x->syn || gap > x->closed))
            cut = 1;
    }
    if (fl & x->ending)
        (*seen)++;
    return cut;
}

/* Sums of the run at positions [a, b) of group gr into column r of the R_NFIELDS x R table
 * `o` (field-major). */
static void sum_run(const Cut *x, const Groups *g, Py_ssize_t a, Py_ssize_t b, int32_t gr,
                    int64_t *o, Py_ssize_t R, Py_ssize_t r) {
    const int64_t *const *c = x->c;
    uint64_t bf = 0, bt = 0;
    int64_t nf = 0, ff = 0, fr = 0, tl = INT64_MIN, pay = 0;
    for (Py_ssize_t p = a; p < b; p++) {
        Py_ssize_t j = x->ord[p];
        int64_t ts = c[TS][j], fl = c[FLAGS][j];
        uint64_t ln = (uint64_t)c[WLEN][j];
        bt += ln;
        if (x->f[p]) {
            nf++;
            bf += ln;
            ff |= fl;
        } else {
            fr |= fl;
        }
        if (ts > tl)
            tl = ts;
        pay |= c[PLLEN][j] > 0;
    }
    Py_ssize_t j = x->ord[a];
    const int64_t *k = g->key + 5 * (Py_ssize_t)gr;
    int64_t v[R_NFIELDS] = {
        [R_STARTS] = a, [R_ENDS] = b, [R_TFIRST] = c[TS][j], [R_TLAST] = tl,
        [R_FFLAGS] = c[FLAGS][j], [R_FFWD] = x->f[a], [R_NFWD] = nf, [R_NREV] = (b - a) - nf,
        [R_BFWD] = (int64_t)bf, [R_BREV] = (int64_t)(bt - bf), [R_FFWDF] = ff, [R_FREVF] = fr,
        [R_PAYLOAD] = pay, [R_VLAN] = c[VLAN][j], [R_TUNNEL] = c[TUNNEL][j],
        [R_PROTO] = c[PROTO][j], [R_SEQ] = c[SEQ][j], [R_PP] = k[4], [R_K0] = k[0],
        [R_K1] = k[1], [R_K2] = k[2], [R_K3] = k[3], [R_H] = (int64_t)g->gh[gr], [R_SINGLE] = 0,
    };
    for (int q = 0; q < R_NFIELDS; q++)
        o[q * R + r] = v[q];
}

typedef struct {
    Py_buffer view[NCOLS + 1];
    int got;
} Views;

static void release(Views *v) {
    for (int q = 0; q < v->got; q++)
        PyBuffer_Release(&v->view[q]);
    v->got = 0;
}

/* The 15 columns and the selection as int64 arrays; bounds checked (bad input is an error,
 * never a read outside a buffer). */
static int take(PyObject *cols, PyObject *selobj, Views *v, const int64_t *c[NCOLS],
                const int64_t **sel, Py_ssize_t *n) {
    if (!PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) != NCOLS) {
        PyErr_SetString(PyExc_ValueError, "cols must be a tuple of 15 int64 columns");
        return -1;
    }
    v->got = 0;
    for (int q = 0; q <= NCOLS; q++) {
        PyObject *o = q < NCOLS ? PyTuple_GET_ITEM(cols, q) : selobj;
        if (PyObject_GetBuffer(o, &v->view[q], PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        v->got++;
        if (v->view[q].len % 8 != 0 || (q < NCOLS && v->view[q].len != v->view[0].len)) {
            PyErr_SetString(PyExc_ValueError, "columns must be int64 of the same length");
            return -1;
        }
        if (q < NCOLS)
            c[q] = (const int64_t *)v->view[q].buf;
    }
    Py_ssize_t rows = v->view[0].len / 8;
    *sel = (const int64_t *)v->view[NCOLS].buf;
    *n = v->view[NCOLS].len / 8;
    if (*n > INT32_MAX / 2) {
        PyErr_SetString(PyExc_OverflowError, "batch too large");
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        if ((*sel)[i] < 0 || (*sel)[i] >= rows) {
            PyErr_SetString(PyExc_IndexError, "selection out of the batch");
            return -1;
        }
    }
    return 0;
}

/* Work arrays of one call, freed together. */
typedef struct {
    Groups g;
    int32_t *rank, *start, *cur, *srci, *rs, *rg, *rpg, *at, *outpos;
} Work;

static void work_free(Work *w) {
    void *p[] = {w->g.key, w->g.gh, w->g.gcount, w->g.gid, w->g.fwd, w->rank, w->start,
                 w->cur, w->srci, w->rs, w->rg, w->rpg, w->at, w->outpos};
    for (size_t q = 0; q < sizeof p / sizeof p[0]; q++)
        PyMem_Free(p[q]);
}

static int work_alloc(Work *w, Py_ssize_t n) {
    size_t m = (size_t)(n ? n : 1), i4 = m * sizeof(int32_t);
    memset(w, 0, sizeof *w);
    w->g.n = n;
    w->g.key = PyMem_Malloc(m * 5 * sizeof(int64_t));
    w->g.gh = PyMem_Malloc(m * sizeof(uint64_t));
    w->g.gcount = PyMem_Malloc(i4);
    w->g.gid = PyMem_Malloc(i4);
    w->g.fwd = PyMem_Malloc(m);
    w->start = PyMem_Malloc(i4);
    w->cur = PyMem_Malloc(i4);
    w->srci = PyMem_Malloc(i4);
    w->rs = PyMem_Malloc(i4);
    w->rg = PyMem_Malloc(i4);
    w->rpg = PyMem_Malloc(i4);
    w->at = PyMem_Malloc(i4);
    w->outpos = PyMem_Malloc(i4);
    return w->g.key && w->g.gh && w->g.gcount && w->g.gid && w->g.fwd && w->start && w->cur &&
                   w->srci && w->rs && w->rg && w->rpg && w->at && w->outpos
               ? 0
               : -1;
}

/* Lay the packets out grouped (groups in hash order, capture order inside): `ord`, `f`. */
static void lay_out(Work *w, const int64_t *sel, int64_t *ord, uint8_t *f) {
    Groups *g = &w->g;
    int32_t off = 0;
    for (int32_t r = 0; r < g->groups; r++) {
        int32_t gr = w->rank[r];
        w->start[gr] = w->cur[gr] = off;
        off += g->gcount[gr];
    }
    for (Py_ssize_t i = 0; i < g->n; i++) {
        int32_t p = w->cur[g->gid[i]]++;
        ord[p] = sel[i];
        f[p] = g->fwd[i];
        w->srci[p] = (int32_t)i;
    }
}

/* Run starts (positions), each run's group, runs per group; returns the number of runs. */
static Py_ssize_t cut_runs(Work *w, const Cut *x) {
    Groups *g = &w->g;
    Py_ssize_t R = 0;
    for (int32_t r = 0; r < g->groups; r++) {
        int32_t gr = w->rank[r];
        Py_ssize_t a = w->start[gr], b = a + g->gcount[gr];
        int64_t seen = 0;
        w->rpg[gr] = 0;
        for (Py_ssize_t p = a; p < b; p++) {
            if (starts_run(x, p, p == a, &seen)) {
                w->rs[R] = (int32_t)p;
                w->rg[R++] = gr;
                w->rpg[gr]++;
            }
        }
    }
    return R;
}

PyDoc_STRVAR(runs_doc,
"runs(cols, sel, idle_tcp, idle_udp, idle_other, closed, ending, synmask, syn)\n"
"-> (order, fwd, table, nruns) or None\n\n"
"`cols`: the batch's ts, wirelen, ver, src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport,\n"
"flags, pl_len, vlan, tunnel, seq (int64 each); `sel`: the packets to group (int64 indices).\n"
"`order` (int64) and `fwd` (bool) per position, `table`: the runs' fields (int64, field-major,\n"
"sensor.flow.group._C_FIELDS) in the capture order of the runs' first packets. A packet\n"
"starts a run when its flag bits & `ending` were set on an earlier packet of its key and its\n"
"flags & `synmask` == `syn` or its gap is over `closed`, or its gap is over its protocol's\n"
"idle time. None: two keys share a 64-bit hash (the caller runs the reference,\n"
"sensor.flow.group._runs_python).");

static PyObject *runs(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cols, *selobj;
    Cut x;
    if (!PyArg_ParseTuple(args, "O!OLLLLLLL", &PyTuple_Type, &cols, &selobj, &x.idle[0],
                          &x.idle[1], &x.idle[2], &x.closed, &x.ending, &x.synmask, &x.syn))
        return NULL;
    Views v;
    const int64_t *c[NCOLS], *sel;
    Py_ssize_t n;
    if (take(cols, selobj, &v, c, &sel, &n) < 0) {
        release(&v);
        return NULL;
    }
    Work w;
    PyObject *ob = PyBytes_FromStringAndSize(NULL, n * 8), *fb = PyBytes_FromStringAndSize(NULL, n);
    PyObject *tb = NULL, *res = NULL;
    if (work_alloc(&w, n) < 0 || ob == NULL || fb == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int rc = group(c, sel, &w.g);
    if (rc != 0) {
        if (rc < 0)
            PyErr_NoMemory();
        else
            res = Py_NewRef(Py_None);
        goto done;
    }
    if ((w.rank = by_hash(&w.g)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *ord = (int64_t *)PyBytes_AS_STRING(ob);
    uint8_t *f = (uint8_t *)PyBytes_AS_STRING(fb);
    lay_out(&w, sel, ord, f);
    x.c = c;
    x.ord = ord;
    x.f = f;
    Py_ssize_t R = cut_runs(&w, &x);
    /* runs in the capture order of their first packets */
    for (Py_ssize_t i = 0; i < n; i++)
        w.at[i] = -1;
    for (Py_ssize_t r = 0; r < R; r++)
        w.at[w.srci[w.rs[r]]] = (int32_t)r;
    for (Py_ssize_t i = 0, k = 0; i < n; i++)
        if (w.at[i] >= 0)
            w.outpos[w.at[i]] = (int32_t)k++;
    if ((tb = PyBytes_FromStringAndSize(NULL, R * R_NFIELDS * 8)) == NULL)
        goto done;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(tb);
    for (Py_ssize_t r = 0; r < R; r++) {
        Py_ssize_t a = w.rs[r], b = r + 1 < R ? w.rs[r + 1] : n;
        sum_run(&x, &w.g, a, b, w.rg[r], o, R, w.outpos[r]);
        o[R_SINGLE * R + w.outpos[r]] = w.rpg[w.rg[r]] == 1;
    }
    res = Py_BuildValue("(OOOn)", ob, fb, tb, R);
done:
    work_free(&w);
    release(&v);
    Py_XDECREF(ob);
    Py_XDECREF(fb);
    Py_XDECREF(tb);
    return res;
}

static PyMethodDef methods[] = {
    {"runs", runs, METH_VARARGS, runs_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sensor._runs",
    "A batch's run grouping, compiled; reference: sensor.flow.group._runs_python.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__runs(void) { return PyModule_Create(&module); }
