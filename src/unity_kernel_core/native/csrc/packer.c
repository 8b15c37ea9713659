/*
 * Copyright 2026 UnityKernel contributors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * The writer process's hot path: event records of the ring straight into one RESP write of
 * XADD commands, the bytes the Python writer sends for the same records (audit/mirror.py's
 * MirrorWriter._send: XADD <key> <trim args> <ms-seq> topic <t> type <y> tier <T> seq <n>
 * stamp_ns <n> cdr <bytes>, an SADD of a stream key not seen before ahead of its first XADD).
 *
 * Python supplies, once per topic and batch, what goes before the entry ID (the array's
 * "XADD key trim..." elements, already packed, with their count) and what goes ahead of the
 * topic's first XADD (the SADD, or nothing): the key layout and the trimming stay in Python.
 * The field names come from Python too (audit.record.EVENT_FIELDS); their order is the
 * values' order here.
 *
 * Every record is checked (uk_ring_next, uk_event_decode) before a byte of it is used: a
 * damaged ring raises, it never makes this read outside the mapping.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "uk_ring.h"

#define UK_FIELDS 6
#define UK_TOPIC_CACHE 64

typedef struct
{
  PyObject_HEAD
  PyObject * fields[UK_FIELDS];   /* bytes: the field names */
  PyObject * tiers[UK_TIERS];     /* bytes: the tier names */
} PackerObject;

static int packer_init(PackerObject * self, PyObject * args, PyObject * kwds)
{
  static char * kwlist[] = {"fields", "tiers", NULL};
  PyObject * fields, * tiers;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO", kwlist, &fields, &tiers)) {
    return -1;
  }
  PyObject * f = PySequence_Tuple(fields), * t = PySequence_Tuple(tiers);
  if (f == NULL || t == NULL) {
    Py_XDECREF(f);
    Py_XDECREF(t);
    return -1;
  }
  int bad = PyTuple_GET_SIZE(f) != UK_FIELDS || PyTuple_GET_SIZE(t) != UK_TIERS;
  for (Py_ssize_t i = 0; !bad && i < UK_FIELDS; i++) {
    bad = !PyBytes_Check(PyTuple_GET_ITEM(f, i));
  }
  for (Py_ssize_t i = 0; !bad && i < (Py_ssize_t)UK_TIERS; i++) {
    bad = !PyBytes_Check(PyTuple_GET_ITEM(t, i));
  }
  if (bad) {
    Py_DECREF(f);
    Py_DECREF(t);
    PyErr_SetString(PyExc_ValueError, "expected 6 field names and 5 tier names, as bytes");
    return -1;
  }
  for (int i = 0; i < UK_FIELDS; i++) {
    Py_XSETREF(self->fields[i], Py_NewRef(PyTuple_GET_ITEM(f, i)));
  }
  for (unsigned i = 0; i < UK_TIERS; i++) {
    Py_XSETREF(self->tiers[i], Py_NewRef(PyTuple_GET_ITEM(t, i)));
  }
  Py_DECREF(f);
  Py_DECREF(t);
  return 0;
}

