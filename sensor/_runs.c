/* sensor._runs: the flow table's per-batch loops (issues 13, 15): a decoded batch cut into
 * runs and summed per run in O(n), and the pending tier's hash index.
 *
 * Reference: sensor.flow.group._runs_python (numpy: np.unique sorts every packet's 64-bit key
 * hash, then argsort, reduceat sums and fancy indexing). Here one pass puts every packet in a
 * hash table keyed by its canonical flow key (exact: the whole key is compared), a radix sort
 * of the distinct hashes gives the groups the reference's order (ascending hash), and a
 * second pass in capture order lays the packets out grouped, cuts the runs and sums them.
 * Both passes read the packet columns in capture order (a flood's new keys cost no cache
 * misses); only the per-key and per-run state is reached at random. Where two different
 * keys share a 64-bit hash the reference orders groups by their key bytes instead; this code
 * then returns None and the caller runs the reference (not seen on real traffic; an attacker
 * who crafts such keys gets the numpy speed, not a wrong answer).
 *
 * The index (reference: sensor.flow.pending.PendingFlows._find_python, _place_python) is
 * probed one key at a time here instead of one numpy pass per probe step, and filled in the
 * reference's rounds so every row lands in the same bucket.
 *
 * Inputs are read-only int64 buffers (but the index, which index_place fills in place);
 * outputs are new bytes objects that the caller views with numpy.frombuffer (no numpy C API),
 * as in sensor/_native.c. Differential tests: tests/unit/flow/test_group_native.py and
 * test_pending_native.py.
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


/* One distinct key of the batch. */
typedef struct {
    uint64_t h;
    int64_t key[5];   /* k0..k3, pp */
    int64_t last_ts;  /* time of its latest packet so far (pass 2) */
    int64_t seen;     /* packets with an ending flag so far (pass 2) */
    int32_t count;    /* packets */
    int32_t pos;      /* next position in `order` (pass 2) */
    int32_t run;      /* its current run (pass 2), -1 before its first packet */
    int32_t runs;     /* runs so far */
} Group;

/* One run's sums, by run number (= the capture order of its first packet). */
typedef struct {
    int32_t i0;       /* its first packet, in selection order */
    int32_t grp;
    int32_t start, end;
    int64_t nf, ff, fr, tl, pay;
    uint64_t bf, bt;
} Run;

typedef struct {
    Py_ssize_t n;
    int32_t groups, nruns;
    Group *g;
    int32_t *gid;     /* per packet: its group */
    uint8_t *fwd;     /* per packet: sent from the key's lo side */
    int32_t *slot;    /* the hash table: group numbers, -1 empty */
    Py_ssize_t cap;
    int32_t *rank;    /* group numbers in ascending hash order */
    Run *run;
} Work;

static void work_free(Work *w) {
    PyMem_Free(w->g);
    PyMem_Free(w->gid);
    PyMem_Free(w->fwd);
    PyMem_Free(w->slot);
    PyMem_Free(w->rank);
    PyMem_Free(w->run);
}

static int work_alloc(Work *w, Py_ssize_t n) {
    size_t m = (size_t)(n ? n : 1);
    memset(w, 0, sizeof *w);
    w->n = n;
    w->cap = 16;
    while (w->cap < 2 * n)
        w->cap <<= 1;
    w->g = PyMem_Malloc(m * sizeof(Group));
    w->gid = PyMem_Malloc(m * sizeof(int32_t));
    w->fwd = PyMem_Malloc(m);
    w->slot = PyMem_Malloc((size_t)w->cap * sizeof(int32_t));
    w->run = PyMem_Malloc(m * sizeof(Run));
    if (!w->g || !w->gid || !w->fwd || !w->slot || !w->run)
        return -1;
    memset(w->slot, 0xFF, (size_t)w->cap * sizeof(int32_t));
    return 0;
}

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
 * between different keys. */
