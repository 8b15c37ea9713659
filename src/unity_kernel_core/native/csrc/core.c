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
 * unity_kernel_core.native._core: the data path's shared parts, without ROS.
 *
 * - Producer: the kernel's sequence numbers, the audit trail's entry ID clock and the
 *   producing side of the writer ring, under one mutex. The bus takes the mutex (as its
 *   sequence lock) around numbering an event and running its taps; the native intake threads
 *   take it around numbering a message and writing it into the ring. So the ring holds the
 *   events in sequence order whoever published them, and the entry IDs follow that order.
 * - Handoff: a bounded queue per tier carrying messages from the native intake threads to the
 *   interpreter (only those of topics an in-process subscriber wants).
 * - Packer: the writer process's hot path (ring records to one RESP batch of XADDs).
 *
 * The mutex is recursive (a tap may publish a dead letter). Python threads wait for it with
 * the GIL released; native threads never take the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uk_core.h"
#include "uk_ring.h"

/* ---- producer ------------------------------------------------------------------------ */

static void uk_lock(uk_producer_t * p)
{
  pthread_mutex_lock(&p->mu);
  p->owner = pthread_self();
  p->depth++;
}

static void uk_unlock(uk_producer_t * p)
{
  if (--p->depth == 0) {
    p->owner = (pthread_t)0;
  }
  pthread_mutex_unlock(&p->mu);
}

static int uk_held(uk_producer_t * p)
{
  /* only the owner can see its own id here while it holds the mutex */
  return p->depth > 0 && pthread_equal(p->owner, pthread_self());
}

/* Take the mutex from a Python thread: without the GIL while it waits. */
static void uk_lock_py(uk_producer_t * p)
{
  if (pthread_mutex_trylock(&p->mu) == 0) {
    p->owner = pthread_self();
    p->depth++;
    return;
  }
  Py_BEGIN_ALLOW_THREADS
  uk_lock(p);
  Py_END_ALLOW_THREADS
}

static uint64_t uk_next_seq(uk_producer_t * p)
{
  return ++p->seq;
}

static void uk_issue_id(uk_producer_t * p, uint64_t stamp_ns, uint64_t seq, uint64_t * ms,
  uint64_t * id_seq)
{
  uint64_t cms = stamp_ns / 1000000u, cseq = seq;
  if (cms < p->id_ms || (cms == p->id_ms && cseq <= p->id_seq)) {
    cms = p->id_ms;
    cseq = p->id_seq + 1;
  }
  p->id_ms = cms;
  p->id_seq = cseq;
  *ms = cms;
  *id_seq = cseq;
}

/*
 * Write one event record (lock held). Returns 1 written, 0 no room now, -1 never fits
 * (larger than the ring or a length field) or no ring attached.
 */
static int uk_put_event(uk_producer_t * p, uint8_t tier, const uint8_t * topic, size_t tl,
  const uint8_t * type_name, size_t yl, uint64_t seq, uint64_t stamp_ns, const uint8_t * cdr,
  size_t cl)
{
  if (!p->attached || tier >= UK_TIERS) {
    return -1;
  }
  uint64_t size = (uint64_t)UK_EVENT_HEAD + tl + yl + cl;
  if (tl > 0xFFFFu || yl > 0xFFFFu || cl > 0xFFFFFFFEu || size >= UK_RING_SKIP ||
    size + 4 > p->ring.cap)
  {
    return -1;  /* the caller counts it (the Python tap in its counters) */
  }
  uint64_t skip, pos;
  if (uk_ring_room(&p->ring, p->head, size + 4, &skip, &pos) != 0) {
    p->head = uk_ring_wrap(&p->ring, p->head, size + 4);
    return 0;
  }
  uint64_t ms, id_seq;
  uk_issue_id(p, stamp_ns, seq, &ms, &id_seq);
  uint8_t * rec = p->ring.base + UK_RING_HEADER + pos + 4;
  uk_event_head(rec, tier, (uint16_t)tl, (uint16_t)yl, (uint32_t)cl, seq, stamp_ns, ms, id_seq);
  memcpy(rec + UK_EVENT_HEAD, topic, tl);
  memcpy(rec + UK_EVENT_HEAD + tl, type_name, yl);
  if (cl) {
    memcpy(rec + UK_EVENT_HEAD + tl + yl, cdr, cl);
  }
  p->head = uk_ring_commit(&p->ring, p->head, skip, pos, (uint32_t)size);
  p->stats.records++;
  return 1;
}