static void packer_dealloc(PackerObject * self)
{
  for (int i = 0; i < UK_FIELDS; i++) {
    Py_XDECREF(self->fields[i]);
  }
  for (unsigned i = 0; i < UK_TIERS; i++) {
    Py_XDECREF(self->tiers[i]);
  }
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The ring behind a buffer (the writer's mapping), checked. */
static int ring_of(Py_buffer * view, uk_ring_t * ring)
{
  const char * why = uk_ring_check((uint8_t *)view->buf, (size_t)view->len, ring);
  if (why != NULL) {
    PyErr_SetString(PyExc_ValueError, why);
    return -1;
  }
  return 0;
}

static int ring_damaged(uint64_t pos, uint64_t head)
{
  PyErr_Format(PyExc_ValueError, "ring record at %llu overruns the ring (head %llu)",
    (unsigned long long)pos, (unsigned long long)head);
  return -1;
}

/*
 * scan(buffer, start, max_records, max_bytes) -> (records, next, stop): count the event
 * records after `start` (up to the limits) without copying. stop: 0 limit or end reached,
 * 1 a record that is no event (a dead letter) is next.
 */
static PyObject * packer_scan(PackerObject * self, PyObject * args)
{
  (void)self;
  Py_buffer view;
  unsigned long long start, max_bytes;
  unsigned int max_records;
  if (!PyArg_ParseTuple(args, "y*KIK", &view, &start, &max_records, &max_bytes)) {
    return NULL;
  }
  uk_ring_t ring;
  if (ring_of(&view, &ring) < 0) {
    PyBuffer_Release(&view);
    return NULL;
  }
  uint64_t head = uk_load_word(ring.base, UK_RING_HEAD_AT);
  uint64_t pos = start, bytes = 0;
  unsigned int n = 0;
  int stop = 0, rc = 0;
  while (n < max_records && bytes < max_bytes) {
    const uint8_t * rec;
    uint32_t size;
    uint64_t next;
    rc = uk_ring_next(&ring, head, pos, &rec, &size, &next);
    if (rc <= 0) {
      if (rc == 0) {
        pos = next;
      }
      break;
    }
    if (size == 0 || rec[0] != UK_KIND_EVENT) {
      stop = 1;
      break;
    }
    n++;
    bytes += size;
    pos = next;
  }
  PyBuffer_Release(&view);
  if (rc < 0) {
    ring_damaged(pos, head);
    return NULL;
  }
  return Py_BuildValue("(IKi)", n, (unsigned long long)pos, stop);
}

typedef struct
{
  const uint8_t * topic;
  uint16_t len;
  PyObject * prefix;   /* bytes: packed "XADD key trim..." elements */
  Py_ssize_t argc;     /* how many elements the prefix holds */
  PyObject * extra;    /* bytes: commands ahead of the topic's first XADD (SADD), or b'' */
  int used;            /* extra already emitted in this batch */
} topic_head_t;

static size_t digits(uint64_t v)
{
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

static size_t bulk_size(size_t len)
{
  return 1 + digits(len) + 2 + len + 2;
}

static char * put_bulk(char * out, const void * data, size_t len)
{
  out += sprintf(out, "$%zu\r\n", len);
  if (len) {
    memcpy(out, data, len);
  }
  out += len;
  *out++ = '\r';
  *out++ = '\n';
  return out;
}

static char * put_bulk_u64(char * out, uint64_t v)
{
  char text[24];
  int n = snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
  return put_bulk(out, text, (size_t)n);
}

static topic_head_t * find_head(topic_head_t * heads, int count, const uk_event_t * e)
{
  for (int i = 0; i < count; i++) {
    if (heads[i].len == e->topic_len && memcmp(heads[i].topic, e->topic, e->topic_len) == 0) {
      return &heads[i];
    }
  }
  return NULL;
}

static int fetch_head(PyObject * head_of, const uk_event_t * e, topic_head_t * h)
{
  PyObject * r = PyObject_CallFunction(head_of, "y#", (const char *)e->topic,
      (Py_ssize_t)e->topic_len);
  if (r == NULL) {
    return -1;
  }
  PyObject * prefix, * extra;
  Py_ssize_t argc;
  if (!PyArg_ParseTuple(r, "SnS", &prefix, &argc, &extra) || argc < 1 || argc > 64) {
    if (!PyErr_Occurred()) {
      PyErr_SetString(PyExc_ValueError, "head_of must return (bytes, 1..64, bytes)");
    }
    Py_DECREF(r);
    return -1;
  }
  h->topic = e->topic;
  h->len = e->topic_len;
  h->prefix = Py_NewRef(prefix);
  h->argc = argc;
  h->extra = Py_NewRef(extra);
  h->used = 0;
  Py_DECREF(r);
  return 0;
}

/*
 * pack(buffer, start, max_records, max_bytes, head_of) -> (data, commands, records, next,
 * last_id, last_seq): the RESP write of the event records after `start` (as many as scan
 * counts with the same limits); head_of(topic: bytes) -> (prefix, argc, extra) per topic.
 * last_id is (ms, seq) of the last record, or None when there was none.
 */
static PyObject * packer_pack(PackerObject * self, PyObject * args)
{
  Py_buffer view;
  unsigned long long start, max_bytes;
  unsigned int max_records;
  PyObject * head_of;
  if (!PyArg_ParseTuple(args, "y*KIKO", &view, &start, &max_records, &max_bytes, &head_of)) {
    return NULL;
  }
  PyObject * result = NULL, * data = NULL;
  topic_head_t heads[UK_TOPIC_CACHE];
  int nheads = 0;
  uk_ring_t ring;
  if (ring_of(&view, &ring) < 0) {
    goto done;
  }
  uint64_t head = uk_load_word(ring.base, UK_RING_HEAD_AT);
  size_t fsize[UK_FIELDS];
  for (int i = 0; i < UK_FIELDS; i++) {
    fsize[i] = bulk_size((size_t)PyBytes_GET_SIZE(self->fields[i]));
  }
  /* pass 1: validate, look up the heads, size the write */
  size_t total = 0;
  unsigned int n = 0, commands = 0;
  uint64_t pos = start, bytes = 0;
  while (n < max_records && bytes < max_bytes) {
    const uint8_t * rec;
    uint32_t size;
    uint64_t next;
    int rc = uk_ring_next(&ring, head, pos, &rec, &size, &next);
    if (rc < 0) {
      ring_damaged(pos, head);
      goto done;
    }
    if (rc == 0) {
      pos = next;  /* past skip markers, as scan says */
      break;
    }
    if (size == 0 || rec[0] != UK_KIND_EVENT) {
      break;
    }
    uk_event_t e;
    const char * why = uk_event_decode(rec, size, &e);
    if (why != NULL) {
      PyErr_Format(PyExc_ValueError, "ring record at %llu: %s", (unsigned long long)pos, why);
      goto done;
    }
    topic_head_t * h = find_head(heads, nheads, &e);
    topic_head_t spare;
    if (h == NULL) {
      h = nheads < UK_TOPIC_CACHE ? &heads[nheads] : &spare;
      if (fetch_head(head_of, &e, h) < 0) {
        goto done;
      }
      if (h == &spare) {  /* more topics in one batch than the cache: stop the batch here */
        Py_DECREF(spare.prefix);
        Py_DECREF(spare.extra);
        break;
      }
      nheads++;
    }
    if (!h->used) {
      total += (size_t)PyBytes_GET_SIZE(h->extra);
      commands += PyBytes_GET_SIZE(h->extra) ? 1 : 0;
      h->used = 1;
    }
    size_t argc = (size_t)h->argc + 1 + 2 * UK_FIELDS;
    char id[48];
    int idn = snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long)e.id_ms,
        (unsigned long long)e.id_seq);
    total += 1 + digits(argc) + 2 + (size_t)PyBytes_GET_SIZE(h->prefix) + bulk_size((size_t)idn);
    for (int i = 0; i < UK_FIELDS; i++) {
      total += fsize[i];
    }
    total += bulk_size(e.topic_len) + bulk_size(e.type_len) +
      bulk_size((size_t)PyBytes_GET_SIZE(self->tiers[e.tier])) + bulk_size(digits(e.seq)) +
      bulk_size(digits(e.stamp_ns)) + bulk_size(e.cdr_len);
    commands++;
    n++;
    bytes += size;
    pos = next;
  }
  uint64_t end = pos;
  data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
  if (data == NULL) {
    goto done;
  }
  /* pass 2: write (the records were checked in pass 1 and the producer never rewrites
   * published records, but check again: the mapping is shared) */
  char * out = PyBytes_AS_STRING(data);
  char * limit = out + total;
  for (int i = 0; i < nheads; i++) {
    heads[i].used = 0;
  }
  pos = start;
  uint64_t last_ms = 0, last_idseq = 0, last_seq = 0;
  for (unsigned int k = 0; k < n; k++) {
    const uint8_t * rec;
    uint32_t size;
    uint64_t next;
    uk_event_t e;
    if (uk_ring_next(&ring, head, pos, &rec, &size, &next) != 1 ||
      uk_event_decode(rec, size, &e) != NULL)
    {
      PyErr_SetString(PyExc_ValueError, "ring record changed while it was packed");
      goto done;
    }
    topic_head_t * h = find_head(heads, nheads, &e);
    char id[48];
    int idn = snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long)e.id_ms,
        (unsigned long long)e.id_seq);
    size_t argc = (size_t)h->argc + 1 + 2 * UK_FIELDS;
    size_t need = (h->used ? 0 : (size_t)PyBytes_GET_SIZE(h->extra)) + 1 + digits(argc) + 2 +
      (size_t)PyBytes_GET_SIZE(h->prefix) + bulk_size((size_t)idn) + bulk_size(e.topic_len) +
      bulk_size(e.type_len) + bulk_size((size_t)PyBytes_GET_SIZE(self->tiers[e.tier])) +
      bulk_size(digits(e.seq)) + bulk_size(digits(e.stamp_ns)) + bulk_size(e.cdr_len);
    for (int i = 0; i < UK_FIELDS; i++) {
      need += fsize[i];
    }
    if (need > (size_t)(limit - out)) {
      PyErr_SetString(PyExc_ValueError, "ring record changed while it was packed");
      goto done;
    }
    if (!h->used) {
      memcpy(out, PyBytes_AS_STRING(h->extra), (size_t)PyBytes_GET_SIZE(h->extra));
      out += PyBytes_GET_SIZE(h->extra);
      h->used = 1;
    }
    out += sprintf(out, "*%zu\r\n", argc);
    memcpy(out, PyBytes_AS_STRING(h->prefix), (size_t)PyBytes_GET_SIZE(h->prefix));
    out += PyBytes_GET_SIZE(h->prefix);
    out = put_bulk(out, id, (size_t)idn);
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[0]), PyBytes_GET_SIZE(self->fields[0]));
    out = put_bulk(out, e.topic, e.topic_len);
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[1]), PyBytes_GET_SIZE(self->fields[1]));
    out = put_bulk(out, e.type_name, e.type_len);
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[2]), PyBytes_GET_SIZE(self->fields[2]));
    out = put_bulk(out, PyBytes_AS_STRING(self->tiers[e.tier]),
        (size_t)PyBytes_GET_SIZE(self->tiers[e.tier]));
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[3]), PyBytes_GET_SIZE(self->fields[3]));
    out = put_bulk_u64(out, e.seq);
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[4]), PyBytes_GET_SIZE(self->fields[4]));
    out = put_bulk_u64(out, e.stamp_ns);
    out = put_bulk(out, PyBytes_AS_STRING(self->fields[5]), PyBytes_GET_SIZE(self->fields[5]));
    out = put_bulk(out, e.cdr, e.cdr_len);
    last_ms = e.id_ms;
    last_idseq = e.id_seq;
    last_seq = e.seq;
    pos = next;
  }
  if (out != limit) {
    PyErr_SetString(PyExc_ValueError, "ring record changed while it was packed");
    goto done;
  }
  if (n) {
    result = Py_BuildValue("(OIIK(KK)K)", data, commands, n, (unsigned long long)end,
        (unsigned long long)last_ms, (unsigned long long)last_idseq,
        (unsigned long long)last_seq);
  } else {
    result = Py_BuildValue("(OIIKOK)", data, commands, n, (unsigned long long)end, Py_None,
        0ULL);
  }