static int group(const int64_t *const *c, const int64_t *sel, Work *w) {
    int shift = 64;
    for (Py_ssize_t m = w->cap; m > 1; m >>= 1)
        shift--;
    int32_t groups = 0;
    for (Py_ssize_t i = 0; i < w->n; i++) {
        int64_t k[5];
        uint64_t h = canonical(c, sel[i], k, &w->fwd[i]);
        Py_ssize_t s = (Py_ssize_t)((h * 0x9E3779B97F4A7C15ULL) >> shift);
        int32_t at;
        while ((at = w->slot[s]) >= 0 && w->g[at].h != h)
            s = (s + 1) & (w->cap - 1);
        if (at < 0) {
            at = w->slot[s] = groups++;
            Group *g = &w->g[at];
            g->h = h;
            memcpy(g->key, k, sizeof k);
            g->count = 0;
        } else if (memcmp(w->g[at].key, k, sizeof k) != 0) {
            return 1;
        }
        w->gid[i] = at;
        w->g[at].count++;
    }
    w->groups = groups;
    return 0;
}

/* Groups in ascending hash order (np.unique's): an LSD radix sort of (hash, group), 11 bits
 * a pass, all six histograms made in one read, passes where every hash has the same digit
 * skipped. */
static int by_hash(Work *w) {
    enum { BITS = 11, PASSES = 6, BUCKETS = 1 << BITS };
    int32_t m = w->groups;
    uint64_t *ka = PyMem_Malloc((size_t)(m ? m : 1) * 8), *kb = PyMem_Malloc((size_t)(m ? m : 1) * 8);
    int32_t *ia = PyMem_Malloc((size_t)(m ? m : 1) * 4), *ib = PyMem_Malloc((size_t)(m ? m : 1) * 4);
    Py_ssize_t(*cnt)[BUCKETS] = PyMem_Calloc(PASSES, sizeof *cnt);
    int ok = ka && kb && ia && ib && cnt;
    for (int32_t i = 0; ok && i < m; i++) {
        ka[i] = w->g[i].h;
        ia[i] = i;
        for (int q = 0; q < PASSES; q++)
            cnt[q][(ka[i] >> (q * BITS)) & (BUCKETS - 1)]++;
    }
    for (int q = 0; ok && q < PASSES && m > 0; q++) {
        int sh = q * BITS;
        if (cnt[q][(ka[0] >> sh) & (BUCKETS - 1)] == m)
            continue;
        Py_ssize_t sum = 0;
        for (int d = 0; d < BUCKETS; d++) {
            Py_ssize_t t = cnt[q][d];
            cnt[q][d] = sum;
            sum += t;
        }
        for (int32_t i = 0; i < m; i++) {
            Py_ssize_t to = cnt[q][(ka[i] >> sh) & (BUCKETS - 1)]++;
            kb[to] = ka[i];
            ib[to] = ia[i];
        }
        uint64_t *tk = ka;
        ka = kb;
        kb = tk;
        int32_t *ti = ia;
        ia = ib;
        ib = ti;
    }
    PyMem_Free(ka);
    PyMem_Free(kb);
    PyMem_Free(ib);
    PyMem_Free(cnt);
    if (!ok) {
        PyMem_Free(ia);
        return -1;
    }
    w->rank = ia;
    return 0;
}

typedef struct {
    int64_t idle[3];     /* TCP, UDP, other */
    int64_t closed;
    int64_t ending, synmask, syn;
} Cut;

/* Does packet j, not its key's first, start a run (sensor.flow.group._boundaries)? */
static inline int cuts(const Cut *x, const int64_t *const *c, Py_ssize_t j, const Group *g) {
    int64_t fl = c[FLAGS][j], proto = c[PROTO][j];
    int64_t gap = (int64_t)((uint64_t)c[TS][j] - (uint64_t)g->last_ts);
    int64_t idle = proto == 6 ? x->idle[0] : proto == 17 ? x->idle[1] : x->idle[2];
    return gap > idle || (g->seen > 0 && ((fl & x->synmask) == x->syn || gap > x->closed));
}

/* Pass 2, in capture order: each packet's position in `ord` (its group's next), the run it
 * belongs to (a new one at its group's first packet or at a cut), and that run's sums. */