/* Write one record of raw bytes (lock held); as uk_put_event. */
static int uk_put_raw(uk_producer_t * p, const uint8_t * data, size_t n)
{
  if (!p->attached) {
    return -1;
  }
  if ((uint64_t)n >= UK_RING_SKIP || (uint64_t)n + 4 > p->ring.cap) {
    return -1;
  }
  uint64_t skip, pos;
  if (uk_ring_room(&p->ring, p->head, (uint64_t)n + 4, &skip, &pos) != 0) {
    p->head = uk_ring_wrap(&p->ring, p->head, (uint64_t)n + 4);
    return 0;
  }
  if (n) {
    memcpy(p->ring.base + UK_RING_HEADER + pos + 4, data, n);
  }
  p->head = uk_ring_commit(&p->ring, p->head, skip, pos, (uint32_t)n);
  p->stats.records++;
  return 1;
}

/* ---- Producer objects ---------------------------------------------------------------- */

typedef struct
{
  PyObject_HEAD
  uk_producer_t p;
  Py_buffer view;     /* the ring's mapping while attached (keeps it mapped) */
} ProducerObject;

typedef struct
{
  PyObject_HEAD
  ProducerObject * producer;
} LockObject;

static PyTypeObject ProducerType;
static PyTypeObject LockType;

static PyObject * Lock_acquire(LockObject * self, PyObject * Py_UNUSED(ignored))
{
  uk_lock_py(&self->producer->p);
  Py_RETURN_TRUE;
}

static PyObject * Lock_release(LockObject * self, PyObject * Py_UNUSED(ignored))
{
  uk_producer_t * p = &self->producer->p;
  if (!uk_held(p)) {
    PyErr_SetString(PyExc_RuntimeError, "release of a producer lock this thread does not hold");
    return NULL;
  }
  uk_unlock(p);
  Py_RETURN_NONE;
}

static PyObject * Lock_exit(LockObject * self, PyObject * args)
{
  (void)args;
  return Lock_release(self, NULL);
}

static PyObject * Lock_held(LockObject * self, PyObject * Py_UNUSED(ignored))
{
  return PyBool_FromLong(uk_held(&self->producer->p));
}

static void Lock_dealloc(LockObject * self)
{
  Py_XDECREF(self->producer);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Lock_methods[] = {
  {"acquire", (PyCFunction)Lock_acquire, METH_NOARGS,
    "Take the lock (waiting without the GIL); recursive."},
  {"release", (PyCFunction)Lock_release, METH_NOARGS, "Give the lock back."},
  {"__enter__", (PyCFunction)Lock_acquire, METH_NOARGS, "Take the lock."},
  {"__exit__", (PyCFunction)Lock_exit, METH_VARARGS, "Give the lock back."},
  {"held", (PyCFunction)Lock_held, METH_NOARGS, "Tell whether this thread holds the lock."},
  {NULL, NULL, 0, NULL}
};

static PyTypeObject LockType = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "unity_kernel_core.native._core.ProducerLock",
  .tp_basicsize = sizeof(LockObject),
  .tp_dealloc = (destructor)Lock_dealloc,
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "The producer's mutex, as a recursive lock (the bus's sequence lock).",
  .tp_methods = Lock_methods,
};

static PyObject * Producer_new(PyTypeObject * type, PyObject * args, PyObject * kwds)
{
  static char * kwlist[] = {NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) {
    return NULL;
  }
  ProducerObject * self = (ProducerObject *)type->tp_alloc(type, 0);
  if (self == NULL) {
    return NULL;
  }
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&self->p.mu, &attr);
  pthread_mutexattr_destroy(&attr);
  return (PyObject *)self;
}