done:
  for (int i = 0; i < nheads; i++) {
    Py_DECREF(heads[i].prefix);
    Py_DECREF(heads[i].extra);
  }
  Py_XDECREF(data);
  PyBuffer_Release(&view);
  return result;
}

static PyMethodDef packer_methods[] = {
  {"scan", (PyCFunction)packer_scan, METH_VARARGS,
    "scan(buffer, start, max_records, max_bytes) -> (records, next, stop): count the event "
    "records after start; stop 1: a record that is no event is next."},
  {"pack", (PyCFunction)packer_pack, METH_VARARGS,
    "pack(buffer, start, max_records, max_bytes, head_of) -> (data, commands, records, "
    "next, last_id, last_seq): the event records after start as one RESP write of XADDs."},
  {NULL, NULL, 0, NULL}
};

PyTypeObject uk_PackerType = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "unity_kernel_core.native._core.Packer",
  .tp_basicsize = sizeof(PackerObject),
  .tp_dealloc = (destructor)packer_dealloc,
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "Ring event records to a RESP write of XADD commands (the writer's hot path).",
  .tp_methods = packer_methods,
  .tp_init = (initproc)packer_init,
  .tp_new = PyType_GenericNew,
};

int uk_packer_ready(void)
{
  return PyType_Ready(&uk_PackerType);
}