static void cut_and_sum(Work *w, const Cut *x, const int64_t *const *c, const int64_t *sel,
                        int64_t *ord, uint8_t *f) {
    int32_t pos = 0, R = 0;
    for (int32_t r = 0; r < w->groups; r++) {
        Group *g = &w->g[w->rank[r]];
        g->pos = pos;
        pos += g->count;
        g->run = -1;
        g->runs = 0;
        g->seen = 0;
    }
    for (Py_ssize_t i = 0; i < w->n; i++) {
        Py_ssize_t j = sel[i];
        Group *g = &w->g[w->gid[i]];
        int32_t p = g->pos++;
        uint8_t fw = w->fwd[i];
        ord[p] = j;
        f[p] = fw;
        int64_t ts = c[TS][j], fl = c[FLAGS][j];
        if (g->run < 0 || cuts(x, c, j, g)) {
            Run *n = &w->run[R];
            memset(n, 0, sizeof *n);
            n->i0 = (int32_t)i;
            n->grp = w->gid[i];
            n->start = p;
            n->tl = ts;
            g->run = R++;
            g->runs++;
        }
        Run *u = &w->run[g->run];
        uint64_t ln = (uint64_t)c[WLEN][j];
        u->end = p + 1;
        u->bt += ln;
        if (fw) {
            u->nf++;
            u->bf += ln;
            u->ff |= fl;
        } else {
            u->fr |= fl;
        }
        if (ts > u->tl)
            u->tl = ts;
        u->pay |= c[PLLEN][j] > 0;
        g->last_ts = ts;
        if (fl & x->ending)
            g->seen++;
    }
    w->nruns = R;
}

/* The runs' fields, field-major (R_NFIELDS rows of R values), written 32 runs at a time:
 * one value per row at a time would be 24 streams 8*R bytes apart, thrashing the cache. */
static void table(const Work *w, const int64_t *const *c, const int64_t *sel, int64_t *o) {
    enum { B = 32 };
    int64_t blk[R_NFIELDS][B];
    Py_ssize_t R = w->nruns;
    for (Py_ssize_t r0 = 0; r0 < R; r0 += B) {
        int m = R - r0 < B ? (int)(R - r0) : B;
        for (int b = 0; b < m; b++) {
            const Run *u = &w->run[r0 + b];
            const Group *g = &w->g[u->grp];
            Py_ssize_t j = sel[u->i0];
            blk[R_STARTS][b] = u->start;
            blk[R_ENDS][b] = u->end;
            blk[R_TFIRST][b] = c[TS][j];
            blk[R_TLAST][b] = u->tl;
            blk[R_FFLAGS][b] = c[FLAGS][j];
            blk[R_FFWD][b] = w->fwd[u->i0];
            blk[R_NFWD][b] = u->nf;
            blk[R_NREV][b] = (u->end - u->start) - u->nf;
            blk[R_BFWD][b] = (int64_t)u->bf;
            blk[R_BREV][b] = (int64_t)(u->bt - u->bf);
            blk[R_FFWDF][b] = u->ff;
            blk[R_FREVF][b] = u->fr;
            blk[R_PAYLOAD][b] = u->pay;
            blk[R_VLAN][b] = c[VLAN][j];
            blk[R_TUNNEL][b] = c[TUNNEL][j];
            blk[R_PROTO][b] = c[PROTO][j];
            blk[R_SEQ][b] = c[SEQ][j];
            blk[R_PP][b] = g->key[4];
            for (int q = 0; q < 4; q++)
                blk[R_K0 + q][b] = g->key[q];
            blk[R_H][b] = (int64_t)g->h;
            blk[R_SINGLE][b] = g->runs == 1;
        }
        for (int q = 0; q < R_NFIELDS; q++)
            memcpy(o + q * R + r0, blk[q], (size_t)m * sizeof(int64_t));
    }
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

/* A tuple of `count` int64 columns of one length (`rows`), as pointers. */
static int take_cols(PyObject *cols, int count, Views *v, const int64_t **c, Py_ssize_t *rows) {
    if (!PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) != count || count > NCOLS) {
        PyErr_Format(PyExc_ValueError, "a tuple of %d int64 columns is wanted", count);
        return -1;
    }
    for (int q = 0; q < count; q++) {
        Py_buffer *b = &v->view[v->got];
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, q), b, PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        v->got++;
        if (b->len % 8 != 0 || (q > 0 && b->len != v->view[v->got - 1 - q].len)) {
            PyErr_SetString(PyExc_ValueError, "columns must be int64 of the same length");
            return -1;
        }
        c[q] = (const int64_t *)b->buf;
        *rows = b->len / 8;
    }
    return 0;
}