static void Producer_dealloc(ProducerObject * self)
{
  if (self->p.attached) {
    PyBuffer_Release(&self->view);
    self->p.attached = 0;
  }
  pthread_mutex_destroy(&self->p.mu);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject * Producer_get_lock(ProducerObject * self, void * closure)
{
  (void)closure;
  /* a new lock object each time, holding the producer (no reference cycle) */
  LockObject * lock = PyObject_New(LockObject, &LockType);
  if (lock == NULL) {
    return NULL;
  }
  Py_INCREF(self);
  lock->producer = self;
  return (PyObject *)lock;
}

static PyObject * Producer_next(ProducerObject * self, PyObject * Py_UNUSED(ignored))
{
  if (!uk_held(&self->p)) {
    PyErr_SetString(PyExc_RuntimeError, "Producer.next() needs the producer's lock");
    return NULL;
  }
  return PyLong_FromUnsignedLongLong(uk_next_seq(&self->p));
}

static PyObject * Producer_get_last(ProducerObject * self, void * closure)
{
  (void)closure;
  return PyLong_FromUnsignedLongLong(__atomic_load_n(&self->p.seq, __ATOMIC_RELAXED));
}

static PyObject * Producer_set_next(ProducerObject * self, PyObject * arg)
{
  unsigned long long next = PyLong_AsUnsignedLongLong(arg);
  if (PyErr_Occurred()) {
    return NULL;
  }
  if (next == 0) {
    PyErr_SetString(PyExc_ValueError, "the next sequence number must be >= 1");
    return NULL;
  }
  uk_lock_py(&self->p);
  if (next - 1 < self->p.seq) {
    unsigned long long last = self->p.seq;
    uk_unlock(&self->p);
    PyErr_Format(PyExc_ValueError, "sequence can only move forward (%llu -> %llu)", last,
      next - 1);
    return NULL;
  }
  self->p.seq = next - 1;
  uk_unlock(&self->p);
  Py_RETURN_NONE;
}

static int parse_id(PyObject * pair, uint64_t * ms, uint64_t * seq)
{
  unsigned long long a, b;
  if (!PyArg_ParseTuple(pair, "KK", &a, &b)) {
    return -1;
  }
  *ms = a;
  *seq = b;
  return 0;
}

static void advance_clock(uk_producer_t * p, uint64_t ms, uint64_t seq)
{
  if (ms > p->id_ms || (ms == p->id_ms && seq > p->id_seq)) {
    p->id_ms = ms;
    p->id_seq = seq;
  }
}

static PyObject * Producer_attach(ProducerObject * self, PyObject * args)
{
  PyObject * buffer, * last = NULL;
  if (!PyArg_ParseTuple(args, "O|O", &buffer, &last)) {
    return NULL;
  }
  uint64_t ms = 0, seq = 0;
  if (last != NULL && last != Py_None) {
    PyObject * pair = PySequence_Tuple(last);
    if (pair == NULL) {
      return NULL;
    }
    int bad = parse_id(pair, &ms, &seq);
    Py_DECREF(pair);
    if (bad) {
      return NULL;
    }
  }
  Py_buffer view;
  if (PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
    return NULL;
  }
  uk_ring_t ring;
  const char * why = uk_ring_check((uint8_t *)view.buf, (size_t)view.len, &ring);
  if (why != NULL) {
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_ValueError, why);
    return NULL;
  }
  uk_lock_py(&self->p);
  if (self->p.attached) {
    uk_unlock(&self->p);
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_RuntimeError, "the producer is attached to a ring already");
    return NULL;
  }
  self->view = view;
  self->p.ring = ring;
  self->p.head = uk_load_word(ring.base, UK_RING_HEAD_AT);
  advance_clock(&self->p, ms, seq);
  self->p.attached = 1;
  self->p.stopping = 0;
  uk_unlock(&self->p);
  Py_RETURN_NONE;
}

static PyObject * Producer_detach(ProducerObject * self, PyObject * Py_UNUSED(ignored))
{
  uk_lock_py(&self->p);
  int was = self->p.attached;
  self->p.attached = 0;
  uk_unlock(&self->p);
  if (was) {
    PyBuffer_Release(&self->view);
  }
  return PyBool_FromLong(was);
}

static PyObject * Producer_get_attached(ProducerObject * self, void * closure)
{
  (void)closure;
  return PyBool_FromLong(self->p.attached);
}

static PyObject * Producer_put_event(ProducerObject * self, PyObject * args)
{
  int tier;
  Py_buffer topic, type_name, cdr;
  unsigned long long seq, stamp_ns;
  if (!PyArg_ParseTuple(args, "iy*y*KKy*", &tier, &topic, &type_name, &seq, &stamp_ns,
    &cdr))
  {
    return NULL;
  }
  int rc;
  if (tier < 0 || tier >= (int)UK_TIERS) {
    PyErr_Format(PyExc_ValueError, "tier %d is not 0..4", tier);
    rc = -2;
  } else {
    uk_lock_py(&self->p);
    rc = uk_put_event(&self->p, (uint8_t)tier, topic.buf, (size_t)topic.len, type_name.buf,
        (size_t)type_name.len, seq, stamp_ns, cdr.buf, (size_t)cdr.len);
    uk_unlock(&self->p);
  }
  PyBuffer_Release(&topic);
  PyBuffer_Release(&type_name);
  PyBuffer_Release(&cdr);
  if (rc == -2) {
    return NULL;
  }
  return PyLong_FromLong(rc);
}

static PyObject * Producer_put_record(ProducerObject * self, PyObject * args)
{
  Py_buffer data;
  if (!PyArg_ParseTuple(args, "y*", &data)) {
    return NULL;
  }
  uk_lock_py(&self->p);
  int rc = uk_put_raw(&self->p, data.buf, (size_t)data.len);
  uk_unlock(&self->p);
  PyBuffer_Release(&data);
  return PyLong_FromLong(rc);
}

static PyObject * Producer_advance_clock(ProducerObject * self, PyObject * args)
{
  PyObject * pair;
  if (!PyArg_ParseTuple(args, "O", &pair)) {
    return NULL;
  }
  PyObject * t = PySequence_Tuple(pair);
  if (t == NULL) {
    return NULL;
  }
  uint64_t ms, seq;
  int bad = parse_id(t, &ms, &seq);
  Py_DECREF(t);
  if (bad) {
    return NULL;
  }
  uk_lock_py(&self->p);
  advance_clock(&self->p, ms, seq);
  uk_unlock(&self->p);
  Py_RETURN_NONE;
}

static PyObject * Producer_get_last_id(ProducerObject * self, void * closure)
{
  (void)closure;
  uk_lock_py(&self->p);
  uint64_t ms = self->p.id_ms, seq = self->p.id_seq;
  uk_unlock(&self->p);
  return Py_BuildValue("(KK)", (unsigned long long)ms, (unsigned long long)seq);
}

static PyObject * Producer_set_stopping(ProducerObject * self, PyObject * arg)
{
  int value = PyObject_IsTrue(arg);
  if (value < 0) {
    return NULL;
  }
  __atomic_store_n(&self->p.stopping, value, __ATOMIC_RELEASE);
  Py_RETURN_NONE;
}

static PyObject * tier_list(const uint64_t * values)
{
  PyObject * list = PyList_New(UK_TIERS);
  if (list == NULL) {
    return NULL;
  }
  for (unsigned i = 0; i < UK_TIERS; i++) {
    PyObject * v = PyLong_FromUnsignedLongLong(values[i]);
    if (v == NULL) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, i, v);
  }
  return list;
}

static PyObject * Producer_stats(ProducerObject * self, PyObject * Py_UNUSED(ignored))
{
  uk_lock_py(&self->p);
  uk_producer_stats_t s = self->p.stats;
  uk_unlock(&self->p);
  PyObject * full = tier_list(s.ring_full), * large = tier_list(s.too_large);
  if (full == NULL || large == NULL) {
    Py_XDECREF(full);
    Py_XDECREF(large);
    return NULL;
  }
  return Py_BuildValue("{sKsNsNsKsKsK}", "records", (unsigned long long)s.records,
           "ring_full", full, "too_large", large,
           "critical_waits", (unsigned long long)s.critical_waits,
           "one_copy", (unsigned long long)s.one_copy,
           "two_copies", (unsigned long long)s.two_copies);
}