/* The 15 columns and the selection as int64 arrays; bounds checked (bad input is an error,
 * never a read outside a buffer). */
static int take(PyObject *cols, PyObject *selobj, Views *v, const int64_t *c[NCOLS],
                const int64_t **sel, Py_ssize_t *n) {
    Py_ssize_t rows = 0;
    v->got = 0;
    if (take_cols(cols, NCOLS, v, c, &rows) < 0)
        return -1;
    Py_buffer *b = &v->view[v->got];
    if (PyObject_GetBuffer(selobj, b, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    v->got++;
    if (b->len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "sel must be int64");
        return -1;
    }
    *sel = (const int64_t *)b->buf;
    *n = b->len / 8;
    for (Py_ssize_t i = 0; i < *n; i++) {
        if ((*sel)[i] < 0 || (*sel)[i] >= rows) {
            PyErr_SetString(PyExc_IndexError, "selection out of the batch");
            return -1;
        }
    }
    return 0;
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
"idle time. None: two keys share a 64-bit hash, or over 2^30 packets (the caller runs the\n"
"reference, sensor.flow.group._runs_python).");

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
    if (n > INT32_MAX / 2) { /* past 32-bit positions: the reference takes it */
        release(&v);
        Py_RETURN_NONE;
    }
    Work w;
    PyObject *ob = PyBytes_FromStringAndSize(NULL, n * 8), *fb = PyBytes_FromStringAndSize(NULL, n);
    PyObject *tb = NULL, *res = NULL;
    if (work_alloc(&w, n) < 0 || ob == NULL || fb == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (group(c, sel, &w) != 0) {
        res = Py_NewRef(Py_None);
        goto done;
    }
    if (by_hash(&w) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    cut_and_sum(&w, &x, c, sel, (int64_t *)PyBytes_AS_STRING(ob), (uint8_t *)PyBytes_AS_STRING(fb));
    if ((tb = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)w.nruns * R_NFIELDS * 8)) == NULL)
        goto done;
    table(&w, c, sel, (int64_t *)PyBytes_AS_STRING(tb));
    res = Py_BuildValue("(OOOn)", ob, fb, tb, (Py_ssize_t)w.nruns);
done:
    work_free(&w);
    release(&v);
    Py_XDECREF(ob);
    Py_XDECREF(fb);
    Py_XDECREF(tb);
    return res;
}

/* ---------------------------------------------------------------------------------------
 * the pending tier's hash index (sensor.flow.pending.PendingFlows): buckets -> slots, linear
 * probing, -1 empty, -2 a tombstone
 */

#define EMPTY (-1)

PyDoc_STRVAR(index_find_doc,
"index_find(index, rows, query) -> slots\n\n"
"`index`: int32 buckets (a power of 2 of them); `rows`: the tier's h, k0..k3, pp columns\n"
"(int64, by slot); `query`: the same six columns of the keys sought. Returns int64 bytes:\n"
"each key's slot, -1 where it is not in the index. Reference:\n"
"sensor.flow.pending.PendingFlows._find_python.");

static PyObject *index_find(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rows, *query;
    Py_buffer ib;
    if (!PyArg_ParseTuple(args, "y*O!O!", &ib, &PyTuple_Type, &rows, &PyTuple_Type, &query))
        return NULL;
    Views rv = {.got = 0}, qv = {.got = 0};
    const int64_t *r[6], *q[6];
    Py_ssize_t nrows = 0, n = 0, size = ib.len / 4;
    PyObject *out = NULL;
    if (size < 1 || (size & (size - 1)) || ib.len % 4) {
        PyErr_SetString(PyExc_ValueError, "index must be a power of 2 of int32 buckets");
        goto done;
    }
    if (take_cols(rows, 6, &rv, r, &nrows) < 0 || take_cols(query, 6, &qv, q, &n) < 0)
        goto done;
    if ((out = PyBytes_FromStringAndSize(NULL, n * 8)) == NULL)
        goto done;
    const int32_t *index = (const int32_t *)ib.buf;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t b = (Py_ssize_t)((uint64_t)q[0][i] & (uint64_t)(size - 1));
        o[i] = -1;
        for (Py_ssize_t probes = 0; probes < size; probes++, b = (b + 1) & (size - 1)) {
            int32_t s = index[b];
            if (s == EMPTY)
                break;
            if (s < 0)
                continue;
            if (s >= nrows) {
                PyErr_SetString(PyExc_IndexError, "index names a slot past the rows");
                Py_CLEAR(out);
                goto done;
            }
            int same = 1;
            for (int k = 0; k < 6 && same; k++)
                same = r[k][s] == q[k][i];
            if (same) {
                o[i] = s;
                break;
            }
        }
    }