static PyMethodDef Producer_methods[] = {
  {"next", (PyCFunction)Producer_next, METH_NOARGS,
    "Return the next sequence number (the lock held)."},
  {"set_next", (PyCFunction)Producer_set_next, METH_O,
    "Continue numbering at the given sequence number (forward only)."},
  {"attach", (PyCFunction)Producer_attach, METH_VARARGS,
    "Produce into the ring mapped by a writable buffer; seed the ID clock with (ms, seq)."},
  {"detach", (PyCFunction)Producer_detach, METH_NOARGS,
    "Stop producing into the ring (releases the buffer); return whether it was attached."},
  {"put_event", (PyCFunction)Producer_put_event, METH_VARARGS,
    "put_event(tier, topic, type_name, seq, stamp_ns, cdr): write an event record with its "
    "entry ID; 1 written, 0 no room now, -1 never fits or no ring."},
  {"put_record", (PyCFunction)Producer_put_record, METH_VARARGS,
    "Write one record of raw bytes; as put_event."},
  {"advance_clock", (PyCFunction)Producer_advance_clock, METH_VARARGS,
    "Never issue an entry ID at or below (ms, seq)."},
  {"set_stopping", (PyCFunction)Producer_set_stopping, METH_O,
    "Tell native threads waiting for room for a CRITICAL record to give up (True)."},
  {"stats", (PyCFunction)Producer_stats, METH_NOARGS, "Return the counters."},
  {NULL, NULL, 0, NULL}
};

static PyGetSetDef Producer_getset[] = {
  {"lock", (getter)Producer_get_lock, NULL, "The producer's recursive lock.", NULL},
  {"last", (getter)Producer_get_last, NULL, "The last sequence number issued.", NULL},
  {"attached", (getter)Producer_get_attached, NULL, "Whether a ring is attached.", NULL},
  {"last_id", (getter)Producer_get_last_id, NULL, "The last entry ID issued (ms, seq).",
    NULL},
  {NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject ProducerType = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "unity_kernel_core.native._core.Producer",
  .tp_basicsize = sizeof(ProducerObject),
  .tp_dealloc = (destructor)Producer_dealloc,
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "Sequence numbers, entry IDs and the writer ring's producing side.",
  .tp_methods = Producer_methods,
  .tp_getset = Producer_getset,
  .tp_new = Producer_new,
};

/* ---- hand-off -------------------------------------------------------------------------- */

static void deadline_after(struct timespec * ts, int64_t ns)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ns / 1000000000;
  ts->tv_nsec += ns % 1000000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

static void handoff_init(uk_handoff_t * h, int policy, uint64_t max_n, uint64_t max_bytes,
  int64_t block_timeout_ns)
{
  pthread_mutex_init(&h->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&h->nonempty, &attr);
  pthread_cond_init(&h->nonfull, &attr);
  pthread_condattr_destroy(&attr);
  h->policy = policy;
  h->max_n = max_n;
  h->max_bytes = max_bytes;
  h->block_timeout_ns = block_timeout_ns;
}

static uk_item_t * handoff_pop(uk_handoff_t * h)
{
  uk_item_t * it = h->first;
  if (it != NULL) {
    h->first = it->next;
    if (h->first == NULL) {
      h->last = NULL;
    }
    h->n--;
    h->bytes -= it->len;
  }
  return it;
}

static int handoff_full(uk_handoff_t * h, uint32_t len)
{
  return h->n >= h->max_n || h->bytes + len > h->max_bytes;
}

/* Queue an item (a native thread, no GIL); 1 queued, 0 dropped (the item freed). */
static int handoff_enqueue(uk_handoff_t * h, uk_item_t * it)
{
  uint32_t len = it->len;
  it->next = NULL;
  pthread_mutex_lock(&h->mu);
  if (h->closed || (uint64_t)len > h->max_bytes) {
    h->dropped++;
    pthread_mutex_unlock(&h->mu);
    free(it);
    return 0;
  }
  if (handoff_full(h, len)) {
    if (h->policy == UK_POLICY_DROP_NEWEST) {
      h->dropped++;
      pthread_mutex_unlock(&h->mu);
      free(it);
      return 0;
    }
    if (h->policy == UK_POLICY_DROP_OLDEST) {
      while (handoff_full(h, len) && h->first != NULL) {
        free(handoff_pop(h));
        h->dropped++;
      }
    } else {
      struct timespec until;
      if (h->block_timeout_ns >= 0) {
        deadline_after(&until, h->block_timeout_ns);
      }
      h->blocked++;
      while (handoff_full(h, len) && !h->closed) {
        if (h->block_timeout_ns >= 0) {
          if (pthread_cond_timedwait(&h->nonfull, &h->mu, &until) == ETIMEDOUT) {
            break;
          }
        } else {
          struct timespec slice;  /* look at `closed` now and then */
          deadline_after(&slice, 100000000);
          pthread_cond_timedwait(&h->nonfull, &h->mu, &slice);
        }
      }
      if (handoff_full(h, len) || h->closed) {
        h->dropped++;
        pthread_mutex_unlock(&h->mu);
        free(it);
        return 0;
      }
    }
  }
  if (h->last != NULL) {
    h->last->next = it;
  } else {
    h->first = it;
  }
  h->last = it;
  h->n++;
  h->bytes += len;
  h->pushed++;
  if (h->waiting) {
    pthread_cond_signal(&h->nonempty);
  }
  pthread_mutex_unlock(&h->mu);
  return 1;
}

/* Queue a copy of one message; as handoff_enqueue. */
static int handoff_push(uk_handoff_t * h, uint32_t sub, uint64_t seq, uint64_t stamp_ns,
  uint64_t mono_ns, const uint8_t * data, uint32_t len)
{
  uk_item_t * it = (uint64_t)len <= h->max_bytes ? malloc(sizeof(uk_item_t) + len) : NULL;
  if (it == NULL) {
    pthread_mutex_lock(&h->mu);
    h->dropped++;
    pthread_mutex_unlock(&h->mu);
    return 0;
  }
  it->sub = sub;
  it->seq = seq;
  it->stamp_ns = stamp_ns;
  it->mono_ns = mono_ns;
  it->len = len;
  if (len) {
    memcpy(it->data, data, len);
  }
  return handoff_enqueue(h, it);
}

typedef struct
{
  PyObject_HEAD
  uk_handoff_t h;
} HandoffObject;

static PyTypeObject HandoffType;

static PyObject * Handoff_new(PyTypeObject * type, PyObject * args, PyObject * kwds)
{
  static char * kwlist[] = {"policy", "max_events", "max_bytes", "block_timeout_s", NULL};
  int policy;
  unsigned long long max_n, max_bytes;
  double block_timeout_s = -1.0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "iKK|d", kwlist, &policy, &max_n,
    &max_bytes, &block_timeout_s))
  {
    return NULL;
  }
  if (policy < UK_POLICY_BLOCK || policy > UK_POLICY_DROP_NEWEST || max_n == 0 ||
    max_bytes == 0 || block_timeout_s > 1e9)
  {
    PyErr_SetString(PyExc_ValueError, "policy 0..2, max_events and max_bytes >= 1, "
      "block_timeout_s < 1e9 (or < 0: no timeout)");
    return NULL;
  }
  HandoffObject * self = (HandoffObject *)type->tp_alloc(type, 0);
  if (self == NULL) {
    return NULL;
  }
  handoff_init(&self->h, policy, max_n, max_bytes,
    block_timeout_s < 0 ? -1 : (int64_t)(block_timeout_s * 1e9));
  return (PyObject *)self;
}

static void Handoff_dealloc(HandoffObject * self)
{
  uk_item_t * it;
  while ((it = handoff_pop(&self->h)) != NULL) {
    free(it);
  }
  pthread_mutex_destroy(&self->h.mu);
  pthread_cond_destroy(&self->h.nonempty);
  pthread_cond_destroy(&self->h.nonfull);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject * Handoff_push(HandoffObject * self, PyObject * args)
{
  unsigned int sub;
  unsigned long long seq, stamp_ns, mono_ns;
  Py_buffer data;
  if (!PyArg_ParseTuple(args, "IKKKy*", &sub, &seq, &stamp_ns, &mono_ns, &data)) {
    return NULL;
  }
  if ((uint64_t)data.len > 0xFFFFFFFEu) {
    PyBuffer_Release(&data);
    PyErr_SetString(PyExc_ValueError, "message larger than 4 GiB");
    return NULL;
  }
  int ok;
  Py_BEGIN_ALLOW_THREADS
  ok = handoff_push(&self->h, sub, seq, stamp_ns, mono_ns, data.buf, (uint32_t)data.len);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&data);
  return PyBool_FromLong(ok);
}

/* Take up to max_n items: wait up to timeout for the first, then nap `window` once for more. */
static PyObject * Handoff_take(HandoffObject * self, PyObject * args)
{
  unsigned int max_n;
  double timeout_s, window_s = 0.0;
  if (!PyArg_ParseTuple(args, "Id|d", &max_n, &timeout_s, &window_s)) {
    return NULL;
  }
  if (max_n == 0 || max_n > 65536 || !(timeout_s >= 0 && timeout_s <= 3600) ||
    !(window_s >= 0 && window_s <= 1.0))
  {
    PyErr_SetString(PyExc_ValueError, "max_n 1..65536, timeout_s 0..3600, window_s 0..1");
    return NULL;
  }
  uk_handoff_t * h = &self->h;
  uk_item_t * got = NULL, * got_last = NULL;
  unsigned int n = 0;
  Py_BEGIN_ALLOW_THREADS
  pthread_mutex_lock(&h->mu);
  if (h->first == NULL && !h->closed && timeout_s > 0) {
    struct timespec until;
    deadline_after(&until, (int64_t)(timeout_s * 1e9));
    h->waiting = 1;
    while (h->first == NULL && !h->closed) {
      if (pthread_cond_timedwait(&h->nonempty, &h->mu, &until) == ETIMEDOUT) {
        break;
      }
    }
    h->waiting = 0;
  }
  for (int round = 0; round < 2; round++) {
    while (n < max_n && h->first != NULL) {
      uk_item_t * it = handoff_pop(h);
      it->next = NULL;
      if (got_last != NULL) {
        got_last->next = it;
      } else {
        got = it;
      }
      got_last = it;
      n++;
    }
    if (n) {
      h->taken += n;
      pthread_cond_broadcast(&h->nonfull);
    }
    if (round == 0 && n > 0 && n < max_n && window_s > 0 && !h->closed) {
      /* nap once: what arrives meanwhile wakes nobody (one wake-up per window) */
      pthread_mutex_unlock(&h->mu);
      struct timespec nap = {(time_t)window_s, (long)((window_s - (time_t)window_s) * 1e9)};
      nanosleep(&nap, NULL);
      pthread_mutex_lock(&h->mu);
    } else {
      break;
    }
  }
  pthread_mutex_unlock(&h->mu);
  Py_END_ALLOW_THREADS
  PyObject * out = PyList_New(n);
  unsigned int i = 0;
  while (got != NULL) {
    uk_item_t * it = got;
    got = it->next;
    if (out != NULL) {
      PyObject * t = Py_BuildValue("(IKKKy#)", it->sub, (unsigned long long)it->seq,
          (unsigned long long)it->stamp_ns, (unsigned long long)it->mono_ns,
          (const char *)it->data, (Py_ssize_t)it->len);
      if (t == NULL) {
        Py_CLEAR(out);
      } else {
        PyList_SET_ITEM(out, i, t);
      }
    }
    i++;
    free(it);
  }
  return out;
}