done:
    release(&rv);
    release(&qv);
    PyBuffer_Release(&ib);
    return out;
}

PyDoc_STRVAR(index_place_doc,
"index_place(index, h, slots) -> (buckets, newly_used)\n\n"
"Put `slots` (distinct, absent) into `index` (int32 buckets, a power of 2 of them, written in\n"
"place) by their hash `h[slot]`: rounds in which every slot not yet placed tries its\n"
"bucket and, if that is taken (or taken earlier in the round), the next one. Returns each\n"
"slot's bucket (int64 bytes) and how many of them were empty before (not tombstones).\n"
"Reference: sensor.flow.pending.PendingFlows._place_python.");

/* index_place's rounds: every slot not yet placed tries its bucket; the first to find it
 * free (empty or a tombstone) takes it, the others try the next bucket in the next round.
 * Returns how many buckets were empty before, -1 if the index has no room. */
static Py_ssize_t place_rounds(int32_t *index, Py_ssize_t size, const int64_t *h,
                               const int64_t *slots, Py_ssize_t n, int32_t *todo, uint64_t *at,
                               int64_t *wb) {
    uint64_t mask = (uint64_t)size - 1;
    Py_ssize_t left = n, used = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        todo[i] = (int32_t)i;
        at[i] = (uint64_t)h[slots[i]] & mask;
    }
    for (Py_ssize_t round = 0; left > 0; round++) {
        if (round > size)
            return -1;
        Py_ssize_t k = 0;
        for (Py_ssize_t t = 0; t < left; t++) {
            int32_t i = todo[t];
            uint64_t b = at[i];
            if (index[b] < 0) {
                used += index[b] == EMPTY;
                index[b] = (int32_t)slots[i];
                wb[i] = (int64_t)b;
            } else {
                at[i] = (b + 1) & mask;
                todo[k++] = i;
            }
        }
        left = k;
    }
    return used;
}

static PyObject *index_place(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer ib, hb, sb;
    if (!PyArg_ParseTuple(args, "w*y*y*", &ib, &hb, &sb))
        return NULL;
    Py_ssize_t size = ib.len / 4, nh = hb.len / 8, n = sb.len / 8, used = 0;
    PyObject *out = NULL, *res = NULL;
    int32_t *todo = NULL;
    uint64_t *at = NULL;
    if (size < 1 || (size & (size - 1)) || ib.len % 4 || hb.len % 8 || sb.len % 8) {
        PyErr_SetString(PyExc_ValueError, "index: a power of 2 of int32; h, slots: int64");
        goto done;
    }
    int32_t *index = (int32_t *)ib.buf;
    const int64_t *h = (const int64_t *)hb.buf, *slots = (const int64_t *)sb.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= nh || slots[i] > INT32_MAX) {
            PyErr_SetString(PyExc_IndexError, "slot out of the rows");
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, n * 8);
    todo = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *todo);
    at = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *at);
    if (out == NULL || todo == NULL || at == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    used = place_rounds(index, size, h, slots, n, todo, at, (int64_t *)PyBytes_AS_STRING(out));
    if (used < 0) {
        PyErr_SetString(PyExc_RuntimeError, "index full");
        goto done;
    }
    res = Py_BuildValue("(On)", out, used);
done:
    PyMem_Free(todo);
    PyMem_Free(at);
    Py_XDECREF(out);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&sb);
    return res;
}

static PyMethodDef methods[] = {
    {"runs", runs, METH_VARARGS, runs_doc},
    {"index_find", index_find, METH_VARARGS, index_find_doc},
    {"index_place", index_place, METH_VARARGS, index_place_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sensor._runs",
    "The flow table's batch loops compiled (run grouping, pending index); see sensor/_runs.c.",
    -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__runs(void) { return PyModule_Create(&module); }