static PyObject * Handoff_close(HandoffObject * self, PyObject * Py_UNUSED(ignored))
{
  pthread_mutex_lock(&self->h.mu);
  self->h.closed = 1;
  pthread_cond_broadcast(&self->h.nonempty);
  pthread_cond_broadcast(&self->h.nonfull);
  pthread_mutex_unlock(&self->h.mu);
  Py_RETURN_NONE;
}

static PyObject * Handoff_stats(HandoffObject * self, PyObject * Py_UNUSED(ignored))
{
  uk_handoff_t * h = &self->h;
  pthread_mutex_lock(&h->mu);
  unsigned long long v[7] = {h->n, h->bytes, h->pushed, h->dropped, h->taken, h->blocked,
    (unsigned long long)h->closed};
  pthread_mutex_unlock(&h->mu);
  return Py_BuildValue("{sKsKsKsKsKsKsO}", "depth", v[0], "bytes", v[1], "pushed", v[2],
           "dropped", v[3], "taken", v[4], "blocked", v[5], "closed",
           v[6] ? Py_True : Py_False);
}

static Py_ssize_t Handoff_len(HandoffObject * self)
{
  pthread_mutex_lock(&self->h.mu);
  Py_ssize_t n = (Py_ssize_t)self->h.n;
  pthread_mutex_unlock(&self->h.mu);
  return n;
}

static PySequenceMethods Handoff_as_sequence = {
  .sq_length = (lenfunc)Handoff_len,
};

static PyMethodDef Handoff_methods[] = {
  {"push", (PyCFunction)Handoff_push, METH_VARARGS,
    "push(sub, seq, stamp_ns, mono_ns, data): queue a copy (as a native thread does); "
    "return False when dropped."},
  {"take", (PyCFunction)Handoff_take, METH_VARARGS,
    "take(max_n, timeout_s, window_s=0): up to max_n (sub, seq, stamp_ns, mono_ns, bytes), "
    "waiting up to timeout_s for the first (without the GIL), then once window_s for more."},
  {"close", (PyCFunction)Handoff_close, METH_NOARGS,
    "Refuse new items and wake every waiter."},
  {"stats", (PyCFunction)Handoff_stats, METH_NOARGS, "Return the counters."},
  {NULL, NULL, 0, NULL}
};

static PyTypeObject HandoffType = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "unity_kernel_core.native._core.Handoff",
  .tp_basicsize = sizeof(HandoffObject),
  .tp_dealloc = (destructor)Handoff_dealloc,
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "A bounded queue of messages from native threads to the interpreter (one tier).",
  .tp_methods = Handoff_methods,
  .tp_as_sequence = &Handoff_as_sequence,
  .tp_new = Handoff_new,
};

/* ---- the C API for _rcl -------------------------------------------------------------- */

static uk_producer_t * api_producer_of(PyObject * obj)
{
  if (!PyObject_TypeCheck(obj, &ProducerType)) {
    PyErr_SetString(PyExc_TypeError, "expected a unity_kernel_core.native._core.Producer");
    return NULL;
  }
  return &((ProducerObject *)obj)->p;
}

static uk_handoff_t * api_handoff_of(PyObject * obj)
{
  if (!PyObject_TypeCheck(obj, &HandoffType)) {
    PyErr_SetString(PyExc_TypeError, "expected a unity_kernel_core.native._core.Handoff");
    return NULL;
  }
  return &((HandoffObject *)obj)->h;
}

static const uk_core_api_t core_api = {
  .version = UK_CORE_API_VERSION,
  .producer_of = api_producer_of,
  .handoff_of = api_handoff_of,
  .lock = uk_lock,
  .unlock = uk_unlock,
  .next_seq = uk_next_seq,
  .issue_id = uk_issue_id,
  .handoff_enqueue = handoff_enqueue,
};

/* the packer (the writer process's hot path) lives in packer.c */
extern PyTypeObject uk_PackerType;
int uk_packer_ready(void);

static struct PyModuleDef core_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "unity_kernel_core.native._core",
  .m_doc = "The native data path's shared parts: producer, hand-off, packer (no ROS).",
  .m_size = -1,
};

PyMODINIT_FUNC PyInit__core(void)
{
  if (PyType_Ready(&LockType) < 0 || PyType_Ready(&ProducerType) < 0 ||
    PyType_Ready(&HandoffType) < 0 || uk_packer_ready() < 0)
  {
    return NULL;
  }
  PyObject * m = PyModule_Create(&core_module);
  if (m == NULL) {
    return NULL;
  }
  PyObject * capsule = PyCapsule_New((void *)&core_api, UK_CORE_CAPSULE, NULL);
  if (PyModule_AddObjectRef(m, "Producer", (PyObject *)&ProducerType) < 0 ||
    PyModule_AddObjectRef(m, "Handoff", (PyObject *)&HandoffType) < 0 ||
    PyModule_AddObjectRef(m, "Packer", (PyObject *)&uk_PackerType) < 0 ||
    capsule == NULL || PyModule_AddObject(m, "_C_API", capsule) < 0 ||
    PyModule_AddIntConstant(m, "POLICY_BLOCK", UK_POLICY_BLOCK) < 0 ||
    PyModule_AddIntConstant(m, "POLICY_DROP_OLDEST", UK_POLICY_DROP_OLDEST) < 0 ||
    PyModule_AddIntConstant(m, "POLICY_DROP_NEWEST", UK_POLICY_DROP_NEWEST) < 0 ||
    PyModule_AddIntConstant(m, "EVENT_HEAD", UK_EVENT_HEAD) < 0)
  {
    Py_XDECREF(capsule);
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
